//! A subscription is a guard: dropping it unsubscribes, `keep` keeps it, and
//! the same actor cannot be subscribed twice (it would get every event twice).

mod support;

use support::collector;
use workbus_core::{Bus, CreatePool, Error, SubscribeOptions};

#[actix_rt::test]
async fn a_dropped_guard_receives_nothing_more_and_a_kept_one_does() {
    let bus = Bus::start();
    let (dropped, dropped_seen) = collector();
    let (kept, kept_seen) = collector();
    let guard = bus
        .subscribe(dropped.clone(), SubscribeOptions::new("dropped"))
        .await
        .unwrap();
    let info = bus
        .subscribe(kept.clone(), SubscribeOptions::new("kept"))
        .await
        .unwrap()
        .keep();
    bus.create_pool(CreatePool::new("a", "process"))
        .await
        .unwrap();
    bus.flush().await.unwrap();
    assert_eq!(bus.stats().subscribers(), 2);
    drop(guard);
    bus.create_pool(CreatePool::new("b", "process"))
        .await
        .unwrap();
    bus.flush().await.unwrap();
    // Let both mailboxes empty.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_eq!(bus.stats().subscribers(), 1);
    assert_eq!(
        dropped_seen.len(),
        3,
        "only pool a's events: {:?}",
        dropped_seen.names()
    );
    assert_eq!(kept_seen.len(), 6, "both pools' events");
    assert_eq!(info.stats.delivered(), 6);
    assert!(bus.unsubscribe(info.id).await.unwrap());
}

#[actix_rt::test]
async fn the_same_recipient_twice_is_refused() {
    let bus = Bus::start();
    let (addr, _) = collector();
    let first = bus
        .subscribe(addr.clone(), SubscribeOptions::new("once"))
        .await
        .unwrap();
    let again = bus
        .subscribe(addr.clone(), SubscribeOptions::new("twice"))
        .await;
    assert_eq!(again.err(), Some(Error::AlreadySubscribed(first.id)));
    // Once unsubscribed, it may subscribe again.
    assert!(first.unsubscribe().await.unwrap());
    let _again = bus
        .subscribe(addr.clone(), SubscribeOptions::new("again"))
        .await
        .unwrap();
}
