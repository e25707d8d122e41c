//! Lanes: one queue per resource, so that a resource's events go one request
//! at a time, in emission order, while different resources go in parallel.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use tokio::time::Instant;
use workbus_core::SharedEvent;

use super::batch;
use super::config::BatchConfig;

#[derive(Default)]
struct Lane {
    /// Events waiting, with when they arrived.
    waiting: VecDeque<(Instant, SharedEvent)>,
    /// The unit being sent, kept until it is delivered or dead-lettered.
    sending: Option<Vec<SharedEvent>>,
    /// Whether its key is in the ready queue.
    queued: bool,
}

/// What to send next.
pub(super) enum Next {
    /// This unit (one event, or a batch) of this lane.
    Unit(Arc<str>, Vec<SharedEvent>),
    /// Nothing yet: the batch is due at this instant.
    NotBefore(Instant),
    /// Nothing ready.
    Idle,
}

/// Every lane of a webhook, and the queue of those with something to send.
#[derive(Default)]
pub(super) struct Lanes {
    lanes: HashMap<Arc<str>, Lane>,
    ready: VecDeque<Arc<str>>,
}

impl Lanes {
    /// Adds an event to its lane: its resource's, or the one batch lane.
    pub(super) fn push(&mut self, event: SharedEvent, batching: bool) {
        let id = if batching {
            batch::BATCH_LANE
        } else {
            event.resource.id()
        };
        let key: Arc<str> = match self.lanes.get_key_value(id) {
            Some((k, _)) => k.clone(),
            None => id.into(),
        };
        self.lanes
            .entry(key.clone())
            .or_default()
            .waiting
            .push_back((Instant::now(), event));
        self.wake(&key);
    }

    /// Puts a lane in the ready queue if it has something to send and is not sending.
    pub(super) fn wake(&mut self, key: &str) {
        let Some((key, _)) = self.lanes.get_key_value(key) else {
            return;
        };
        let key = key.clone();
        if let Some(lane) = self.lanes.get_mut(&key) {
            if !lane.queued && lane.sending.is_none() && !lane.waiting.is_empty() {
                lane.queued = true;
                self.ready.push_back(key);
            }
        }
    }

    /// Wakes every lane.
    pub(super) fn wake_all(&mut self) {
        let keys: Vec<Arc<str>> = self.lanes.keys().cloned().collect();
        for key in keys {
            self.wake(&key);
        }
    }

    /// The next unit to send, which its lane then holds as `sending`.
    pub(super) fn next(&mut self, batching: Option<&BatchConfig>, draining: bool) -> Next {
        while let Some(key) = self.ready.pop_front() {
            let Some(lane) = self.lanes.get_mut(&key) else {
                continue;
            };
            lane.queued = false;
            if lane.sending.is_some() || lane.waiting.is_empty() {
                continue;
            }
            let unit: Vec<SharedEvent> = match batching {
                None => lane
                    .waiting
                    .pop_front()
                    .map(|(_, e)| e)
                    .into_iter()
                    .collect(),
                Some(b) => {
                    let oldest = lane.waiting.front().map_or_else(Instant::now, |(t, _)| *t);
                    if let Some(at) = batch::not_before(b, lane.waiting.len(), oldest, draining) {
                        return Next::NotBefore(at);
                    }
                    let n = lane.waiting.len().min(b.max_events);
                    lane.waiting.drain(..n).map(|(_, e)| e).collect()
                }
            };
            lane.sending = Some(unit.clone());
            return Next::Unit(key, unit);
        }
        Next::Idle
    }

    /// The lane `key` finished its unit: returns it, and wakes the lane (or
    /// forgets it when nothing waits).
    pub(super) fn finish(&mut self, key: &Arc<str>) -> Vec<SharedEvent> {
        let Some(lane) = self.lanes.get_mut(key) else {
            return Vec::new();
        };
        let unit = lane.sending.take().unwrap_or_default();
        if lane.waiting.is_empty() {
            self.lanes.remove(key);
        } else {
            self.wake(key);
        }
        unit
    }

    /// After a restart, the requests in flight are gone: puts their units
    /// back at the head of their lanes. Returns how many events that is.
    pub(super) fn resend_in_flight(&mut self) -> usize {
        self.ready.clear();
        let now = Instant::now();
        let mut resent = 0;
        for lane in self.lanes.values_mut() {
            lane.queued = false;
            if let Some(unit) = lane.sending.take() {
                resent += unit.len();
                for e in unit.into_iter().rev() {
                    lane.waiting.push_front((now, e));
                }
            }
        }
        resent
    }
}
