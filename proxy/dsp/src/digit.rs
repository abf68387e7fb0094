//! The sixteen DTMF keys.

use core::fmt;

/// One DTMF key. Its `Debug` and `Display` print a mask, never the key: digits are secrets
/// (card numbers) and must not reach a log by accident. Call [`Digit::as_char`] where printing
/// the key is the point (for example `tonewall scan`, whose job is to report them).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digit(u8);

/// Keys in row-major keypad order: index = row · 4 + column.
const KEYS: [u8; 16] = *b"123A456B789C*0#D";

/// Row (low group) frequencies in Hz, ITU-T Q.23.
pub const ROW_HZ: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
/// Column (high group) frequencies in Hz, ITU-T Q.23.
pub const COL_HZ: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];

impl Digit {
    /// All sixteen keys, keypad order.
    pub const ALL: [Digit; 16] = {
        let mut all = [Digit(0); 16];
        let mut i = 0;
        while i < 16 {
            all[i] = Digit(i as u8);
            i += 1;
        }
        all
    };

    /// The key at keypad `row` (0..4) and `col` (0..4).
    pub fn from_row_col(row: usize, col: usize) -> Option<Digit> {
        (row < 4 && col < 4).then(|| Digit((row * 4 + col) as u8))
    }

    /// The key for a character (`0`–`9`, `*`, `#`, `A`–`D`, case-insensitive).
    pub fn from_char(c: char) -> Option<Digit> {
        let c = c.to_ascii_uppercase();
        KEYS.iter().position(|&k| k as char == c).map(|i| Digit(i as u8))
    }

    /// The key for an RFC 4733 event code (§3.2: 0–9, 10 = `*`, 11 = `#`, 12–15 = A–D).
    pub fn from_event(code: u8) -> Option<Digit> {
        let c = match code {
            0..=9 => (b'0' + code) as char,
            10 => '*',
            11 => '#',
            12..=15 => (b'A' + code - 12) as char,
            _ => return None,
        };
        Digit::from_char(c)
    }

    /// The RFC 4733 event code of this key.
    pub fn event(self) -> u8 {
        match KEYS[self.0 as usize] {
            c @ b'0'..=b'9' => c - b'0',
            b'*' => 10,
            b'#' => 11,
            c => c - b'A' + 12,
        }
    }

    /// The key's character. Deliberately not `Display`: see the type's docs.
    pub fn as_char(self) -> char {
        KEYS[self.0 as usize] as char
    }

    /// Keypad row, 0..4 (the low-group tone).
    pub fn row(self) -> usize {
        self.0 as usize / 4
    }

    /// Keypad column, 0..4 (the high-group tone).
    pub fn col(self) -> usize {
        self.0 as usize % 4
    }

    /// The (low, high) tone pair in Hz.
    pub fn freqs(self) -> (f64, f64) {
        (ROW_HZ[self.row()], COL_HZ[self.col()])
    }

    /// Index 0..16 in keypad order, for tables and histograms.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Debug for Digit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Digit(*)")
    }
}

impl fmt::Display for Digit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("*")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keypad_layout_and_event_codes() {
        let d = Digit::from_char('5').expect("5 is a key");
        assert_eq!(d.freqs(), (770.0, 1336.0));
        assert_eq!(Digit::from_char('#').map(|d| d.event()), Some(11));
        assert_eq!(Digit::from_char('d').map(|d| d.freqs()), Some((941.0, 1633.0)));
        for code in 0..16 {
            let d = Digit::from_event(code).expect("0..16 are keys");
            assert_eq!(d.event(), code);
        }
        assert_eq!(Digit::from_event(16), None);
        assert_eq!(Digit::from_char('x'), None);
    }

    #[test]
    fn formatting_never_shows_the_key() {
        for d in Digit::ALL {
            assert_eq!(format!("{d:?} {d}"), "Digit(*) *");
        }
    }
}
