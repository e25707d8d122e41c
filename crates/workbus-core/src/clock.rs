//! Time, injectable.
//!
//! Every timestamp the bus writes (`occurred`, heartbeats, polls) and every
//! deadline it waits for (a worker going offline, a queue's poll timeout)
//! comes from one [`Clock`]. The default, [`TokioClock`], reads tokio's clock
//! anchored to the wall clock at start, so that a test on paused tokio time
//! (`tokio::time::pause`, `advance`) moves timestamps and timers together and
//! runs hours of heartbeats in milliseconds.

use std::fmt;
use std::time::Instant;

use workbus_events::Timestamp;

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// Now, as a UTC timestamp.
    fn now(&self) -> Timestamp;

    /// Now, as a UTC timestamp, and the monotonic instant of the same reading
    /// when the clock has one for free. The bus stamps an event's `occurred`
    /// with the timestamp and, when given, takes the instant as the moment it
    /// took the event in (what delivery latency is measured from), instead of
    /// reading [`Instant::now`] again: on a VM where a read costs 30 ns, that
    /// is a tenth of an event. The default gives no instant.
    fn reading(&self) -> (Timestamp, Option<Instant>) {
        (self.now(), None)
    }
}

/// Tokio's monotonic clock, anchored to the wall clock when it was made.
///
/// Under paused tokio time it advances only when tokio's clock does, so
/// timestamps and actor timers agree.
pub struct TokioClock {
    wall: Timestamp,
    start: tokio::time::Instant,
}

impl TokioClock {
    /// Anchors tokio's clock to the wall clock, now.
    pub fn new() -> Self {
        TokioClock {
            wall: Timestamp::now(),
            start: tokio::time::Instant::now(),
        }
    }

    /// Anchors tokio's clock to `wall`: the clock reads `wall` now.
    pub fn starting_at(wall: Timestamp) -> Self {
        TokioClock {
            wall,
            start: tokio::time::Instant::now(),
        }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for TokioClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokioClock")
            .field("now", &self.now())
            .finish()
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        self.wall.add(self.start.elapsed())
    }

    /// One reading of tokio's clock. Under paused tokio time the instant is
    /// the paused clock's too, so a latency measured from it against the real
    /// clock means nothing there (and comes out as zero, not a panic).
    fn reading(&self) -> (Timestamp, Option<Instant>) {
        let now = tokio::time::Instant::now();
        (
            self.wall.add(now.saturating_duration_since(self.start)),
            Some(now.into_std()),
        )
    }
}

/// The system's wall clock. Timers still run on tokio's clock, so use it only
/// with real (unpaused) time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}
