//! A last-seen time and a flag in one atomic word: a worker's last heartbeat,
//! a queue's last poll.
//!
//! ## Why
//!
//! Nearly every heartbeat in a running system comes from a worker its pool
//! already counts online, and nearly every poll hits a queue that is already
//! `READY`: they change nothing but a time. Sending each of them through the
//! actor's mailbox costs two allocations and a task wake-up; moving the time
//! forward in a shared word costs one compare-and-swap. So the actor keeps
//! that time in a [`Beat`] that the bus handle can also reach, and the handle
//! refreshes it in place while its flag is set ([`Beat::refresh`]).
//! Everything that can change a status or emit an event still goes to the
//! actor as a message, in order.
//!
//! ## The protocol
//!
//! The flag means "a refresh changes nothing but the time". Only the owning
//! actor sets or clears it. The handle only moves the time forward, and only
//! of a flagged word. The actor clears the flag either with a
//! compare-and-swap against the exact word it judged expired
//! ([`Beat::expire`]), so a refresh that lands in between wins and the
//! worker stays online, or unconditionally before a status change it decides
//! on the latest time ([`Beat::lock_out`]); refreshes that find the flag
//! clear take the message path, and the actor handles them after.

//!
//! ## Memory orderings
//!
//! The word orders nothing but itself: no other memory is published through
//! it, so every operation could be `Relaxed` and the protocol would still hold,
//! because each decision is a single read-modify-write of the one word (a
//! refresh and an expiry can never both succeed on the same flagged word:
//! one of the two compare-and-swaps fails and sees the other's result). The
//! loads are `Acquire` and the writes `AcqRel` so that a reader that sees a
//! time also sees what the same thread did before moving it; that costs
//! nothing on x86 and keeps the reasoning local. The loom model test
//! (`RUSTFLAGS="--cfg workbus_loom" cargo test -p workbus-core --lib loom`,
//! run in CI) explores every interleaving of a refresh with each actor-side
//! operation.
//!
//! ## Why the shift loses no bits
//!
//! A time is microseconds since 1970 in an `i64`. [`Timestamp`] holds years 0
//! to 9999, at most about 2.5 × 10^17 µs from 1970 either way, and a word
//! holds ±2^62 (about 4.6 × 10^18) after the shift that makes room for the
//! flag; "never" is -2^61, below every time a `Timestamp` can hold. The shift
//! back is arithmetic, so times before 1970 keep their sign.

// Loom's atomics only in the crate's own unit tests: the crate is also built as
// a plain library (its integration tests dev-depend on it), where loom is absent.
#[cfg(all(test, workbus_loom))]
use loom::sync::atomic::{AtomicI64, Ordering};
#[cfg(not(all(test, workbus_loom)))]
use std::sync::atomic::{AtomicI64, Ordering};

use workbus_events::Timestamp;

/// "Never": below every time a [`Timestamp`] can hold.
const NEVER: i64 = i64::MIN >> 2;

/// A time (microseconds, shifted left by one) and a flag (bit 0) in one word.
#[derive(Debug)]
pub(crate) struct Beat(AtomicI64);

fn encode(micros: i64, flag: bool) -> i64 {
    (micros << 1) | i64::from(flag)
}

fn time_of(word: i64) -> i64 {
    // An arithmetic shift, so times before 1970 decode too.
    word >> 1
}

impl Beat {
    /// A word at `at` (`None`: never), flagged or not.
    pub(crate) fn new(at: Option<Timestamp>, flag: bool) -> Self {
        Beat(AtomicI64::new(encode(
            at.map_or(NEVER, Timestamp::as_micros),
            flag,
        )))
    }

    /// The time, `None` if it was never set.
    pub(crate) fn at(&self) -> Option<Timestamp> {
        let t = time_of(self.0.load(Ordering::Acquire));
        (t != NEVER).then(|| Timestamp::from_micros(t))
    }

    /// Whether the flag is set.
    pub(crate) fn is_flagged(&self) -> bool {
        self.0.load(Ordering::Acquire) & 1 == 1
    }

    /// The handle's side: moves the time forward to `now` if the flag is set.
    /// `false` means the flag is clear and the caller must ask the actor.
    pub(crate) fn refresh(&self, now: Timestamp) -> bool {
        let now = now.as_micros();
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                (w & 1 == 1).then(|| encode(time_of(w).max(now), true))
            })
            .is_ok()
    }

    /// The actor's side: moves the time forward to `now` and sets the flag.
    /// Returns whether the flag was already set.
    pub(crate) fn mark(&self, now: Timestamp) -> bool {
        let now = now.as_micros();
        let old = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                Some(encode(time_of(w).max(now), true))
            })
            // The closure always answers `Some`.
            .unwrap_or_else(|w| w);
        old & 1 == 1
    }

    /// The actor's side: sets the time to `at` exactly (`None`: never), keeping the flag.
    pub(crate) fn set(&self, at: Option<Timestamp>) {
        let t = at.map_or(NEVER, Timestamp::as_micros);
        let _ = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                Some(encode(t, w & 1 == 1))
            });
    }

    /// The actor's side: sets the flag, keeping the time.
    pub(crate) fn unlock(&self) {
        self.0.fetch_or(1, Ordering::AcqRel);
    }

    /// The actor's side: clears the flag and returns the latest time, so a
    /// decision taken on it cannot be overtaken by a refresh.
    pub(crate) fn lock_out(&self) -> Option<Timestamp> {
        let t = time_of(self.0.fetch_and(!1, Ordering::AcqRel));
        (t != NEVER).then(|| Timestamp::from_micros(t))
    }

    /// The actor's side: if the flag is set and `time + lifetime` has passed
    /// at `now`, clears the flag and answers `Expired`; a refresh that lands
    /// meanwhile keeps it alive.
    pub(crate) fn expire(&self, now: Timestamp, lifetime: std::time::Duration) -> Expiry {
        let mut w = self.0.load(Ordering::Acquire);
        loop {
            if w & 1 == 0 {
                return Expiry::Clear;
            }
            let deadline = Timestamp::from_micros(time_of(w)).add(lifetime);
            if deadline > now {
                return Expiry::Until(deadline);
            }
            match self
                .0
                .compare_exchange(w, w & !1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Expiry::Expired,
                Err(current) => w = current,
            }
        }
    }
}

/// What [`Beat::expire`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// The flag was already clear.
    Clear,
    /// Still alive until this deadline.
    Until(Timestamp),
    /// The deadline had passed: the flag is now clear.
    Expired,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn t(micros: i64) -> Timestamp {
        Timestamp::from_micros(micros)
    }

    #[test]
    fn refresh_moves_time_forward_only_while_flagged() {
        let b = Beat::new(Some(t(100)), true);
        assert!(b.refresh(t(200)));
        assert!(
            b.refresh(t(150)),
            "an older refresh is taken but never moves time back"
        );
        assert_eq!(b.at(), Some(t(200)));
        assert_eq!(b.lock_out(), Some(t(200)));
        assert!(!b.refresh(t(300)));
        assert_eq!(b.at(), Some(t(200)));
    }

    #[test]
    fn expire_clears_only_past_the_deadline() {
        let b = Beat::new(Some(t(1_000_000)), true);
        let life = Duration::from_secs(1);
        assert_eq!(b.expire(t(1_500_000), life), Expiry::Until(t(2_000_000)));
        assert_eq!(b.expire(t(2_000_000), life), Expiry::Expired);
        assert!(!b.is_flagged());
        assert_eq!(b.expire(t(3_000_000), life), Expiry::Clear);
        assert!(!b.mark(t(3_000_000)), "mark reports the flag was clear");
        assert!(b.mark(t(3_000_001)));
    }

    #[test]
    fn a_refresh_racing_an_expiry_either_keeps_the_word_alive_or_finds_it_expired() {
        let life = Duration::from_micros(1);
        for _ in 0..2_000 {
            let beat = std::sync::Arc::new(Beat::new(Some(t(0)), true));
            let other = beat.clone();
            let refresher = std::thread::spawn(move || other.refresh(t(10)));
            let expiry = beat.expire(t(5), life);
            let refreshed = refresher.join().unwrap();
            match expiry {
                // The refresh came second: it must have found the flag clear.
                Expiry::Expired => {
                    assert!(!refreshed);
                    assert!(!beat.is_flagged());
                    assert_eq!(beat.at(), Some(t(0)));
                }
                // The refresh came first: the expiry saw its time.
                Expiry::Until(deadline) => {
                    assert!(refreshed);
                    assert_eq!(deadline, t(11));
                    assert!(beat.is_flagged());
                }
                Expiry::Clear => panic!("nobody else clears the flag"),
            }
        }
    }

    #[test]
    fn never_and_times_before_1970_round_trip() {
        let b = Beat::new(None, false);
        assert_eq!(b.at(), None);
        b.set(Some(t(-5)));
        assert_eq!(b.at(), Some(t(-5)));
        assert!(!b.is_flagged());
        b.unlock();
        assert!(b.is_flagged());
        assert_eq!(b.at(), Some(t(-5)));
        b.set(None);
        assert_eq!(b.at(), None);
        assert!(b.refresh(t(7)));
        assert_eq!(b.at(), Some(t(7)));
    }
}

/// Every interleaving of a handle's refresh with each of the actor's operations,
/// explored by loom.
#[cfg(all(test, workbus_loom))]
mod loom_tests {
    use std::time::Duration;

    use loom::sync::Arc;
    use loom::thread;

    use super::*;

    fn t(micros: i64) -> Timestamp {
        Timestamp::from_micros(micros)
    }

    #[test]
    fn loom_refresh_against_expire() {
        loom::model(|| {
            let beat = Arc::new(Beat::new(Some(t(0)), true));
            let other = beat.clone();
            let refresher = thread::spawn(move || other.refresh(t(10)));
            let expiry = beat.expire(t(5), Duration::from_micros(1));
            let refreshed = refresher.join().unwrap();
            match expiry {
                Expiry::Expired => {
                    assert!(
                        !refreshed,
                        "a refresh after the expiry must take the message path"
                    );
                    assert!(!beat.is_flagged());
                    assert_eq!(beat.at(), Some(t(0)));
                }
                Expiry::Until(deadline) => {
                    assert!(refreshed);
                    assert_eq!(deadline, t(11));
                    assert!(beat.is_flagged());
                }
                Expiry::Clear => panic!("nobody else clears the flag"),
            }
        });
    }

    #[test]
    fn loom_refresh_against_lock_out() {
        loom::model(|| {
            let beat = Arc::new(Beat::new(Some(t(0)), true));
            let other = beat.clone();
            let refresher = thread::spawn(move || other.refresh(t(10)));
            let latest = beat.lock_out();
            let refreshed = refresher.join().unwrap();
            // The decision's time is the latest: a refresh either came before it
            // (and the actor saw it) or found the flag clear (and changed nothing).
            if refreshed {
                assert_eq!(latest, Some(t(10)));
            } else {
                assert_eq!(latest, Some(t(0)));
                assert_eq!(beat.at(), Some(t(0)));
            }
            assert!(!beat.is_flagged());
        });
    }

    #[test]
    fn loom_refresh_against_mark() {
        loom::model(|| {
            let beat = Arc::new(Beat::new(Some(t(0)), true));
            let other = beat.clone();
            let refresher = thread::spawn(move || other.refresh(t(10)));
            let was_flagged = beat.mark(t(7));
            assert!(refresher.join().unwrap(), "the flag stays set");
            assert!(was_flagged);
            // Time only moves forward, whoever came last.
            assert_eq!(beat.at(), Some(t(10)));
        });
    }
}
