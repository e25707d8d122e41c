//! Where subscribers count what happened: into the metrics when that feature
//! is on and a [`Metrics`](crate::metrics::Metrics) is attached, nowhere otherwise.
//! Losses are always logged by the caller as well, so nothing is lost in silence
//! even without metrics.

use std::time::Duration;

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
    pub(crate) fn dropped(&self, subscriber: &str, reason: &'static str) {
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.metrics {
            m.count_dropped(subscriber, reason, 1);
        }
    }

    /// `subscriber` panicked and is being restarted.
    pub(crate) fn restarted(&self, subscriber: &str) {
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.metrics {
            m.count_restart(subscriber);
        }
    }

    /// One HTTP attempt of `webhook` ended with `outcome`.
    pub(crate) fn request(&self, webhook: &str, outcome: &'static str) {
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.metrics {
            m.count_request(webhook, outcome);
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
