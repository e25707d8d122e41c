//! Timestamps as Prefect writes them: ISO-8601 UTC with `Z` and 6-digit microseconds.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::EventError;

/// A point in time, in whole microseconds since the Unix epoch, UTC.
///
/// It is `Copy`, eight bytes, and formats without allocating, as
/// `2026-12-01T06:27:27.028685Z` (the layout Prefect 3.9.1 writes). Parsing
/// accepts RFC 3339 with any offset (converted to UTC), any number of
/// fraction digits (cut to microseconds), and no offset at all (taken as UTC,
/// as Prefect does on Python 3.13).
///
/// # Examples
///
/// ```
/// use workbus_events::Timestamp;
///
/// let t: Timestamp = "2026-12-01T07:27:27.028685+01:00".parse().unwrap();
/// assert_eq!(t.to_string(), "2026-12-01T06:27:27.028685Z");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i64);

/// The earliest timestamp that formats with a four-digit year: 0000-01-01.
const MIN_MICROS: i64 = -62_167_219_200_000_000;
/// The latest timestamp that formats with a four-digit year: 9999-12-31T23:59:59.999999Z.
const MAX_MICROS: i64 = 253_402_300_799_999_999;

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);

    /// A timestamp from microseconds since the epoch, saturated to years 0000 to 9999.
    pub const fn from_micros(micros: i64) -> Self {
        if micros < MIN_MICROS {
            Timestamp(MIN_MICROS)
        } else if micros > MAX_MICROS {
            Timestamp(MAX_MICROS)
        } else {
            Timestamp(micros)
        }
    }

    /// Microseconds since the epoch.
    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// The system's wall clock, now.
    pub fn now() -> Self {
        Self::from(SystemTime::now())
    }

    /// This timestamp moved forward by `d` (saturating).
    // Also `impl Add<Duration>`; the method saves callers importing the trait.
    #[allow(clippy::should_implement_trait)]
    pub fn add(self, d: Duration) -> Self {
        let micros = i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
        Self::from_micros(self.0.saturating_add(micros))
    }

    /// This timestamp moved back by `d` (saturating).
    #[allow(clippy::should_implement_trait)]
    pub fn sub(self, d: Duration) -> Self {
        let micros = i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
        Self::from_micros(self.0.saturating_sub(micros))
    }

    /// How long after `earlier` this is; zero if it is not after it.
    pub fn since(self, earlier: Timestamp) -> Duration {
        let diff = self.0.saturating_sub(earlier.0);
        Duration::from_micros(u64::try_from(diff).unwrap_or(0))
    }

    /// Writes the 27 bytes of `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
    pub fn format(self) -> [u8; 27] {
        let days = self.0.div_euclid(86_400_000_000);
        let rem = self.0.rem_euclid(86_400_000_000);
        let (y, m, d) = civil_from_days(days);
        let secs = rem / 1_000_000;
        let micros = rem % 1_000_000;
        let (hh, mm, ss) = (secs / 3600, (secs / 60) % 60, secs % 60);
        let mut out = *b"0000-00-00T00:00:00.000000Z";
        put(&mut out[0..4], y as u64);
        put(&mut out[5..7], m as u64);
        put(&mut out[8..10], d as u64);
        put(&mut out[11..13], hh as u64);
        put(&mut out[14..16], mm as u64);
        put(&mut out[17..19], ss as u64);
        put(&mut out[20..26], micros as u64);
        out
    }
}

/// Writes `v` as zero-padded decimal digits filling `buf`.
fn put(buf: &mut [u8], mut v: u64) {
    for b in buf.iter_mut().rev() {
        *b = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

// Howard Hinnant's days-from-civil algorithms: exact for the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = (z - era * 146_097) as u64;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe as i64 + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = (y - era * 400) as u64;
    let mp = u64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + u64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe as i64 - 719_468
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

impl std::ops::Add<Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, d: Duration) -> Timestamp {
        Timestamp::add(self, d)
    }
}

impl std::ops::Sub<Duration> for Timestamp {
    type Output = Timestamp;
    fn sub(self, d: Duration) -> Timestamp {
        Timestamp::sub(self, d)
    }
}

impl From<SystemTime> for Timestamp {
    fn from(t: SystemTime) -> Self {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Self::from_micros(i64::try_from(d.as_micros()).unwrap_or(i64::MAX)),
            Err(e) => {
                Self::from_micros(-i64::try_from(e.duration().as_micros()).unwrap_or(i64::MAX))
            }
        }
    }
}

impl std::str::FromStr for Timestamp {
    type Err = EventError;

    fn from_str(s: &str) -> Result<Self, EventError> {
        parse(s.as_bytes()).map_err(|reason| EventError::InvalidTimestamp {
            input: s.chars().take(64).collect(),
            reason,
        })
    }
}

fn digits(b: &[u8], at: usize, n: usize) -> Result<u32, &'static str> {
    let part = b.get(at..at + n).ok_or("too short")?;
    let mut v = 0u32;
    for &c in part {
        if !c.is_ascii_digit() {
            return Err("expected a digit");
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Ok(v)
}

fn expect(b: &[u8], at: usize, c: u8) -> Result<(), &'static str> {
    match b.get(at) {
        Some(&x) if x == c => Ok(()),
        _ => Err("unexpected character"),
    }
}

fn parse(b: &[u8]) -> Result<Timestamp, &'static str> {
    let y = digits(b, 0, 4)?;
    expect(b, 4, b'-')?;
    let mo = digits(b, 5, 2)?;
    expect(b, 7, b'-')?;
    let d = digits(b, 8, 2)?;
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        return Err("expected `T` between date and time");
    }
    let h = digits(b, 11, 2)?;
    expect(b, 13, b':')?;
    let mi = digits(b, 14, 2)?;
    expect(b, 16, b':')?;
    let s = digits(b, 17, 2)?;
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(i64::from(y), mo) {
        return Err("no such date");
    }
    if h > 23 || mi > 59 || s > 59 {
        return Err("no such time of day");
    }
    let mut at = 19;
    let mut micros = 0i64;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while let Some(c) = b.get(at).filter(|c| c.is_ascii_digit()) {
            if at - start < 6 {
                micros = micros * 10 + i64::from(c - b'0');
            }
            at += 1;
        }
        let n = at - start;
        if n == 0 {
            return Err("expected fraction digits after `.`");
        }
        for _ in n..6 {
            micros *= 10;
        }
    }
    let offset_secs: i64 = match b.get(at) {
        None => 0,
        Some(b'Z' | b'z') => {
            at += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            let oh = digits(b, at + 1, 2)?;
            let om = if b.get(at + 3) == Some(&b':') {
                let v = digits(b, at + 4, 2)?;
                at += 6;
                v
            } else {
                let v = digits(b, at + 3, 2)?;
                at += 5;
                v
            };
            if oh > 23 || om > 59 {
                return Err("offset out of range");
            }
            let secs = i64::from(oh * 3600 + om * 60);
            if sign == b'+' {
                secs
            } else {
                -secs
            }
        }
        Some(_) => return Err("unexpected character after the time"),
    };
    if at != b.len() {
        return Err("trailing characters");
    }
    let days = days_from_civil(i64::from(y), mo, d);
    let secs = days * 86_400 + i64::from(h * 3600 + mi * 60 + s) - offset_secs;
    Ok(Timestamp::from_micros(secs * 1_000_000 + micros))
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let buf = self.format();
        // The buffer holds only ASCII digits and separators.
        f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let buf = self.format();
        match std::str::from_utf8(&buf) {
            Ok(text) => s.serialize_str(text),
            Err(_) => Err(serde::ser::Error::custom("timestamp is not ASCII")),
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an ISO-8601 timestamp")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Timestamp, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_prefect_layout() {
        let t: Timestamp = "2026-12-01T06:27:27.028685Z".parse().unwrap();
        assert_eq!(t.to_string(), "2026-12-01T06:27:27.028685Z");
        assert_eq!(Timestamp::EPOCH.to_string(), "1970-01-01T00:00:00.000000Z");
    }

    #[test]
    fn parses_offsets_fractions_and_naive() {
        let cases = [
            (
                "2026-12-01T07:27:27.028685+01:00",
                "2026-12-01T06:27:27.028685Z",
            ),
            ("2026-12-01T06:27:27Z", "2026-12-01T06:27:27.000000Z"),
            ("2026-12-01T06:27:27.1", "2026-12-01T06:27:27.100000Z"),
            (
                "2026-12-01 06:27:27.123456789-0130",
                "2026-12-01T07:57:27.123456Z",
            ),
            ("1969-12-31T23:59:59.999999Z", "1969-12-31T23:59:59.999999Z"),
            ("2024-02-29T00:00:00Z", "2024-02-29T00:00:00.000000Z"),
        ];
        for (input, want) in cases {
            let t: Timestamp = input.parse().unwrap();
            assert_eq!(t.to_string(), want, "{input}");
        }
    }

    #[test]
    fn refuses_bad_input() {
        for bad in [
            "",
            "2026",
            "2026-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2026-12-01T24:00:00Z",
            "2026-12-01T00:00:00.Z",
            "2026-12-01T00:00:00Zjunk",
            "2026-12-01T00:00:00+2500",
            "２０２６-12-01T00:00:00Z",
        ] {
            assert!(bad.parse::<Timestamp>().is_err(), "{bad}");
        }
    }

    #[test]
    fn round_trips_every_day_of_four_centuries() {
        let mut day = days_from_civil(1900, 1, 1);
        let end = days_from_civil(2300, 1, 1);
        while day < end {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
            day += 1;
        }
    }
}
