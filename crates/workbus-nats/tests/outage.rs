//! A NATS outage: a server of the test's own, stopped and started again.

mod support;

use std::time::Duration;

use support::*;
use workbus_core::{Bus, CreatePool};
use workbus_nats::{NatsBridge, NatsConfig};

const WAIT: Duration = Duration::from_secs(15);

#[actix_rt::test]
async fn an_outage_loses_nothing_that_fits_in_the_buffer_and_counts_the_rest() {
    init_logs();
    let mut server = OwnServer::start();
    let ts = TestStream::new(&server.url());
    let buffer = 20;
    let (a, b) = (Bus::start(), Bus::start());
    let (mine, seen_b) = (collect(&a).await, collect(&b).await);
    let config = |node: &str| NatsConfig {
        buffer,
        max_in_flight: 8,
        ..ts.config(node)
    };
    let bridge_a = NatsBridge::start(&a, config(&node("a"))).await.unwrap();
    let bridge_b = NatsBridge::start(&b, config(&node("b"))).await.unwrap();

    a.create_pool(CreatePool::new("before", "process"))
        .await
        .unwrap();
    bridge_a.flush().await.unwrap();
    let stats = bridge_a.stats();
    assert_eq!(stats.publisher.published(), 3);

    // The outage. Ten pools make 30 events: 20 fit in the buffer, 10 do not.
    server.stop();
    wait_until(WAIT, "node a to notice", || !bridge_a.is_connected()).await;
    for i in 0..10 {
        a.create_pool(CreatePool::new(format!("during-{i}"), "process"))
            .await
            .unwrap();
    }
    a.flush().await.unwrap();
    wait_until(WAIT, "the buffer to fill", || {
        stats.publisher.accepted() == 23 && stats.publisher.dropped_overflow() == 10
    })
    .await;
    assert_eq!(stats.publisher.buffered(), buffer);
    // The bus did not wait for NATS: every pool exists.
    assert_eq!(a.pool_names().len(), 11);
    // Retries happen, at the configured short backoff.
    wait_until(WAIT, "a retry", || stats.publisher.retries() > 0).await;

    // NATS is back: the buffer goes out, in order, each event once.
    server.resume();
    tokio::time::timeout(WAIT, bridge_a.flush())
        .await
        .expect("the buffer drains once NATS is back")
        .unwrap();
    let p = &stats.publisher;
    assert_eq!(
        p.published() + p.duplicates(),
        23,
        "every buffered event acknowledged"
    );
    assert_eq!(p.buffered(), 0);
    assert_eq!(p.dropped_overflow(), 10);
    assert_eq!(p.lost(), 10);

    let emitted = mine.ids();
    assert_eq!(emitted.len(), 33);
    let kept: Vec<_> = emitted[..23].to_vec();
    let stored: Vec<_> = ts
        .messages()
        .await
        .iter()
        .map(|m| {
            m.headers
                .get(async_nats::header::NATS_MESSAGE_ID)
                .unwrap()
                .as_str()
                .to_owned()
        })
        .collect();
    assert_eq!(
        stored,
        kept.iter().map(|id| id.to_string()).collect::<Vec<_>>(),
        "stored once each, in order"
    );

    // Node b was cut off too; its durable consumer brings it everything that was stored, once.
    wait_until(WAIT, "node b to catch up", || seen_b.len() == 23).await;
    b.flush().await.unwrap();
    assert_eq!(seen_b.ids(), kept);

    bridge_a.shutdown().await.unwrap();
    bridge_b.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn shutdown_during_an_outage_counts_what_it_could_not_send() {
    init_logs();
    let mut server = OwnServer::start();
    let ts = TestStream::new(&server.url());
    let a = Bus::start();
    let config = NatsConfig {
        shutdown_timeout: Duration::from_millis(300),
        ..ts.config(&node("a"))
    };
    let bridge = NatsBridge::start(&a, config).await.unwrap();
    server.stop();
    wait_until(WAIT, "node a to notice", || !bridge.is_connected()).await;
    a.create_pool(CreatePool::new("lost", "process"))
        .await
        .unwrap();
    let stats = bridge.stats();
    let err = bridge.shutdown().await.unwrap_err();
    assert!(
        matches!(err, workbus_nats::Error::ShutdownTimedOut(_)),
        "{err}"
    );
    assert_eq!(stats.publisher.dropped_shutdown(), 3);
    assert_eq!(stats.publisher.lost(), 3);
    assert_eq!(stats.publisher.buffered(), 0);
}

#[actix_rt::test]
async fn a_dropped_bridge_stops_and_counts_what_it_held() {
    init_logs();
    let mut server = OwnServer::start();
    let ts = TestStream::new(&server.url());
    let a = Bus::start();
    let bridge = NatsBridge::start(&a, ts.config(&node("a"))).await.unwrap();
    let stats = bridge.stats();
    server.stop();
    wait_until(WAIT, "node a to notice", || !bridge.is_connected()).await;
    a.create_pool(CreatePool::new("held", "process"))
        .await
        .unwrap();
    wait_until(WAIT, "the buffer", || stats.publisher.buffered() == 3).await;
    drop(bridge);
    wait_until(WAIT, "the publisher to stop", || {
        stats.publisher.dropped_shutdown() == 3
    })
    .await;
    wait_until(WAIT, "the subscription to go", || {
        a.stats().subscriptions().is_empty()
    })
    .await;
}

#[actix_rt::test]
async fn publishing_resumes_as_soon_as_the_connection_is_back() {
    init_logs();
    let mut server = OwnServer::start();
    let ts = TestStream::new(&server.url());
    let a = Bus::start();
    // A long retry backoff: only the reconnection can wake the publisher quickly.
    let config = NatsConfig {
        retry: workbus_nats::Backoff::new(Duration::from_secs(30), Duration::from_secs(30)),
        ..ts.config(&node("a"))
    };
    let bridge = NatsBridge::start(&a, config).await.unwrap();
    server.stop();
    wait_until(WAIT, "node a to notice", || !bridge.is_connected()).await;
    a.create_pool(CreatePool::new("waiting", "process"))
        .await
        .unwrap();
    a.flush().await.unwrap();
    server.resume();
    tokio::time::timeout(Duration::from_secs(5), bridge.flush())
        .await
        .expect("published well before the 30 s retry")
        .unwrap();
    assert_eq!(bridge.stats().publisher.published(), 3);
    bridge.shutdown().await.unwrap();
}
