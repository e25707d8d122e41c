//! Durations as Prefect writes them: seconds as a number, or an ISO 8601 duration.

use std::time::Duration;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// A window of time, in JSON as Prefect serializes it: seconds as a float
/// (`300.0`). It reads seconds as a number or a numeric string, or an ISO 8601
/// duration (`"PT5M"`, `"P1DT2H"`), as Prefect's `DurationOrSecondsTimeDelta` does;
/// a negative window is refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Within(pub Duration);

impl Within {
    /// No time at all: a reactive trigger with it fires on each event.
    pub const ZERO: Within = Within(Duration::ZERO);

    /// So many seconds.
    pub const fn secs(s: u64) -> Self {
        Within(Duration::from_secs(s))
    }

    /// The duration.
    pub fn get(self) -> Duration {
        self.0
    }

    /// Whether it is zero.
    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }
}

impl From<Duration> for Within {
    fn from(d: Duration) -> Self {
        Within(d)
    }
}

impl Serialize for Within {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.0.as_secs_f64())
    }
}

impl<'de> Deserialize<'de> for Within {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::Number(n) => n
                .as_f64()
                .ok_or_else(|| D::Error::custom("a duration in seconds"))
                .and_then(|s| from_secs(s).map_err(D::Error::custom)),
            Value::String(s) => parse(&s).map_err(D::Error::custom),
            Value::Null => Err(D::Error::custom("`within` should be a valid timedelta")),
            _ => Err(D::Error::custom(
                "a duration: seconds, or an ISO 8601 duration such as \"PT5M\"",
            )),
        }
    }
}

fn from_secs(s: f64) -> Result<Within, String> {
    if !s.is_finite() {
        return Err("a duration must be finite".into());
    }
    if s < 0.0 {
        return Err("a duration must be greater than or equal to 0".into());
    }
    // Longer than any window anyone means (about 31,700 years) is refused too.
    if s > 1e12 {
        return Err("a duration must be at most 10^12 seconds".into());
    }
    Ok(Within(Duration::from_secs_f64(s)))
}

/// Seconds (`"300"`, `"1.5"`) or ISO 8601 (`PnDTnHnMnS`, with weeks as `PnW`).
fn parse(s: &str) -> Result<Within, String> {
    if let Ok(secs) = s.trim().parse::<f64>() {
        return from_secs(secs);
    }
    let bad = || format!("{s:?} is not a duration (seconds, or ISO 8601 such as \"PT5M\")");
    let rest = s.strip_prefix('P').ok_or_else(bad)?;
    let mut total = 0f64;
    let mut in_time = false;
    let mut number = String::new();
    let mut any = false;
    for c in rest.chars() {
        match c {
            'T' if !in_time && number.is_empty() => in_time = true,
            '0'..='9' | '.' | ',' => number.push(if c == ',' { '.' } else { c }),
            _ => {
                let value: f64 = number.parse().map_err(|_| bad())?;
                number.clear();
                let unit = match (in_time, c) {
                    (false, 'W') => 604_800.0,
                    (false, 'D') => 86_400.0,
                    (true, 'H') => 3_600.0,
                    (true, 'M') => 60.0,
                    (true, 'S') => 1.0,
                    _ => return Err(bad()),
                };
                total += value * unit;
                any = true;
            }
        }
    }
    if !number.is_empty() || !any {
        return Err(bad());
    }
    from_secs(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_and_iso_durations_read_alike() {
        let read = |j: &str| serde_json::from_str::<Within>(j).map(|w| w.get());
        assert_eq!(read("300").unwrap(), Duration::from_secs(300));
        assert_eq!(read("0.5").unwrap(), Duration::from_millis(500));
        assert_eq!(read("\"PT5M\"").unwrap(), Duration::from_secs(300));
        assert_eq!(read("\"P1DT1H\"").unwrap(), Duration::from_secs(90_000));
        assert_eq!(read("\"12\"").unwrap(), Duration::from_secs(12));
        assert!(read("-1").is_err());
        assert!(read("null").is_err());
        assert!(read("\"PT\"").is_err());
        assert!(read("\"5 minutes\"").is_err());
        assert_eq!(serde_json::to_string(&Within::secs(300)).unwrap(), "300.0");
    }
}
