//! Isolation: a subscriber that takes a second per event holds up neither
//! the registry nor the other subscribers, and still gets every event.
//! On paused tokio time: the others finish before the clock moves at all.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use support::{paused_system, workload, Recorder};
use workbus_core::{Bus, Deliver, SharedEvent, SubscribeOptions};
use workbus_subscribers::{install, Feed, Guarded, SubscribersConfig};

struct Slow(Arc<Mutex<Vec<SharedEvent>>>);

impl Actor for Slow {
    type Context = Context<Self>;
}

impl Handler<Deliver> for Slow {
    type Result = ();

    fn handle(&mut self, Deliver(event): Deliver, ctx: &mut Context<Self>) {
        self.0.lock().unwrap().push(event);
        // A second of work per event, during which this actor takes no other message.
        ctx.wait(actix::fut::wrap_future(tokio::time::sleep(
            Duration::from_secs(1),
        )));
    }
}

#[test]
fn a_slow_subscriber_does_not_slow_the_registry_or_the_other_subscribers() {
    paused_system().block_on(async {
        let bus = Bus::start();
        let slow_seen = Arc::new(Mutex::new(Vec::new()));
        let slow = Slow(slow_seen.clone()).start();
        bus.subscribe(slow.recipient(), SubscribeOptions::new("slow"))
            .await
            .unwrap()
            .keep();
        let fast = Recorder::default();
        let fast_handle = Guarded::subscribe(&bus, "fast", fast.clone(), Feed::default())
            .await
            .unwrap();
        let mut config = SubscribersConfig::none();
        config.metrics = Some(Default::default());
        let subscribers = install(&bus, config).await.unwrap();
        let metrics = subscribers.metrics().unwrap().clone();

        let start = tokio::time::Instant::now();
        workload(&bus, 5).await;
        let published = bus.stats().published() as usize;
        assert!(published >= 45, "{published}");
        // Spin without sleeping, so the paused clock cannot move.
        let mut spins = 0u64;
        while fast.len() < published {
            tokio::task::yield_now().await;
            spins += 1;
            assert!(spins < 10_000_000, "the fast subscriber never caught up");
        }
        assert_eq!(
            start.elapsed(),
            Duration::ZERO,
            "no time passed for the others"
        );
        assert!(
            slow_seen.lock().unwrap().len() <= 1,
            "the slow one is still at its first event"
        );
        let text = metrics.render();
        assert!(
            text.contains("workbus_events_emitted_total{event=\"prefect.work-pool.created\"} 5"),
            "{text}"
        );

        // Given time, the slow one gets everything too: nothing was lost.
        bus.flush().await.unwrap();
        fast_handle.shutdown().await;
        subscribers.shutdown().await;
        let mut spins = 0u64;
        while slow_seen.lock().unwrap().len() < published {
            tokio::time::sleep(Duration::from_secs(1)).await;
            spins += 1;
            assert!(spins < 10_000);
        }
        let ids = |v: &[SharedEvent]| v.iter().map(|e| e.id).collect::<Vec<_>>();
        assert_eq!(ids(&slow_seen.lock().unwrap()), ids(&fast.events()));
        assert!(start.elapsed() >= Duration::from_secs(published as u64 - 1));
    });
}
