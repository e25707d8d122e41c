//! Each thread's spare event allocations.
//!
//! A [`SharedEvent`](crate::SharedEvent) is one allocation of about 300
//! bytes, made when the event is emitted and freed when its last subscriber
//! drops it. The bus emits events in bursts (an actor's mailbox, the
//! registry's outbox), and glibc's per-thread cache keeps only seven chunks of
//! a size: past them, a chunk this large takes the allocator's slow path both
//! ways. This list keeps up to [`KEPT`] freed event allocations per thread and
//! hands them back to the next events made there, where the producer and the
//! subscribers share a thread, as they do on one arbiter.
//!
//! ## What a spare holds on to
//!
//! A spare still holds its last event until it is reused, so only the bus's
//! own events are kept: those named from the static catalogue (a parsed
//! event's name is its own string), with at most [`MAX_RELATED`] related
//! resources. Their labels are the actors' (pool and queue names, ids), which
//! the actors hold anyway; a client's event, whose labels and name can be as
//! large as the body limit allows, is freed as before. The JSON and the payload
//! (a pool's `updated` changes) are dropped when a spare is kept. So a spare
//! holds its fixed size and a few labels, and a thread at most [`KEPT`] of them.

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::Arc;

use crate::shared::Inner;

/// The most spares a thread keeps.
pub(crate) const KEPT: usize = 256;

/// An event with more related resources than this is freed, not kept.
pub(crate) const MAX_RELATED: usize = 4;

thread_local! {
    static SPARE: RefCell<Vec<Arc<Inner>>> = const { RefCell::new(Vec::new()) };
}

/// `inner`, shared: in a spare allocation of this thread's when there is one.
pub(crate) fn share(inner: Inner) -> Arc<Inner> {
    let spare = SPARE
        .try_with(|s| s.try_borrow_mut().ok().and_then(|mut s| s.pop()))
        .ok()
        .flatten();
    match spare {
        Some(mut arc) => match Arc::get_mut(&mut arc) {
            // The old event is dropped here, where freeing it would have been.
            Some(slot) => {
                *slot = inner;
                arc
            }
            None => Arc::new(inner),
        },
        None => Arc::new(inner),
    }
}

/// Takes a dropped handle: kept as a spare when it was the last one and the
/// thread has room, else dropped as usual.
pub(crate) fn keep(mut arc: Arc<Inner>) {
    // Most drops at a large fan-out are not the last: they only decrement,
    // without `get_mut`'s compare-and-swap. A count of 1 cannot grow under
    // us (no other handle, no `Weak`); `get_mut` then acquires the writes
    // the other handles made before they dropped.
    if Arc::strong_count(&arc) != 1 {
        return;
    }
    let Some(inner) = Arc::get_mut(&mut arc) else {
        return;
    };
    if matches!(inner.event.event, Cow::Owned(_)) || inner.event.related.len() > MAX_RELATED {
        return;
    }
    // What could be large goes now, not when the spare is reused.
    inner.json.take();
    if !inner.event.payload.is_empty() {
        inner.event.payload = crate::Payload::new();
    }
    // During the thread's exit, or if a drop below re-enters, the handle is
    // simply freed.
    let _ = SPARE.try_with(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            if s.len() < KEPT {
                s.push(arc);
            }
        }
    });
}

/// How many spares this thread holds.
#[cfg(test)]
pub(crate) fn held() -> usize {
    SPARE.with_borrow(Vec::len)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use serde_json::json;
    use uuid::Uuid;

    use super::{held, KEPT, MAX_RELATED, SPARE};
    use crate::prefect::{self, PoolLabels, Status};
    use crate::{Event, Resource, SharedEvent, Timestamp};

    fn status(name: &str, status: Status) -> Event {
        let pool = PoolLabels::new(Uuid::nil(), name, "process");
        prefect::pool_status(&pool, status, Timestamp::EPOCH, Uuid::now_v7(), None)
    }

    /// Each test on a thread of its own: the spares are per thread.
    fn on_a_new_thread(test: impl FnOnce() + Send + 'static) {
        std::thread::spawn(test).join().expect("the test passes");
    }

    #[test]
    fn the_next_event_reuses_a_dropped_one_and_encodes_its_own_json() {
        on_a_new_thread(|| {
            let first = SharedEvent::new(status("etl", Status::Paused));
            let first_json = first.json().clone();
            let at = first.address();
            drop(first);
            assert_eq!(held(), 1);
            let second = SharedEvent::new(status("ml", Status::Ready));
            assert_eq!(second.address(), at, "the allocation is reused");
            assert_eq!(held(), 0);
            assert_eq!(second.json(), &Bytes::from(second.event().to_json()));
            assert_ne!(second.json(), &first_json);
            assert_eq!(second.resource.name(), Some("ml"));
        });
    }

    #[test]
    fn an_event_is_kept_only_when_its_last_handle_drops() {
        on_a_new_thread(|| {
            let event = SharedEvent::new(status("etl", Status::Paused));
            let other = event.clone();
            drop(event);
            assert_eq!(held(), 0, "another handle still reads it");
            assert_eq!(other.resource.name(), Some("etl"));
            drop(other);
            assert_eq!(held(), 1);
        });
    }

    #[test]
    fn a_thread_keeps_at_most_kept_spares() {
        on_a_new_thread(|| {
            let events: Vec<_> = (0..KEPT + 10)
                .map(|_| SharedEvent::new(status("etl", Status::Ready)))
                .collect();
            drop(events);
            assert_eq!(held(), KEPT);
        });
    }

    #[test]
    fn a_spare_lets_go_of_its_json_and_payload() {
        on_a_new_thread(|| {
            let mut event = status("etl", Status::Ready);
            event
                .payload
                .insert("big".into(), json!("x".repeat(1 << 16)));
            let event = SharedEvent::new(event);
            assert!(event.json().len() > 1 << 16);
            drop(event);
            SPARE.with_borrow(|s| {
                assert_eq!(s.len(), 1);
                assert!(s[0].json.get().is_none());
                assert!(s[0].event.payload.is_empty());
            });
        });
    }

    #[test]
    fn an_event_with_many_related_resources_is_freed() {
        on_a_new_thread(|| {
            let mut event = status("etl", Status::Ready);
            let related: Vec<Resource> = (0..=MAX_RELATED)
                .map(|i| {
                    Resource::builder()
                        .label("prefect.resource.id", format!("r{i}"))
                        .build()
                        .expect("a resource with an id")
                })
                .collect();
            event.related = related.into();
            drop(SharedEvent::new(event));
            assert_eq!(held(), 0);
        });
    }

    #[test]
    fn a_parsed_event_is_freed_not_kept() {
        on_a_new_thread(|| {
            let json = status("etl", Status::Ready).to_json();
            let parsed = Event::from_json(&json).expect("our own JSON parses");
            drop(SharedEvent::new(parsed));
            assert_eq!(held(), 0, "a client's labels are not held on to");
        });
    }

    #[test]
    fn an_event_dropped_on_another_thread_is_kept_there() {
        on_a_new_thread(|| {
            let event = SharedEvent::new(status("etl", Status::Paused));
            let at = event.address() as usize;
            let kept_there = std::thread::spawn(move || {
                drop(event);
                SPARE.with_borrow(|s| s.iter().any(|a| Arc::as_ptr(a) as usize == at))
            })
            .join()
            .expect("the other thread drops it");
            assert!(kept_there);
            assert_eq!(held(), 0, "the maker's thread has none to reuse");
        });
    }

    /// Threads make events, hand clones to each other and drop them in any
    /// order, reusing spares all the while: a handle always reads the event
    /// it was given, so no allocation is reused while a handle to it lives.
    #[test]
    fn a_reused_allocation_never_changes_under_a_live_handle() {
        const THREADS: usize = 4;
        const EVENTS: usize = 5_000;
        let (senders, receivers): (Vec<_>, Vec<_>) = (0..THREADS)
            .map(|_| std::sync::mpsc::channel::<(SharedEvent, String)>())
            .unzip();
        let workers: Vec<_> = receivers
            .into_iter()
            .enumerate()
            .map(|(t, inbox)| {
                let peers = senders.clone();
                std::thread::spawn(move || {
                    let mut held = Vec::new();
                    for k in 0..EVENTS {
                        let name = format!("t{t}-{k}");
                        let event = SharedEvent::new(status(&name, Status::Ready));
                        let _ = peers[(t + k) % THREADS].send((event.clone(), name.clone()));
                        held.push((event, name));
                        if k % 7 == 0 {
                            held.drain(..held.len() / 2);
                        }
                        while let Ok(got) = inbox.try_recv() {
                            held.push(got);
                        }
                        for (event, name) in held.iter().rev().take(8) {
                            assert_eq!(event.resource.name(), Some(name.as_str()));
                        }
                    }
                    drop(peers);
                    for (event, name) in held
                        .iter()
                        .chain(inbox.try_iter().collect::<Vec<_>>().iter())
                    {
                        assert_eq!(event.resource.name(), Some(name.as_str()));
                    }
                })
            })
            .collect();
        drop(senders);
        for w in workers {
            w.join().expect("every handle read its own event");
        }
    }
}
