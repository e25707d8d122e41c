//! Batching: when a batch is due, and its body.

use bytes::{BufMut, Bytes, BytesMut};
use tokio::time::Instant;
use workbus_core::SharedEvent;

use super::config::BatchConfig;

/// The lane key of every event when batching: one lane, so batches go one
/// at a time, in emission order.
pub(super) const BATCH_LANE: &str = "*";

/// When the events waiting in the batch lane may go: `None` now, or the
/// instant the oldest will have waited `max_wait`.
pub(super) fn not_before(
    config: &BatchConfig,
    waiting: usize,
    oldest: Instant,
    draining: bool,
) -> Option<Instant> {
    let due_at = oldest + config.max_wait;
    if draining || waiting >= config.max_events || due_at <= Instant::now() {
        None
    } else {
        Some(due_at)
    }
}

/// The JSON array of a batch, made of the events' shared JSON.
pub(super) fn body(unit: &[SharedEvent]) -> Bytes {
    let len = unit.iter().map(|e| e.json().len() + 1).sum::<usize>() + 2;
    let mut out = BytesMut::with_capacity(len);
    out.put_u8(b'[');
    for (i, e) in unit.iter().enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        out.extend_from_slice(e.json());
    }
    out.put_u8(b']');
    out.freeze()
}
