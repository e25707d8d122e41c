//! Prefect's event filters: parsed from Prefect's JSON, matched in memory, and used to route
//! live events to subscribers.

mod support;

use serde_json::json;
use support::*;
use workbus_core::{BusConfig, CreatePool, CreateQueue, Event, EventFilter};

fn filter(v: serde_json::Value) -> EventFilter {
    serde_json::from_value(v).unwrap()
}

fn queue_ready() -> Event {
    serde_json::from_value(json!({
        "occurred": "2026-12-01T06:27:49.768505Z",
        "event": "prefect.work-queue.ready",
        "resource": {"prefect.resource.id": "prefect.work-queue.1f8c7147-849f-45d3-a4eb-48b5e25c00e3",
                     "prefect.resource.name": "q2", "prefect.resource.role": "work-queue"},
        "related": [{"prefect.resource.id": "prefect.work-pool.dd18f2e4-7889-416c-a057-1e0867d1f37d",
                     "prefect.resource.name": "rs-pool", "prefect.work-pool.type": "process",
                     "prefect.resource.role": "work-pool"}],
        "payload": {"note": "Connection Timeout"},
        "id": "01a23049-c189-7c5b-a5d1-ea326457d9ea"
    }))
    .unwrap()
}

#[test]
fn event_name_prefix_exclude_prefix_name_exclude_name() {
    let e = queue_ready();
    assert!(
        filter(json!({"event": {"prefix": ["prefect.work-pool.", "prefect.work-queue."]}}))
            .matches(&e)
    );
    assert!(!filter(json!({"event": {"prefix": ["prefect.work-pool."]}})).matches(&e));
    assert!(!filter(json!({"event": {"exclude_prefix": ["prefect.work-queue."]}})).matches(&e));
    assert!(filter(json!({"event": {"name": ["x", "prefect.work-queue.ready"]}})).matches(&e));
    assert!(!filter(json!({"event": {"name": ["prefect.work-queue"]}})).matches(&e));
    assert!(!filter(json!({"event": {"exclude_name": ["prefect.work-queue.ready"]}})).matches(&e));
    // Prefect skips an empty list of names or prefixes.
    assert!(filter(json!({"event": {"prefix": [], "name": []}})).matches(&e));
}

#[test]
fn resource_id_id_prefix_and_labels_with_globs_and_negation() {
    let e = queue_ready();
    let id = "prefect.work-queue.1f8c7147-849f-45d3-a4eb-48b5e25c00e3";
    assert!(filter(json!({"resource": {"id": [id]}})).matches(&e));
    assert!(!filter(json!({"resource": {"id": ["prefect.work-queue.other"]}})).matches(&e));
    assert!(filter(json!({"resource": {"id_prefix": ["prefect.work-queue."]}})).matches(&e));
    assert!(filter(json!({"resource": {"labels": {"prefect.resource.name": "q*"}}})).matches(&e));
    assert!(
        filter(json!({"resource": {"labels": {"prefect.resource.name": ["x", "q?"]}}})).matches(&e)
    );
    assert!(
        filter(json!({"resource": {"labels": {"prefect.resource.name": "[pq]2"}}})).matches(&e)
    );
    assert!(!filter(json!({"resource": {"labels": {"prefect.resource.name": "!q2"}}})).matches(&e));
    assert!(filter(json!({"resource": {"labels": {"prefect.resource.name": "!q3"}}})).matches(&e));
    // A missing label never matches, not even a negated pattern.
    assert!(
        !filter(json!({"resource": {"labels": {"prefect.work-pool.type": "!docker"}}})).matches(&e)
    );
    // Every label must match; an empty list matches nothing.
    assert!(!filter(json!({"resource": {"labels": {"prefect.resource.name": "q2", "prefect.resource.role": "x"}}})).matches(&e));
    assert!(!filter(json!({"resource": {"labels": {"prefect.resource.name": []}}})).matches(&e));
}

#[test]
fn related_filters_apply_to_live_events_too() {
    let e = queue_ready();
    let pool = "prefect.work-pool.dd18f2e4-7889-416c-a057-1e0867d1f37d";
    assert!(filter(json!({"related": {"role": ["work-pool"]}})).matches(&e));
    assert!(
        !filter(json!({"related": {"role": ["bogus-role"]}})).matches(&e),
        "Prefect would let this through live"
    );
    assert!(filter(json!({"related": {"id": [pool]}})).matches(&e));
    assert!(filter(json!({"related": {"resources_in_roles": [[pool, "work-pool"]]}})).matches(&e));
    assert!(
        !filter(json!({"related": {"resources_in_roles": [[pool, "default-queue"]]}})).matches(&e)
    );
    assert!(
        filter(json!({"related": {"labels": {"prefect.work-pool.type": "proc*"}}})).matches(&e)
    );
    // A list of related filters: all must match.
    assert!(!filter(json!({"related": [{"role": ["work-pool"]}, {"id": ["nope"]}]})).matches(&e));
    // The same related resource must satisfy every criterion of one filter.
    assert!(!filter(json!({"related": {"id": [pool], "role": ["work-queue"]}})).matches(&e));
}

#[test]
fn any_resource_matches_primary_or_related() {
    let e = queue_ready();
    assert!(filter(json!({"any_resource": {"id_prefix": ["prefect.work-pool."]}})).matches(&e));
    assert!(
        filter(json!({"any_resource": {"labels": {"prefect.resource.role": "work-queue"}}}))
            .matches(&e)
    );
    assert!(!filter(json!({"any_resource": {"id": ["prefect.flow-run.1"]}})).matches(&e));
    assert!(!filter(
        json!({"any_resource": [{"id_prefix": ["prefect.work-pool."]}, {"id": ["x"]}]})
    )
    .matches(&e));
}

#[test]
fn occurred_id_and_text() {
    let e = queue_ready();
    assert!(filter(
        json!({"occurred": {"since": "2026-12-01T06:00:00Z", "until": "2026-12-01T07:00:00+00:00"}})
    )
    .matches(&e));
    assert!(!filter(json!({"occurred": {"until": "2026-12-01T06:27:49.768504Z"}})).matches(&e));
    assert!(
        filter(json!({"occurred": {"since": "2026-12-01T06:27:49.768505Z"}})).matches(&e),
        "bounds are inclusive"
    );
    assert!(filter(json!({"id": {"id": ["01a23049-c189-7c5b-a5d1-ea326457d9ea"]}})).matches(&e));
    assert!(!filter(json!({"id": {"id": ["01a23049-c189-7c5b-a5d1-ea326457d9eb"]}})).matches(&e));
    assert!(filter(json!({"text": {"query": "rs-pool"}})).matches(&e));
    assert!(filter(json!({"text": {"query": "\"connection timeout\""}})).matches(&e));
    assert!(!filter(json!({"text": {"query": "q2 -rs-pool"}})).matches(&e));
    assert!(!filter(json!({"text": {"query": "+q2 +docker"}})).matches(&e));
}

#[test]
fn prefect_filter_json_parses_and_unknown_fields_are_refused() {
    // What Prefect's own client sends.
    let f = filter(json!({
        "occurred": {"since": "2026-12-01T06:26:00.000000Z", "until": "2027-12-01T06:27:00.000000Z"},
        "event": {"prefix": ["prefect.work-pool."], "exclude_prefix": null, "name": null, "exclude_name": null},
        "resource": {"id": null, "id_prefix": null, "labels": null, "distinct": false},
        "related": null, "any_resource": null, "id": {"id": null}, "text": null,
        "order": "ASC"
    }));
    assert_eq!(f.order, workbus_events::filter::Order::Asc);
    for bad in [
        json!({"bogus": 1}),
        json!({"event": {"prefixes": ["x"]}}),
        json!({"resource": {"labels": {"a": 1}}}),
        json!({"occurred": {"since": "yesterday"}}),
        json!({"order": "SIDEWAYS"}),
        json!({"text": {"query": "x".repeat(201)}}),
    ] {
        assert!(
            serde_json::from_value::<EventFilter>(bad.clone()).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn subscribers_receive_only_what_their_filter_matches() {
    paused(|| async {
        let bus = bus_at_t0(BusConfig::default());
        let a = bus
            .create_pool(CreatePool::new("a", "process"))
            .await
            .unwrap();
        let b = bus
            .create_pool(CreatePool::new("b", "docker"))
            .await
            .unwrap();
        let q = bus.create_queue("a", CreateQueue::new("qa")).await.unwrap();
        let pool_a = format!("prefect.work-pool.{}", a.id);
        let only_a = collect(&bus, EventFilter::resource_ids([pool_a.clone()])).await;
        let a_and_its_queues = collect(&bus, EventFilter::any_resource_ids([pool_a.clone()])).await;
        let dockers = collect(
            &bus,
            filter(json!({"any_resource": {"labels": {"prefect.work-pool.type": "docker"}}})),
        )
        .await;
        let queue_q = collect(
            &bus,
            EventFilter::resource_ids([format!("prefect.work-queue.{}", q.id)]),
        )
        .await;
        let everything = collect(&bus, EventFilter::all()).await;
        bus.heartbeat("a", "w").await.unwrap();
        bus.heartbeat("b", "w").await.unwrap();
        bus.poll_all("a").await.unwrap();
        bus.poll_all("b").await.unwrap();
        settle(&bus).await;
        assert_eq!(only_a.names(), ["prefect.work-pool.ready"]);
        assert_eq!(
            a_and_its_queues.names(),
            [
                "prefect.work-pool.ready",
                "prefect.work-queue.ready",
                "prefect.work-queue.ready"
            ]
        );
        assert_eq!(
            dockers.names(),
            ["prefect.work-pool.ready", "prefect.work-queue.ready"]
        );
        assert!(dockers
            .events()
            .iter()
            .all(|e| e.resource.id().contains(&b.id.to_string())
                || e.related.iter().any(|r| r.id().contains(&b.id.to_string()))));
        assert_eq!(queue_q.names(), ["prefect.work-queue.ready"]);
        assert_eq!(everything.len(), 5);
    });
}

#[test]
fn a_thousand_filtered_subscribers_each_see_their_own_pool() {
    paused(|| async {
        let bus = bus_at_t0(BusConfig::default());
        let mut subs = Vec::new();
        for i in 0..1000 {
            let pool = bus
                .create_pool(CreatePool::new(format!("p{i}"), "process"))
                .await
                .unwrap();
            let seen = collect(
                &bus,
                EventFilter::resource_ids([format!("prefect.work-pool.{}", pool.id)]),
            )
            .await;
            subs.push(seen);
        }
        for i in (0..1000).step_by(7) {
            bus.heartbeat(&format!("p{i}"), "w").await.unwrap();
        }
        settle(&bus).await;
        for (i, seen) in subs.iter().enumerate() {
            let want: &[&str] = if i % 7 == 0 {
                &["prefect.work-pool.ready"]
            } else {
                &[]
            };
            assert_eq!(seen.names(), want, "subscriber {i}");
        }
    });
}
