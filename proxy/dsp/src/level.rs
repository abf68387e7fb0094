//! Signal levels in dBm0, the unit every DTMF requirement is written in.
//!
//! The reference is the one spandsp and G.711 share: a sine whose peak is 3.14 dB below full
//! scale of a 16-bit linear sample is 0 dBm0 (G.711's digital milliwatt decodes to within 0.05 dB
//! of it for both laws).

/// dB above 0 dBm0 of a full-scale 16-bit sine (peak 32767).
#[allow(clippy::approx_constant)] // 3.14 dB, not π
pub const DBM0_MAX_SINE: f64 = 3.14;

/// Mean power (mean square, 16-bit linear units) of a 0 dBm0 signal.
pub const DBM0_REF_POWER: f64 = {
    // 32767 · 10^(−3.14/20), squared, halved: a sine's mean square is peak²/2.
    let peak = 32767.0 * 0.696_626_8;
    peak * peak / 2.0
};

/// Peak amplitude of a sine at `dbm0`.
pub fn sine_amplitude(dbm0: f64) -> f64 {
    (2.0 * DBM0_REF_POWER * 10f64.powf(dbm0 / 10.0)).sqrt()
}

/// Level in dBm0 of a signal with mean square `power`.
pub fn power_to_dbm0(power: f64) -> f64 {
    10.0 * (power.max(1e-12) / DBM0_REF_POWER).log10()
}

/// Mean square that a signal at `dbm0` has.
pub fn dbm0_to_power(dbm0: f64) -> f64 {
    DBM0_REF_POWER * 10f64.powf(dbm0 / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_matches_spandsp_convention() {
        let peak = 32767.0 * 10f64.powf(-DBM0_MAX_SINE / 20.0);
        assert!((sine_amplitude(0.0) - peak).abs() < 0.5);
        assert!((power_to_dbm0(dbm0_to_power(-25.0)) + 25.0).abs() < 1e-9);
    }
}
