//! The one retry schedule, shared by the webhook sender and the NATS publisher.

use std::time::Duration;

/// A retry schedule: `initial`, times `multiplier` after each failure, never
/// more than `max`, minus a random part of up to `jitter` (0 to 1).
///
/// Retries are counted from 0: [`delay(0)`](Self::delay) is the wait before
/// the first retry.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use workbus_subscribers::toolkit::Backoff;
///
/// let b = Backoff::new(Duration::from_millis(10), Duration::from_millis(50));
/// assert_eq!(b.delay(0), Duration::from_millis(10));
/// assert_eq!(b.delay(2), Duration::from_millis(40));
/// assert_eq!(b.delay(30), Duration::from_millis(50));
///
/// let jittered = b.jitter(0.5);
/// assert!((Duration::from_millis(5)..=Duration::from_millis(10)).contains(&jittered.delay(0)));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    /// The first delay.
    pub initial: Duration,
    /// The longest delay.
    pub max: Duration,
    /// How much each delay grows (at least 1; default 2).
    pub multiplier: f64,
    /// The random part of each delay, from 0 to 1: a delay `d` becomes one
    /// between `d × (1 − jitter)` and `d` (default 0).
    pub jitter: f64,
}

impl Backoff {
    /// A schedule from `initial` to `max`, doubling, without jitter.
    pub const fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max,
            multiplier: 2.0,
            jitter: 0.0,
        }
    }

    /// The same schedule, growing by `multiplier` at each failure.
    pub const fn multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = multiplier;
        self
    }

    /// The same schedule, with a random part of up to `jitter` (0 to 1).
    pub const fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter;
        self
    }

    /// The delay before retry number `retry` (0 for the first retry).
    pub fn delay(&self, retry: u32) -> Duration {
        let exp = i32::try_from(retry).unwrap_or(i32::MAX);
        let base = self.initial.as_secs_f64() * self.multiplier.max(1.0).powi(exp);
        let base = base.min(self.max.as_secs_f64());
        let jitter = self.jitter.clamp(0.0, 1.0);
        let secs = if jitter > 0.0 {
            base * (1.0 - jitter * fastrand::f64())
        } else {
            base
        };
        // Whole nanoseconds, rounded: 10 ms × 4 is 40 ms, not 39.999… ms.
        Duration::from_nanos((secs.max(0.0) * 1e9).round() as u64)
    }
}

// Compared field by field (the floats by their bits), so that a configuration
// holding a schedule can be `Eq`.
impl PartialEq for Backoff {
    fn eq(&self, other: &Self) -> bool {
        self.initial == other.initial
            && self.max == other.max
            && self.multiplier.to_bits() == other.multiplier.to_bits()
            && self.jitter.to_bits() == other.jitter.to_bits()
    }
}

impl Eq for Backoff {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_caps_and_jitters_within_bounds() {
        let b = Backoff::new(Duration::from_millis(500), Duration::from_secs(60));
        assert_eq!(b.delay(0), Duration::from_millis(500));
        assert_eq!(b.delay(2), Duration::from_secs(2));
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(60));
        let j = b.jitter(0.2);
        for _ in 0..100 {
            let d = j.delay(1);
            assert!(
                d <= Duration::from_secs(1) && d >= Duration::from_millis(800),
                "{d:?}"
            );
        }
        assert_eq!(b.multiplier(3.0).delay(1), Duration::from_millis(1500));
    }
}
