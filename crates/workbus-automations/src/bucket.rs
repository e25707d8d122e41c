//! Buckets: the windows in which an event trigger counts its events, and the
//! rules by which it fires, Prefect's (`prefect/server/events/triggers.py`,
//! `evaluate` and `reactive_evaluation`) made to run at the deadline.
//!
//! A trigger keeps one bucket per value of its `for_each` labels. A bucket is a
//! window `[start, end)` and a count. A reactive trigger fires as soon as a
//! bucket's count reaches the threshold; a proactive one when its window closes
//! with fewer. Prefect checks proactive windows in a sweep every few seconds;
//! here the caller arms a timer at each proactive bucket's end and calls
//! [`evaluate`] then, so the firing is stamped with the end of the window.

use std::collections::HashMap;
use std::time::Duration;

use workbus_events::{Event, SharedEvent, Timestamp};

use crate::model::{EventTrigger, Posture};

/// How far back a new rolling bucket reaches, to count events that arrive out of
/// order (Prefect's `PRECEDING_EVENT_LOOKBACK`).
pub(crate) const LOOKBACK: Duration = Duration::from_secs(15 * 60);

/// How long a closed reactive bucket is kept before it is swept (Prefect's
/// `PREFECT_EVENTS_EXPIRED_BUCKET_BUFFER`).
pub(crate) const EXPIRED_BUFFER: Duration = Duration::from_secs(60);

/// The values of a trigger's `for_each` labels, in the order of the sorted labels.
pub(crate) type Key = Vec<String>;

/// One window of one trigger for one key.
#[derive(Clone, Debug)]
pub(crate) struct Bucket {
    pub start: Timestamp,
    pub end: Timestamp,
    pub count: i64,
    pub last_event: Option<SharedEvent>,
}

/// A trigger that fired: its labels and the event that fired it (or the last one
/// it counted, for a proactive firing).
#[derive(Clone, Debug)]
pub(crate) struct Fired {
    pub labels: Vec<(String, String)>,
    pub event: Option<SharedEvent>,
}

/// A trigger's buckets, by key.
pub(crate) type Buckets = HashMap<Key, Bucket>;

/// The bucket key of an event: for each `for_each` label (kept sorted, as Prefect
/// sorts them), its value on the resource, or on the first related resource of a
/// role (`related:<role>:<label>`), or `""`.
pub(crate) fn key(trigger: &EventTrigger, event: &Event) -> Key {
    trigger
        .for_each
        .iter()
        .map(|label| find_label(event, label).unwrap_or_default().to_owned())
        .collect()
}

/// Prefect's `Event.find_resource_label`.
fn find_label<'a>(event: &'a Event, label: &str) -> Option<&'a str> {
    let (directive, related_label) = match label.rfind(':') {
        Some(i) => (&label[..i], &label[i + 1..]),
        None => ("", label),
    };
    let (directive, role) = directive.split_once(':').unwrap_or((directive, ""));
    if directive == "related" {
        if let Some(r) = event.related.iter().find(|r| r.role() == Some(role)) {
            return r.get(related_label);
        }
    }
    event.resource.get(label)
}

fn labels(trigger: &EventTrigger, key: &Key) -> Vec<(String, String)> {
    trigger
        .for_each
        .iter()
        .zip(key)
        .map(|(l, v)| (l.clone(), v.clone()))
        .collect()
}

fn meets_threshold(trigger: &EventTrigger, count: i64) -> bool {
    match trigger.posture {
        Posture::Reactive => count >= trigger.threshold,
        Posture::Proactive => count < trigger.threshold,
    }
}

/// An event the trigger covers (by name and resources): opens or finds its
/// bucket and counts it. Prefect's `reactive_evaluation` for one trigger.
pub(crate) fn on_event(
    trigger: &EventTrigger,
    buckets: &mut Buckets,
    key: Key,
    event: &SharedEvent,
) -> Option<Fired> {
    let name: &str = &event.event;
    let now = event.occurred;
    let within = trigger.within.get();
    let mut opened = false;
    if trigger.starts_after(name) {
        // An event both `after` and `expect` opens the next window and counts in
        // the one before; starting at -1 leaves a new window at 0 after it.
        let count = if trigger.expects(name) { -1 } else { 0 };
        buckets.entry(key.clone()).or_insert_with(|| Bucket {
            start: now,
            end: now + within,
            count,
            last_event: Some(event.clone()),
        });
        opened = true;
    }
    if !opened && trigger.after.is_empty() && trigger.expects(name) {
        buckets.entry(key.clone()).or_insert_with(|| Bucket {
            start: now - LOOKBACK,
            end: now + within,
            count: 0,
            last_event: Some(event.clone()),
        });
    }
    if !trigger.expects(name) {
        return None;
    }
    let mut slot = buckets.remove(&key);
    let fired = evaluate(trigger, &key, &mut slot, now, Some(event));
    if let Some(bucket) = slot {
        buckets.insert(key, bucket);
    }
    fired
}

/// Prefect's `evaluate`: counts the event (if any) in the bucket, fires if the
/// bucket is ready and meets its threshold, and leaves in `slot` the bucket that
/// comes next (none when the trigger waits for an `after` event again).
pub(crate) fn evaluate(
    trigger: &EventTrigger,
    key: &Key,
    slot: &mut Option<Bucket>,
    now: Timestamp,
    event: Option<&SharedEvent>,
) -> Option<Fired> {
    let mut bucket = slot.take()?;
    let mut count = i64::from(event.is_some());
    if now < bucket.start {
        // Late, or within the rest of a window that already fired: ignored.
        *slot = Some(bucket);
        return None;
    }
    let previous_last = bucket.last_event.clone();
    if count > 0 && (trigger.immediate() || (bucket.start <= now && now < bucket.end)) {
        bucket.count += count;
        bucket.last_event = event.cloned();
        count = 0;
    }
    let ready = trigger.posture == Posture::Reactive || bucket.end <= now;
    let meets = meets_threshold(trigger, bucket.count);
    let mut fired = None;
    if ready && meets {
        fired = Some(Fired {
            labels: labels(trigger, key),
            event: event.cloned().or_else(|| bucket.last_event.clone()),
        });
    } else if now < bucket.end {
        if let Some(e) = event {
            // A proactive trigger whose `after` and `expect` share this event (a
            // heartbeat): the event starts the next window.
            if trigger.posture == Posture::Proactive
                && !meets
                && trigger.starts_after(&e.event)
                && trigger.expects(&e.event)
            {
                let last = match previous_last {
                    Some(p)
                        if trigger.expects(&p.event)
                            && !trigger.starts_after(&p.event)
                            && p.occurred >= e.occurred =>
                    {
                        p
                    }
                    _ => e.clone(),
                };
                *slot = Some(Bucket {
                    start: e.occurred,
                    end: e.occurred + trigger.within.get(),
                    count: 0,
                    last_event: Some(last),
                });
                return None;
            }
        }
        *slot = Some(bucket);
        return None;
    }
    // The window closed, or the trigger fired: what comes next.
    if !trigger.after.is_empty() {
        return fired;
    }
    if trigger.within.is_zero() {
        // Prefect leaves a bucket that did not fire as it is (its count carries on).
        if fired.is_none() {
            *slot = Some(bucket);
        }
        return fired;
    }
    let start = bucket.end.max(now);
    let end = start + trigger.within.get();
    if trigger.posture == Posture::Reactive && count > 0 {
        // An event past the window: it opens the next one and may fire it.
        *slot = Some(Bucket {
            start,
            end,
            count: 0,
            last_event: None,
        });
        let again = evaluate(trigger, key, slot, now, event);
        return fired.or(again);
    }
    *slot = Some(Bucket {
        start,
        end,
        count,
        last_event: None,
    });
    fired
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ResourceSpec;
    use workbus_events::Resource;

    fn event(name: &'static str, pool: &str, at: Timestamp) -> SharedEvent {
        SharedEvent::new(Event {
            occurred: at,
            event: name.into(),
            resource: Resource::builder()
                .label("prefect.resource.id", format!("prefect.work-pool.{pool}"))
                .build()
                .unwrap(),
            related: workbus_events::no_related(),
            payload: Default::default(),
            id: uuid::Uuid::now_v7(),
            follows: None,
            received: None,
        })
    }

    fn fire_on(trigger: &EventTrigger, buckets: &mut Buckets, e: &SharedEvent) -> Option<Fired> {
        on_event(trigger, buckets, key(trigger, e), e)
    }

    fn t0() -> Timestamp {
        "2026-12-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_reactive_threshold_fires_once_per_window() {
        let trigger = EventTrigger::new(Posture::Reactive)
            .matching(ResourceSpec::new())
            .expect(["prefect.work-pool.not-ready"])
            .threshold(2)
            .within(Duration::from_secs(60))
            .unwrap();
        let mut buckets = Buckets::new();
        let at = |s| t0() + Duration::from_secs(s);
        let fire = |b: &mut Buckets, s| {
            fire_on(
                &trigger,
                b,
                &event("prefect.work-pool.not-ready", "a", at(s)),
            )
            .is_some()
        };
        assert!(!fire(&mut buckets, 0));
        assert!(fire(&mut buckets, 10));
        // The rest of the window is spent; the next one opens at its end.
        assert!(!fire(&mut buckets, 20));
        assert!(!fire(&mut buckets, 30));
        assert!(!fire(&mut buckets, 61 * 15));
        assert!(fire(&mut buckets, 61 * 15 + 1));
    }

    #[test]
    fn for_each_keeps_a_bucket_per_value() {
        let trigger = EventTrigger::new(Posture::Reactive)
            .expect(["prefect.work-pool.not-ready"])
            .for_each(["prefect.resource.id"])
            .threshold(2)
            .within(Duration::from_secs(60))
            .unwrap();
        let mut buckets = Buckets::new();
        let e = |pool, s| {
            event(
                "prefect.work-pool.not-ready",
                pool,
                t0() + Duration::from_secs(s),
            )
        };
        assert!(fire_on(&trigger, &mut buckets, &e("a", 0)).is_none());
        assert!(fire_on(&trigger, &mut buckets, &e("b", 1)).is_none());
        let fired = fire_on(&trigger, &mut buckets, &e("a", 2)).unwrap();
        assert_eq!(
            fired.labels,
            vec![(
                "prefect.resource.id".to_owned(),
                "prefect.work-pool.a".to_owned()
            )]
        );
        assert_eq!(buckets.len(), 2);
    }

    #[test]
    fn an_event_both_after_and_expected_restarts_the_window_as_a_heartbeat() {
        // Prefect's crash detection: after each heartbeat, the next is expected within 10 s.
        let trigger = EventTrigger::new(Posture::Proactive)
            .after(["acme.heartbeat"])
            .expect(["acme.heartbeat"])
            .within(Duration::from_secs(10))
            .unwrap();
        let at = |s| t0() + Duration::from_secs(s);
        let mut buckets = Buckets::new();
        for s in [0, 5, 12] {
            assert!(
                fire_on(&trigger, &mut buckets, &event("acme.heartbeat", "a", at(s))).is_none()
            );
        }
        let (key, bucket) = buckets.drain().next().unwrap();
        assert_eq!(
            (bucket.start, bucket.end, bucket.count),
            (at(12), at(22), 0)
        );
        let mut slot = Some(bucket.clone());
        assert!(
            evaluate(&trigger, &key, &mut slot, at(21), None).is_none(),
            "not before its end"
        );
        let mut slot = Some(bucket);
        let fired = evaluate(&trigger, &key, &mut slot, at(22), None).unwrap();
        assert_eq!(
            fired.event.unwrap().occurred,
            at(12),
            "the last heartbeat is the context"
        );
    }

    #[test]
    fn for_each_reaches_a_related_resource_by_role() {
        let trigger = EventTrigger::new(Posture::Reactive).for_each([
            "related:work-pool:prefect.resource.name",
            "prefect.resource.id",
        ]);
        let mut e = event("prefect.work-queue.ready", "q", t0());
        e.make_mut().related = std::sync::Arc::from(vec![Resource::builder()
            .label("prefect.resource.id", "prefect.work-pool.1")
            .label("prefect.resource.name", "etl")
            .label("prefect.resource.role", "work-pool")
            .build_related()
            .unwrap()]);
        // Sorted as Prefect sorts the labels: `prefect.resource.id` before `related:…`.
        assert_eq!(
            key(&trigger, &e),
            vec!["prefect.work-pool.q".to_owned(), "etl".to_owned()]
        );
        let missing = event("prefect.work-queue.ready", "q", t0());
        assert_eq!(
            key(&trigger, &missing),
            vec!["prefect.work-pool.q".to_owned(), String::new()]
        );
    }

    #[test]
    fn a_proactive_window_fires_at_its_end_only_without_the_expected_event() {
        let trigger = EventTrigger::new(Posture::Proactive)
            .after(["prefect.work-pool.not-ready"])
            .expect(["prefect.work-pool.ready"])
            .for_each(["prefect.resource.id"])
            .within(Duration::from_secs(300))
            .unwrap();
        let at = |s| t0() + Duration::from_secs(s);
        let mut buckets = Buckets::new();
        fire_on(
            &trigger,
            &mut buckets,
            &event("prefect.work-pool.not-ready", "a", at(0)),
        );
        fire_on(
            &trigger,
            &mut buckets,
            &event("prefect.work-pool.not-ready", "b", at(0)),
        );
        fire_on(
            &trigger,
            &mut buckets,
            &event("prefect.work-pool.ready", "b", at(299)),
        );
        let mut fired = Vec::new();
        for (key, bucket) in buckets.drain() {
            assert_eq!(bucket.end, at(300));
            let mut slot = Some(bucket);
            if let Some(f) = evaluate(&trigger, &key, &mut slot, at(300), None) {
                fired.push(f.labels[0].1.clone());
            }
            assert!(
                slot.is_none(),
                "an `after` trigger waits for its next `after` event"
            );
        }
        assert_eq!(fired, vec!["prefect.work-pool.a".to_owned()]);
    }
}
