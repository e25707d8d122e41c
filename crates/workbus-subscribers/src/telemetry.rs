//! Where subscribers count what happened: into the metrics when that feature
//! is on and a [`Metrics`](crate::metrics::Metrics) is attached, nowhere otherwise.
//! Losses are always logged by the caller as well, so nothing is lost in silence
//! even without metrics.

use std::time::Duration;

/// Why a subscriber lost an event it had taken: the `reason` label of
/// `workbus_events_dropped_total` (besides the registry's `overflow` and `closed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DropReason {
    /// Its handler panicked while it handled the event.
    Panic,
    /// The line could not be written (the logger).
    WriteFailed,
    /// The dead-letter sink failed (a webhook).
    DeadLetterFailed,
    /// The dead-letter file is at its cap (a webhook).
    DeadLetterFull,
}

impl DropReason {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Panic => "panic",
            DropReason::WriteFailed => "write_failed",
            DropReason::DeadLetterFailed => "dead_letter_failed",
            DropReason::DeadLetterFull => "dead_letter_full",
        }
    }
}

/// A cheap, cloneable sink for counts; a no-op without metrics.
#[derive(Clone, Debug, Default)]
pub(crate) struct Telemetry {
    #[cfg(feature = "metrics")]
    metrics: Option<crate::metrics::Metrics>,
}

#[allow(unused_variables)]
#[cfg_attr(not(feature = "webhook"), allow(dead_code))]
impl Telemetry {
    #[cfg(feature = "metrics")]
    pub(crate) fn new(metrics: Option<crate::metrics::Metrics>) -> Self {
        Telemetry { metrics }
    }

    /// An event reached `subscriber`'s handler `latency` after the bus took it in.
    pub(crate) fn latency(&self, subscriber: &str, latency: Duration) {
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.metrics {
            m.observe_latency(subscriber, latency);
        }
    }

    /// `subscriber` lost an event after taking it, for `reason`.
    pub(crate) fn dropped(&self, subscriber: &str, reason: DropReason) {
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.metrics {
            m.count_dropped(subscriber, reason, 1);
        }
    }

    /// `subscriber` panicked while it handled an event, which is lost, and is
    /// being restarted.
    pub(crate) fn panicked(&self, subscriber: &str) {
        self.dropped(subscriber, DropReason::Panic);
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.metrics {
            m.count_restart(subscriber);
        }
    }

    /// One HTTP attempt of `webhook` ended with `outcome`.
    #[cfg(feature = "webhook")]
    pub(crate) fn request(&self, webhook: &str, outcome: crate::webhook::Outcome) {
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.metrics {
            m.count_request(webhook, outcome.as_str());
        }
    }

    /// `webhook` is about to try again.
    pub(crate) fn retry(&self, webhook: &str) {
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.metrics {
            m.count_retry(webhook);
        }
    }

    /// `webhook` gave `count` events to its dead-letter sink.
    pub(crate) fn dead_lettered(&self, webhook: &str, count: u64) {
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.metrics {
            m.count_dead_letters(webhook, count);
        }
    }
}
