//! The ITU-T G.107 E-model: the transmission rating R of a narrowband connection from its
//! parameters, and R's mapping to an estimated MOS (MOS-CQE).
//!
//! ```text
//!  R = Ro − Is − Id − Ie,eff + A
//!      │    │    │    └ codec and packet loss: Ie + (95 − Ie)·Ppl / (Ppl/BurstR + Bpl)
//!      │    │    └ delay: talker echo Idte + listener echo Idle + absolute delay Idd
//!      │    └ simultaneous: loudness Iolr + sidetone Ist + quantisation Iq
//!      └ basic signal-to-noise ratio from circuit and room noise
//!  MOS = 1 + 0.035·R + R(R − 60)(100 − R)·7·10⁻⁶   (0 < R < 100; 1 below, 4.5 above)
//! ```
//!
//! Every formula is G.107's (06/2015 edition, clause 7 and Annex B); every default is its
//! Table 1 default, so [`EModel::default`] rates 93.2, the best a narrowband connection gets,
//! and MOS 4.41. The codec figures (Ie and Bpl, which default to G.711 without concealment)
//! come from G.113 Appendix I.
//!
//! # What this model does not do
//!
//! It rates a planned or estimated connection; it does not listen to audio. It is the
//! narrowband model (G.711, G.729…): wideband codecs belong to G.107.1, which is not here. The
//! relay knows only what it measures on its own legs, so [`crate::quality`] feeds it an estimate
//! of the one-way delay; see [`super::MosConfig`].

/// Equipment impairment of a codec and its robustness to packet loss (G.113 Appendix I).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Codec {
    /// Equipment impairment factor Ie at zero loss.
    pub ie: f64,
    /// Packet-loss robustness factor Bpl.
    pub bpl: f64,
}

impl Codec {
    /// G.711 with no packet-loss concealment (lost packets play as silence): Ie = 0 (G.113
    /// Appendix I, Table I.1), Bpl = 4.3 (Appendix I's Bpl table, Table I.4 in the 2024
    /// edition; random loss, 10 ms packets).
    pub const G711: Codec = Codec { ie: 0.0, bpl: 4.3 };
    /// G.711 with the packet-loss concealment of G.711 Appendix I, which most phones have:
    /// Ie = 0, Bpl = 25.1 (G.113 Appendix I, Table I.4).
    pub const G711_PLC: Codec = Codec { ie: 0.0, bpl: 25.1 };
}

/// The E-model's input parameters, in G.107's names and units. [`Default`] gives G.107
/// Table 1's default for each, which describes a good wirebound narrowband connection.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EModel {
    /// Send loudness rating SLR, dB. Default 8.
    pub slr: f64,
    /// Receive loudness rating RLR, dB. Default 2.
    pub rlr: f64,
    /// Sidetone masking rating STMR, dB. Default 15.
    pub stmr: f64,
    /// Listener sidetone rating LSTR (STMR + Dr), dB. Default 18.
    pub lstr: f64,
    /// D-value of the telephone's send side Ds. Default 3.
    pub ds: f64,
    /// Talker echo loudness rating TELR, dB. Default 65.
    pub telr: f64,
    /// Weighted echo path loss WEPL, dB. Default 110.
    pub wepl: f64,
    /// Mean one-way delay of the echo path T, ms. Default 0.
    pub t: f64,
    /// Round-trip delay in a 4-wire loop Tr, ms. Default 0.
    pub tr: f64,
    /// Absolute (mouth-to-ear) delay Ta, ms. Default 0.
    pub ta: f64,
    /// Quantising distortion units qdu. Default 1.
    pub qdu: f64,
    /// Equipment impairment factor Ie. Default 0 (G.711).
    pub ie: f64,
    /// Packet-loss robustness factor Bpl. Default 4.3 (G.711 without concealment; irrelevant
    /// while Ppl is 0).
    pub bpl: f64,
    /// Random packet-loss probability Ppl, percent. Default 0.
    pub ppl: f64,
    /// Burst ratio BurstR: 1 for random loss, above 1 for bursty loss. Default 1.
    pub burst_r: f64,
    /// Circuit noise referred to the 0 dBr point Nc, dBm0p. Default −70.
    pub nc: f64,
    /// Noise floor at the receive side Nfor, dBmp. Default −64.
    pub nfor: f64,
    /// Room noise at the send side Ps, dB(A). Default 35.
    pub ps: f64,
    /// Room noise at the receive side Pr, dB(A). Default 35.
    pub pr: f64,
    /// Advantage factor A. Default 0 (wirebound; G.107 gives at most 5 in-building mobility, 10
    /// cellular, 20 hard-to-reach places).
    pub a: f64,
    /// Minimum perceivable delay mT, ms, of the delay-sensitivity class. Default 100.
    pub mt: f64,
    /// Delay sensitivity sT. Default 1 (the default class; conversational telephony).
    pub st: f64,
}

impl Default for EModel {
    fn default() -> Self {
        EModel {
            slr: 8.0,
            rlr: 2.0,
            stmr: 15.0,
            lstr: 18.0,
            ds: 3.0,
            telr: 65.0,
            wepl: 110.0,
            t: 0.0,
            tr: 0.0,
            ta: 0.0,
            qdu: 1.0,
            ie: Codec::G711.ie,
            bpl: Codec::G711.bpl,
            ppl: 0.0,
            burst_r: 1.0,
            nc: -70.0,
            nfor: -64.0,
            ps: 35.0,
            pr: 35.0,
            a: 0.0,
            mt: 100.0,
            st: 1.0,
        }
    }
}

/// 10^(x/10): a level in dB to a power ratio.
fn p10(x: f64) -> f64 {
    10f64.powf(x / 10.0)
}

impl EModel {
    /// This model with a one-way delay of `ms` milliseconds everywhere G.107 takes one: the
    /// echo path T and the mouth-to-ear delay Ta, and Tr = 2T for the 4-wire loop (the usual
    /// assumption for a packet path with echo control at both ends, as in G.107's own figures).
    pub fn with_one_way_delay(self, ms: f64) -> Self {
        let ms = ms.max(0.0);
        EModel { t: ms, ta: ms, tr: 2.0 * ms, ..self }
    }

    /// This model with a codec's Ie and Bpl and the observed loss (percent) and burst ratio.
    pub fn with_loss(self, codec: Codec, ppl: f64, burst_r: f64) -> Self {
        EModel { ie: codec.ie, bpl: codec.bpl, ppl: ppl.clamp(0.0, 100.0), burst_r, ..self }
    }

    /// Overall loudness rating OLR = SLR + RLR.
    fn olr(&self) -> f64 {
        self.slr + self.rlr
    }

    /// Total noise No, dBm0p: circuit noise, the room noise at both ends and the receive
    /// noise floor, power-summed.
    fn no(&self) -> f64 {
        let nos =
            self.ps - self.slr - self.ds - 100.0 + 0.004 * (self.ps - self.olr() - self.ds - 14.0).powi(2);
        let pre = self.pr + 10.0 * (1.0 + p10(10.0 - self.lstr)).log10();
        let nor = self.rlr - 121.0 + pre + 0.008 * (pre - 35.0).powi(2);
        let nfo = self.nfor + self.rlr;
        10.0 * (p10(self.nc) + p10(nos) + p10(nor) + p10(nfo)).log10()
    }

    /// The basic signal-to-noise ratio Ro = 15 − 1.5·(SLR + No). 94.77 at the defaults.
    pub fn ro(&self) -> f64 {
        15.0 - 1.5 * (self.slr + self.no())
    }

    /// Sidetone impairment Ist, from the STMR masked by talker echo.
    fn ist(&self) -> f64 {
        let stmro = -10.0 * (p10(-self.stmr) + (-self.t / 4.0).exp() * p10(-self.telr)).log10();
        12.0 * (1.0 + ((stmro - 13.0) / 6.0).powi(8)).powf(1.0 / 8.0)
            - 28.0 * (1.0 + ((stmro + 1.0) / 19.4).powi(35)).powf(1.0 / 35.0)
            - 13.0 * (1.0 + ((stmro - 3.0) / 33.0).powi(13)).powf(1.0 / 13.0)
            + 29.0
    }

    /// Simultaneous impairment Is = Iolr + Ist + Iq: too-quiet loudness, sidetone and
    /// quantising distortion. 1.41 at the defaults.
    pub fn is(&self) -> f64 {
        let no = self.no();
        let xolr = self.olr() + 0.2 * (64.0 + no - self.rlr);
        let iolr = 20.0 * ((1.0 + (xolr / 8.0).powi(8)).powf(1.0 / 8.0) - xolr / 8.0);
        let q = 37.0 - 15.0 * self.qdu.max(f64::MIN_POSITIVE).log10();
        let g = 1.07 + 0.258 * q + 0.0602 * q * q;
        let y = (self.ro() - 100.0) / 15.0 + 46.0 / 8.4 - g / 9.0;
        let z = 46.0 / 30.0 - g / 40.0;
        let iq = 15.0 * (1.0 + 10f64.powf(y) + 10f64.powf(z)).log10();
        iolr + self.ist() + iq
    }

    /// Talker-echo impairment Idte.
    fn idte(&self) -> f64 {
        let t = self.t;
        let mut terv =
            self.telr - 40.0 * ((1.0 + t / 10.0) / (1.0 + t / 150.0)).log10() + 6.0 * (-0.3 * t * t).exp();
        // Low sidetone masks less echo; high sidetone is an impairment of its own.
        if self.stmr < 9.0 {
            terv += self.ist() / 2.0;
        }
        let re = 80.0 + 2.5 * (terv - 14.0);
        let roe = -1.5 * (self.no() - self.rlr);
        let d = roe - re;
        let idte = (d / 2.0 + (d * d / 4.0 + 100.0).sqrt() - 1.0) * (1.0 - (-t).exp());
        if self.stmr > 20.0 { (idte * idte + self.ist().powi(2)).sqrt() } else { idte }
    }

    /// Listener-echo impairment Idle.
    fn idle(&self) -> f64 {
        let rle = 10.5 * (self.wepl + 7.0) * (self.tr + 1.0).powf(-0.25);
        let d = self.ro() - rle;
        d / 2.0 + (d * d / 4.0 + 169.0).sqrt()
    }

    /// Impairment of absolute delay Idd: none up to mT, then rising (3.04 at 200 ms, 24.1 at
    /// 400 ms for the default class).
    pub fn idd(&self) -> f64 {
        if self.ta <= self.mt {
            return 0.0;
        }
        let x = (self.ta / self.mt).log2();
        let s6 = 6.0 * self.st;
        25.0 * ((1.0 + x.powf(s6)).powf(1.0 / s6) - 3.0 * (1.0 + (x / 3.0).powf(s6)).powf(1.0 / s6) + 2.0)
    }

    /// Delay impairment Id = Idte + Idle + Idd. 0.15 at the defaults, 3.8 at 150 ms one way.
    pub fn id(&self) -> f64 {
        self.idte() + self.idle() + self.idd()
    }

    /// Effective equipment impairment Ie,eff = Ie + (95 − Ie)·Ppl / (Ppl/BurstR + Bpl)
    /// (G.107 eq. 7-29).
    pub fn ie_eff(&self) -> f64 {
        let burst_r = self.burst_r.max(f64::MIN_POSITIVE);
        let denominator = self.ppl / burst_r + self.bpl;
        if denominator <= 0.0 {
            return self.ie;
        }
        self.ie + (95.0 - self.ie) * self.ppl / denominator
    }

    /// The transmission rating R = Ro − Is − Id − Ie,eff + A.
    pub fn r(&self) -> f64 {
        self.ro() - self.is() - self.id() - self.ie_eff() + self.a
    }

    /// The estimated MOS of this connection: [`mos_from_r`] of [`EModel::r`].
    pub fn mos(&self) -> f64 {
        mos_from_r(self.r())
    }
}

/// G.107 Annex B: R to the estimated conversational MOS. The cubic dips just under 1 for
/// R below 6.5; it is held at 1 there, as G.107 Appendix I's inverse mapping assumes.
pub fn mos_from_r(r: f64) -> f64 {
    if r.is_nan() || r <= 0.0 {
        return 1.0;
    }
    if r >= 100.0 {
        return 4.5;
    }
    (1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7e-6).max(1.0)
}

/// Burst ratio from loss counts (G.107 eq. 7-30 with the transition probabilities of a
/// two-state loss model estimated from the stream): `N·L / (B·(N + L))` for `N` packets
/// received, `L` lost and `B` loss bursts, which is the mean observed burst length divided by
/// the mean burst length random loss would give. 1 when nothing was lost; never below 1, since
/// short samples of random loss land either side of it.
pub fn burst_ratio(received: u64, lost: u64, bursts: u64) -> f64 {
    if lost == 0 || bursts == 0 || received == 0 {
        return 1.0;
    }
    let (n, l, b) = (received as f64, lost as f64, bursts as f64);
    (n * l / (b * (n + l))).max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn the_defaults_rate_93_2_and_mos_4_41() {
        let m = EModel::default();
        assert!(close(m.ro(), 94.77, 0.005), "Ro {}", m.ro());
        assert!(close(m.is(), 1.41, 0.005), "Is {}", m.is());
        assert!(close(m.id(), 0.15, 0.005), "Id {}", m.id());
        assert_eq!(m.ie_eff(), 0.0);
        assert!(close(m.r(), 93.2, 0.01), "R {}", m.r());
        assert!(close(m.mos(), 4.41, 0.005), "MOS {}", m.mos());
    }

    #[test]
    fn delay_impairment_at_known_points() {
        // Idd of the default class: X = log2(Ta/100); 25·((1+X⁶)^⅙ − 3·(1+(X/3)⁶)^⅙ + 2).
        let m = EModel::default();
        assert_eq!(m.with_one_way_delay(100.0).idd(), 0.0);
        assert!(close(m.with_one_way_delay(200.0).idd(), 3.04, 0.005));
        assert!(close(m.with_one_way_delay(400.0).idd(), 24.07, 0.01));
        // 150 ms one way with echo control: Id 3.8, R 89.5 (the full model; the common
        // one-line fit 0.024·d gives 3.6).
        let m150 = m.with_one_way_delay(150.0);
        assert!(close(m150.id(), 3.8, 0.02), "Id {}", m150.id());
        assert!(close(m150.r(), 89.5, 0.05), "R {}", m150.r());
        // R falls steadily and steeply past 200 ms.
        let rs: Vec<f64> =
            [0.0, 100.0, 200.0, 300.0, 400.0, 500.0].iter().map(|&d| m.with_one_way_delay(d).r()).collect();
        assert!(rs.windows(2).all(|w| w[1] < w[0]), "{rs:?}");
        assert!(close(rs[3], 72.7, 0.05) && close(rs[5], 54.8, 0.05), "{rs:?}");
    }

    #[test]
    fn packet_loss_at_known_points() {
        let m = EModel::default();
        // G.711 without PLC, 1 % random loss: Ie,eff = 95·1/(1 + 4.3) = 17.9.
        let lossy = m.with_loss(Codec::G711, 1.0, 1.0);
        assert!(close(lossy.ie_eff(), 17.92, 0.01));
        assert!(close(lossy.r(), 75.3, 0.05));
        // With PLC the same loss costs 3.6.
        assert!(close(m.with_loss(Codec::G711_PLC, 1.0, 1.0).ie_eff(), 3.64, 0.01));
        // G.711 with PLC, 2 % random loss, 150 ms one way: R 82.5, MOS 4.12.
        let planned = m.with_loss(Codec::G711_PLC, 2.0, 1.0).with_one_way_delay(150.0);
        assert!(close(planned.ie_eff(), 7.01, 0.01));
        assert!(close(planned.r(), 82.5, 0.05), "R {}", planned.r());
        assert!(close(planned.mos(), 4.12, 0.005), "MOS {}", planned.mos());
        // G.729A + VAD (Ie 11, Bpl 19), same path: R 70.5, MOS 3.62.
        let g729 = m.with_loss(Codec { ie: 11.0, bpl: 19.0 }, 2.0, 1.0).with_one_way_delay(150.0);
        assert!(close(g729.r(), 70.5, 0.05) && close(g729.mos(), 3.62, 0.005));
        // Bursty loss hurts more than random loss of the same rate: at 5 %, BurstR 2 gives
        // 95·5/(5/2 + 25.1) = 17.2 against 95·5/(5 + 25.1) = 15.8.
        let bursty = m.with_loss(Codec::G711_PLC, 5.0, 2.0).ie_eff();
        let random = m.with_loss(Codec::G711_PLC, 5.0, 1.0).ie_eff();
        assert!(close(bursty, 17.21, 0.01) && close(random, 15.78, 0.01), "{bursty} vs {random}");
        // Total loss saturates at 95.
        assert!(m.with_loss(Codec::G711, 100.0, 1.0).ie_eff() < 95.0);
    }

    #[test]
    fn r_to_mos_mapping() {
        assert_eq!(mos_from_r(-5.0), 1.0);
        assert_eq!(mos_from_r(f64::NAN), 1.0);
        assert_eq!(mos_from_r(3.0), 1.0, "the cubic's dip below 1 is held at 1");
        assert!(close(mos_from_r(50.0), 2.58, 0.005));
        assert!(close(mos_from_r(70.0), 3.60, 0.005));
        assert!(close(mos_from_r(80.0), 4.02, 0.005));
        assert!(close(mos_from_r(90.0), 4.34, 0.005));
        assert_eq!(mos_from_r(100.0), 4.5);
        assert_eq!(mos_from_r(120.0), 4.5);
        let mut last = 1.0;
        for r in 7..100 {
            let mos = mos_from_r(f64::from(r));
            assert!(mos > last, "monotonic above 6.5: R {r}");
            last = mos;
        }
    }

    #[test]
    fn burst_ratio_from_counts() {
        assert_eq!(burst_ratio(1000, 0, 0), 1.0);
        // 900 received, 100 lost in 25 bursts of 4: mean burst 4 against 1/(1 − 0.1) = 1.11.
        assert!(close(burst_ratio(900, 100, 25), 3.6, 1e-9));
        // 100 single losses among 900: a touch more regular than random, reported as 1.
        assert_eq!(burst_ratio(900, 100, 100), 1.0);
    }
}
