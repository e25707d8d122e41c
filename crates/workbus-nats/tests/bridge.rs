//! Two buses sharing events through the real NATS server at 127.0.0.1:4222.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use async_nats::HeaderMap;
use support::*;
use uuid::Uuid;
use workbus_core::{Bus, CreatePool, SharedEvent};
use workbus_events::Event;
use workbus_nats::{Error, NatsBridge, NatsConfig, MSG_ID_HEADER, ORIGIN_HEADER, UNKNOWN_ORIGIN};

const WAIT: Duration = Duration::from_secs(10);

#[actix_rt::test]
async fn two_buses_share_events_both_ways_once_each_without_echo() {
    init_logs();
    let ts = TestStream::new(NATS_URL);
    let (node_a, node_b) = (node("a"), node("b"));
    let (a, b) = (Bus::start(), Bus::start());
    let (seen_a, seen_b) = (collect(&a).await, collect(&b).await);
    let bridge_a = NatsBridge::start(&a, ts.config(&node_a)).await.unwrap();
    let bridge_b = NatsBridge::start(&b, ts.config(&node_b)).await.unwrap();

    a.create_pool(CreatePool::new("pool-a", "process"))
        .await
        .unwrap();
    b.create_pool(CreatePool::new("pool-b", "process"))
        .await
        .unwrap();
    b.heartbeat("pool-b", "worker-1").await.unwrap();
    bridge_a.flush().await.unwrap();
    bridge_b.flush().await.unwrap();

    // The stream holds each event once: 3 from a, 4 from b (created x2, not-ready, ready).
    let stored = ts.messages().await;
    assert_eq!(stored.len(), 7);

    // Each source has seen the whole stream: its own events skipped, the other's ingested.
    let (sa, sb) = (bridge_a.stats(), bridge_b.stats());
    wait_until(WAIT, "both sources to read the stream", || {
        sa.source.received() == 7 && sb.source.received() == 7 && sa.source.acks_pending() == 0
    })
    .await;
    a.flush().await.unwrap();
    b.flush().await.unwrap();
    wait_until(WAIT, "the collectors", || {
        seen_a.len() == 7 && seen_b.len() == 7
    })
    .await;

    for (seen, here, there) in [(&seen_a, &node_a, &node_b), (&seen_b, &node_b, &node_a)] {
        let local = seen.local();
        let remote = seen.remote();
        // Every remote event once, with its origin, the same bytes as on its own node.
        let other = if here == &node_a { &seen_b } else { &seen_a };
        let theirs = other.local();
        assert_eq!(
            remote.len(),
            theirs.len(),
            "{here} sees each of {there}'s events once"
        );
        for (r, t) in remote.iter().zip(&theirs) {
            assert_eq!(r.id, t.id);
            assert_eq!(r.origin(), Some(there.as_str()));
            assert_eq!(r.json(), t.json());
        }
        // Nothing came back: all events with this node's ids are local ones.
        let local_ids: HashSet<Uuid> = local.iter().map(|e| e.id).collect();
        assert!(
            remote.iter().all(|e| !local_ids.contains(&e.id)),
            "{here} got an echo"
        );
    }
    assert_eq!(sa.publisher.published(), 3);
    assert_eq!(sa.publisher.skipped_remote(), 4);
    assert_eq!(sb.publisher.published(), 4);
    assert_eq!(sb.publisher.skipped_remote(), 3);
    assert_eq!((sa.source.ingested(), sa.source.skipped_own()), (4, 3));
    assert_eq!((sb.source.ingested(), sb.source.skipped_own()), (3, 4));
    assert_eq!(sa.source.duplicates() + sb.source.duplicates(), 0);
    assert_eq!(sa.publisher.lost() + sb.publisher.lost(), 0);

    bridge_a.shutdown().await.unwrap();
    bridge_b.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn each_message_carries_the_json_the_id_and_the_origin() {
    init_logs();
    let ts = TestStream::new(NATS_URL);
    let n = node("a");
    let a = Bus::start();
    let seen = collect(&a).await;
    let bridge = NatsBridge::start(&a, ts.config(&n)).await.unwrap();
    a.create_pool(CreatePool::new("etl", "process"))
        .await
        .unwrap();
    bridge.flush().await.unwrap();

    let stored = ts.messages().await;
    let local = seen.events();
    assert_eq!(stored.len(), 3);
    for (m, e) in stored.iter().zip(&local) {
        assert_eq!(m.subject.as_str(), format!("{}.{}", ts.prefix, e.event));
        assert_eq!(
            &m.payload,
            e.json(),
            "the body is the event's Prefect JSON, as encoded once"
        );
        assert_eq!(
            m.headers
                .get(async_nats::header::NATS_MESSAGE_ID)
                .unwrap()
                .as_str(),
            e.id.to_string()
        );
        assert_eq!(m.headers.get(ORIGIN_HEADER).unwrap().as_str(), n);
    }
    assert_eq!(
        stored
            .iter()
            .map(|m| m.subject.to_string())
            .collect::<Vec<_>>(),
        [
            format!("{}.prefect.work-queue.created", ts.prefix),
            format!("{}.prefect.work-pool.created", ts.prefix),
            format!("{}.prefect.work-pool.not-ready", ts.prefix),
        ]
    );
    bridge.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn the_same_event_published_twice_is_stored_once_and_delivered_once() {
    init_logs();
    let ts = TestStream::new(NATS_URL);
    let (a, b) = (Bus::start(), Bus::start());
    let seen_b = collect(&b).await;
    let bridge_a = NatsBridge::start(&a, ts.config(&node("a"))).await.unwrap();
    let bridge_b = NatsBridge::start(&b, ts.config(&node("b"))).await.unwrap();

    // One event, emitted twice on node a (a producer that retried, say).
    let probe = collect(&a).await;
    a.create_pool(CreatePool::new("etl", "process"))
        .await
        .unwrap();
    bridge_a.flush().await.unwrap();
    let first = probe.events()[0].clone();
    a.ingest(SharedEvent::new(first.event().clone()))
        .await
        .unwrap();
    bridge_a.flush().await.unwrap();

    let sa = bridge_a.stats();
    assert_eq!(sa.publisher.accepted(), 4);
    assert_eq!(sa.publisher.published(), 3);
    assert_eq!(
        sa.publisher.duplicates(),
        1,
        "JetStream dropped the second copy (Nats-Msg-Id)"
    );
    assert_eq!(ts.messages().await.len(), 3);

    // A copy that slips past the stream's duplicate window (another message id) is
    // still delivered to node b's subscribers once: the source skips ids it has seen.
    let js = ts.jetstream().await;
    let mut headers = HeaderMap::new();
    headers.insert(MSG_ID_HEADER, Uuid::new_v4().to_string());
    headers.insert(ORIGIN_HEADER, "someone-else");
    let subject = format!("{}.{}", ts.prefix, first.event);
    js.publish_with_headers(subject, headers, first.json().clone())
        .await
        .unwrap()
        .await
        .unwrap();

    let sb = bridge_b.stats();
    wait_until(WAIT, "node b to read all four messages", || {
        sb.source.received() == 4
    })
    .await;
    b.flush().await.unwrap();
    wait_until(WAIT, "node b's collector", || seen_b.len() == 3).await;
    assert_eq!(sb.source.duplicates(), 1);
    assert_eq!(sb.source.ingested(), 3);
    let ids: HashSet<Uuid> = seen_b.ids().into_iter().collect();
    assert_eq!(ids.len(), 3);

    bridge_a.shutdown().await.unwrap();
    bridge_b.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn foreign_and_invalid_messages_are_handled_and_counted() {
    init_logs();
    let ts = TestStream::new(NATS_URL);
    let b = Bus::start();
    let seen = collect(&b).await;
    let bridge = NatsBridge::start(&b, ts.config(&node("b"))).await.unwrap();
    let js = ts.jetstream().await;

    // Not JSON at all, and JSON that breaks Prefect's rules (an empty resource id).
    for body in [&b"not json"[..], br#"{"occurred":"2026-01-01T00:00:00.000000Z","event":"x","resource":{"prefect.resource.id":""},"id":"01a23049-68b4-7c86-b895-d7a4794175e9"}"#] {
        js.publish(format!("{}.x", ts.prefix), bytes::Bytes::copy_from_slice(body))
            .await
            .unwrap()
            .await
            .unwrap();
    }
    // A valid event published by something that is not workbus: no origin header.
    let json = br#"{"occurred":"2026-01-01T00:00:00.000000Z","event":"custom.thing","resource":{"prefect.resource.id":"custom.1"},"related":[],"payload":{},"id":"01a23049-68b4-7c86-b895-d7a4794175e9","follows":null}"#;
    js.publish(
        format!("{}.custom.thing", ts.prefix),
        bytes::Bytes::from_static(json),
    )
    .await
    .unwrap()
    .await
    .unwrap();

    let s = bridge.stats();
    wait_until(WAIT, "three messages", || s.source.received() == 3).await;
    b.flush().await.unwrap();
    wait_until(WAIT, "the collector", || seen.len() == 1).await;
    assert_eq!(s.source.invalid(), 2);
    let e = &seen.events()[0];
    assert_eq!(e.origin(), Some(UNKNOWN_ORIGIN));
    assert_eq!(
        e.json().as_ref(),
        &json[..],
        "the received bytes are kept, not re-encoded"
    );
    assert_eq!(Event::from_json(json).unwrap(), *e.event());
    // It is not published back: its origin is not local.
    bridge.flush().await.unwrap();
    assert_eq!(s.publisher.skipped_remote(), 1);
    assert_eq!(ts.messages().await.len(), 3);
    bridge.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn a_restarted_node_resumes_from_its_durable_consumer() {
    init_logs();
    let ts = TestStream::new(NATS_URL);
    let node_b = node("b");
    let a = Bus::start();
    let mine = collect(&a).await;
    let bridge_a = NatsBridge::start(&a, ts.config(&node("a"))).await.unwrap();

    // Node b runs and sees the first pool's events.
    let b1 = Bus::start();
    let seen1 = collect(&b1).await;
    let bridge_b = NatsBridge::start(&b1, ts.config(&node_b)).await.unwrap();
    a.create_pool(CreatePool::new("first", "process"))
        .await
        .unwrap();
    bridge_a.flush().await.unwrap();
    wait_until(WAIT, "node b to see the first pool", || seen1.len() == 3).await;
    let stats1 = bridge_b.shutdown().await.unwrap();
    assert_eq!(stats1.source.acks_pending(), 0);

    // While node b is down, node a goes on.
    a.create_pool(CreatePool::new("second", "process"))
        .await
        .unwrap();
    a.create_pool(CreatePool::new("third", "process"))
        .await
        .unwrap();
    bridge_a.flush().await.unwrap();

    // Node b comes back, a new process as far as the bus goes, under the same name.
    let b2 = Bus::start();
    let seen2 = collect(&b2).await;
    let bridge_b = NatsBridge::start(&b2, ts.config(&node_b)).await.unwrap();
    wait_until(WAIT, "node b to catch up", || seen2.len() == 6).await;
    a.create_pool(CreatePool::new("fourth", "process"))
        .await
        .unwrap();
    bridge_a.flush().await.unwrap();
    wait_until(WAIT, "node b to see the fourth pool", || seen2.len() == 9).await;

    // No gap, no duplicate: exactly what b had not seen yet. Within a run in
    // a's order; across the restart as a set, since an event the stopped pull
    // had been handed comes again after ack_wait, behind later ones.
    let all = mine.ids();
    assert_eq!(seen1.ids(), all[..3]);
    let resumed: HashSet<Uuid> = seen2.ids().into_iter().collect();
    assert_eq!(seen2.len(), 9, "each event once");
    assert_eq!(resumed, all[3..].iter().copied().collect::<HashSet<_>>());
    assert_eq!(bridge_b.stats().source.duplicates(), 0);
    bridge_b.shutdown().await.unwrap();
    bridge_a.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn start_fails_with_a_typed_error_when_nats_is_unreachable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = NatsConfig {
        connect_timeout: Duration::from_millis(300),
        ..NatsConfig::new(format!("nats://127.0.0.1:{port}"), "lonely")
    };
    let err = NatsBridge::start(&Bus::start(), config).await.unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err}");

    let bad = NatsConfig {
        buffer: 0,
        ..NatsConfig::new(NATS_URL, "n")
    };
    let err = NatsBridge::start(&Bus::start(), bad).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidConfig {
                setting: "buffer",
                ..
            }
        ),
        "{err}"
    );
}

#[actix_rt::test]
async fn many_events_arrive_in_order_once_each() {
    init_logs();
    let ts = TestStream::new(NATS_URL);
    let (a, b) = (Bus::start(), Bus::start());
    let (mine, seen_b) = (collect(&a).await, collect(&b).await);
    let bridge_a = NatsBridge::start(&a, ts.config(&node("a"))).await.unwrap();
    let bridge_b = NatsBridge::start(&b, ts.config(&node("b"))).await.unwrap();

    let started = std::time::Instant::now();
    for i in 0..400 {
        a.create_pool(CreatePool::new(format!("p{i}"), "process"))
            .await
            .unwrap();
    }
    bridge_a.flush().await.unwrap();
    wait_until(WAIT, "node b to see 1,200 events", || seen_b.len() == 1200).await;
    let took = started.elapsed();
    eprintln!("1,200 events from bus a to bus b through JetStream in {took:?}");
    assert_eq!(seen_b.ids(), mine.ids());
    assert_eq!(bridge_a.stats().publisher.published(), 1200);
    assert_eq!(bridge_b.stats().source.duplicates(), 0);
    bridge_a.shutdown().await.unwrap();
    bridge_b.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn a_deleted_consumer_is_opened_again() {
    init_logs();
    let ts = TestStream::new(NATS_URL);
    let (a, b) = (Bus::start(), Bus::start());
    let seen_b = collect(&b).await;
    let bridge_a = NatsBridge::start(&a, ts.config(&node("a"))).await.unwrap();
    let bridge_b = NatsBridge::start(&b, ts.config(&node("b"))).await.unwrap();

    let js = ts.jetstream().await;
    let stream = js.get_stream(&ts.name).await.unwrap();
    stream.delete_consumer(bridge_b.durable()).await.unwrap();
    let sb = bridge_b.stats();
    wait_until(WAIT, "node b to reopen its consumer", || {
        sb.source.reopened() == 1
    })
    .await;

    a.create_pool(CreatePool::new("after", "process"))
        .await
        .unwrap();
    bridge_a.flush().await.unwrap();
    wait_until(WAIT, "node b to see the pool", || seen_b.len() == 3).await;
    bridge_a.shutdown().await.unwrap();
    bridge_b.shutdown().await.unwrap();
}
