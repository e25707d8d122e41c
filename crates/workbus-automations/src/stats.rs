//! Counters of the automations: what they saw, how often they fired, and what
//! became of their actions.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of an [`Automations`](crate::Automations). Each is a plain count:
/// `Relaxed` is enough, since no other memory is published through them.
#[derive(Debug, Default)]
pub struct AutomationStats {
    events: AtomicU64,
    candidates: AtomicU64,
    firings: AtomicU64,
    executed: AtomicU64,
    failed: AtomicU64,
    retries: AtomicU64,
    dropped: AtomicU64,
    recipient_failures: AtomicU64,
    buckets_refused: AtomicU64,
}

macro_rules! counter {
    ($get:ident, $count:ident, $field:ident, $doc:literal) => {
        #[doc = $doc]
        pub fn $get(&self) -> u64 {
            self.$field.load(Ordering::Relaxed)
        }

        pub(crate) fn $count(&self) {
            self.$field.fetch_add(1, Ordering::Relaxed);
        }
    };
}

impl AutomationStats {
    counter!(
        events,
        count_event,
        events,
        "Events delivered to the automations."
    );
    counter!(
        candidates,
        count_candidate,
        candidates,
        "Triggers that an event's name reached through the index (before resources are checked)."
    );
    counter!(firings, count_firing, firings, "Automations that fired.");
    counter!(
        actions_executed,
        count_executed,
        executed,
        "Actions that succeeded (`prefect.automation.action.executed`)."
    );
    counter!(
        actions_failed,
        count_failed,
        failed,
        "Actions that failed for good (`prefect.automation.action.failed`)."
    );
    counter!(
        action_retries,
        count_retry,
        retries,
        "Attempts of an action repeated after the bus refused it for a passing reason."
    );
    counter!(
        firings_dropped,
        count_dropped,
        dropped,
        "Firings not carried out because their automation had too many waiting (logged)."
    );
    counter!(
        recipient_failures,
        count_recipient_failure,
        recipient_failures,
        "Firings an actix recipient could not take (gone, or its mailbox full)."
    );
    counter!(
        buckets_refused,
        count_bucket_refused,
        buckets_refused,
        "Events not counted because their trigger already had as many buckets as allowed."
    );
}
