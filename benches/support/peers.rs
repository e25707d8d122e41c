//! The peers an actix user would pick instead of workbus, carrying the baselines' events (an
//! `Arc`, shared or built for each publish: [`Payloads`]) to N counting subscribers: actix-broker (the actix project's own pub/sub, a
//! system-wide broker actor) and kameo's `PubSub` actor (from `kameo_actors`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_broker::{Broker, BrokerSubscribe, SystemBroker};

use super::{Payloads, Raw};

/// An actix-broker subscriber that counts; it subscribes to [`Raw`] when it starts.
pub struct BrokerCounter(pub Arc<AtomicU64>);

impl Actor for BrokerCounter {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(1024);
        self.subscribe_system_async::<Raw>(ctx);
    }
}

impl Handler<Raw> for BrokerCounter {
    type Result = ();
    fn handle(&mut self, _: Raw, _: &mut Context<Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Starts `n` broker subscribers and returns once the broker delivers to all of them
/// (subscriptions reach it asynchronously, so a probe is issued until all `n` count it).
pub async fn start_broker_subscribers(n: usize, count: &Arc<AtomicU64>) {
    for _ in 0..n {
        BrokerCounter(count.clone()).start();
    }
    let probe = Payloads::shared();
    loop {
        let before = count.load(Ordering::Relaxed);
        Broker::<SystemBroker>::issue_async(probe.message(0));
        actix_rt::time::sleep(Duration::from_millis(5)).await;
        if count.load(Ordering::Relaxed) - before == n as u64 {
            return;
        }
    }
}

/// Issues `events` messages of `payloads` through the system broker, yielding every 256.
pub async fn drive_broker(payloads: &Payloads, events: usize) {
    for k in 0..events {
        Broker::<SystemBroker>::issue_async(payloads.message(k));
        if k % 256 == 255 {
            tokio::task::yield_now().await;
        }
    }
}

/// kameo's side. Its names (`Actor`, `Context`, `Message`) collide with actix's, hence a module.
pub mod kameo_peer {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    use kameo::actor::{ActorRef, Spawn};
    use kameo::mailbox;
    use kameo::message::{Context, Message};
    use kameo_actors::pubsub::{PubSub, Publish, Subscribe};
    use kameo_actors::DeliveryStrategy;

    use super::{Payloads, Raw};

    /// A kameo subscriber that counts.
    #[derive(kameo::Actor)]
    pub struct KameoCounter(pub Arc<AtomicU64>);

    impl Message<Raw> for KameoCounter {
        type Reply = ();
        async fn handle(&mut self, _: Raw, _: &mut Context<Self, ()>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A `PubSub` actor with `n` counting subscribers. Every mailbox is bounded at 1,024,
    /// as the actix subscribers' are, and delivery is `Guaranteed`: nothing is dropped, the
    /// publisher waits for room, as workbus's lossless subscribers make producers wait.
    pub async fn start(n: usize, count: &Arc<AtomicU64>) -> ActorRef<PubSub<Raw>> {
        let pubsub = PubSub::<Raw>::spawn_with_mailbox(
            PubSub::new(DeliveryStrategy::Guaranteed),
            mailbox::bounded(1024),
        );
        for _ in 0..n {
            let counter = KameoCounter::spawn_with_mailbox(
                KameoCounter(count.clone()),
                mailbox::bounded(1024),
            );
            pubsub
                .tell(Subscribe(counter))
                .await
                .expect("the pubsub actor is running");
        }
        pubsub
    }

    /// Publishes `events` messages of `payloads` through the `PubSub` actor, yielding every 256.
    pub async fn drive(pubsub: &ActorRef<PubSub<Raw>>, payloads: &Payloads, events: usize) {
        for k in 0..events {
            pubsub
                .tell(Publish(payloads.message(k)))
                .await
                .expect("the pubsub actor is running");
            if k % 256 == 255 {
                tokio::task::yield_now().await;
            }
        }
    }
}
