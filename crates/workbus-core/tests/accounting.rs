//! Accounting: for a random mix of subscribers (fast, slow on their own arbiter, `DropNewest`
//! with tiny buffers and mailboxes, one that dies) and a random workload, every subscriber's
//! counters add up: `offered = delivered + dropped_overflow + dropped_closed`, with nothing
//! pending after a flush; every lossless subscriber handled every event published; every
//! live subscriber handled exactly what was delivered to it.
//!
//! `PROPTEST_CASES` raises the number of cases (default 12; each runs on real time).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use proptest::prelude::*;
use workbus_core::{
    Bus, CreatePool, Deliver, Overflow, PoolUpdate, SubscribeOptions, Subscription,
};

#[derive(Clone, Copy, Debug)]
enum Kind {
    /// On the bus's arbiter, lossless.
    Fast,
    /// On its own arbiter, sleeping per event, lossless.
    Slow { micros: u64 },
    /// On its own arbiter, sleeping per event, with a tiny mailbox and buffer.
    Dropping {
        micros: u64,
        mailbox: usize,
        buffer: usize,
    },
    /// On its own arbiter; panics on its n-th event.
    Dies { on: usize },
}

struct Counter {
    kind: Kind,
    mailbox: usize,
    handled: Arc<AtomicUsize>,
}

impl Actor for Counter {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(self.mailbox);
    }
}

impl Handler<Deliver> for Counter {
    type Result = ();
    fn handle(&mut self, _: Deliver, _: &mut Context<Self>) {
        let n = self.handled.load(Ordering::Relaxed) + 1;
        match self.kind {
            Kind::Slow { micros } | Kind::Dropping { micros, .. } => {
                std::thread::sleep(Duration::from_micros(micros))
            }
            Kind::Dies { on } if on == n => panic!("this subscriber dies on purpose"),
            _ => {}
        }
        self.handled.store(n, Ordering::Relaxed);
    }
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Fast),
        (0u64..300).prop_map(|micros| Kind::Slow { micros }),
        (0u64..300, 1usize..4, 1usize..5).prop_map(|(micros, mailbox, buffer)| Kind::Dropping {
            micros,
            mailbox,
            buffer
        }),
        (1usize..60).prop_map(|on| Kind::Dies { on }),
    ]
}

async fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    true
}

fn run(kinds: Vec<Kind>, pools: usize, rounds: usize) -> Result<(), String> {
    let sys = actix::System::new();
    sys.block_on(async move {
        let bus = Bus::start();
        let mut subs: Vec<(Kind, Arc<AtomicUsize>, Subscription, Option<Arbiter>)> = Vec::new();
        // One fast subscriber always, so there is a lossless witness.
        for (i, kind) in std::iter::once(Kind::Fast).chain(kinds).enumerate() {
            let handled = Arc::new(AtomicUsize::new(0));
            let (mailbox, options) = match kind {
                Kind::Fast => (1 << 16, SubscribeOptions::new(format!("s{i}"))),
                Kind::Slow { .. } | Kind::Dies { .. } => (16, SubscribeOptions::new(format!("s{i}"))),
                Kind::Dropping {
                    mailbox, buffer, ..
                } => (
                    mailbox,
                    SubscribeOptions::new(format!("s{i}"))
                        .buffer(buffer)
                        .overflow(Overflow::DropNewest),
                ),
            };
            let actor = Counter {
                kind,
                mailbox,
                handled: handled.clone(),
            };
            let (addr, arbiter) = match kind {
                Kind::Fast => (actor.start(), None),
                _ => {
                    let a = Arbiter::new();
                    (Counter::start_in_arbiter(&a.handle(), move |_| actor), Some(a))
                }
            };
            let sub = bus.subscribe(addr.recipient(), options).await.unwrap();
            subs.push((kind, handled, sub, arbiter));
        }
        for i in 0..pools {
            bus.create_pool(CreatePool::new(format!("p{i}"), "process"))
                .await
                .unwrap();
        }
        for r in 0..rounds {
            for i in 0..pools {
                let p = format!("p{i}");
                bus.heartbeat(&p, &format!("w{r}")).await.unwrap();
                bus.update_pool(&p, PoolUpdate::pause()).await.unwrap();
                bus.update_pool(&p, PoolUpdate::resume()).await.unwrap();
                bus.delete_worker(&p, &format!("w{r}")).await.unwrap();
            }
        }
        let flushed = tokio::time::timeout(Duration::from_secs(30), bus.flush()).await;
        if flushed.is_err() {
            return Err("flush did not answer".to_owned());
        }
        let published = bus.stats().published();
        // Created: 3 events; each round: ready, paused, ready, not-ready.
        let expected = (3 * pools + 4 * pools * rounds) as u64;
        if published != expected {
            return Err(format!("published {published}, expected {expected}"));
        }
        let mut out = Ok(());
        for (i, (kind, handled, sub, _)) in subs.iter().enumerate() {
            let s = &sub.stats;
            let (o, d, ov, cl, pe) = (
                s.offered(),
                s.delivered(),
                s.dropped_overflow(),
                s.dropped_closed(),
                s.pending(),
            );
            let why = |what: &str| format!("s{i} {kind:?}: {what} (offered {o}, delivered {d}, overflow {ov}, closed {cl}, pending {pe}, published {published})");
            if o != d + ov + cl || pe != 0 {
                out = Err(why("does not add up"));
                break;
            }
            match kind {
                Kind::Fast | Kind::Slow { .. } => {
                    if (o, d) != (published, published) {
                        out = Err(why("a lossless subscriber missed events"));
                        break;
                    }
                    let h = handled.clone();
                    if !wait_until(Duration::from_secs(30), || h.load(Ordering::Relaxed) as u64 == published).await {
                        out = Err(why("a lossless subscriber did not handle every event"));
                        break;
                    }
                }
                Kind::Dropping { .. } => {
                    if o != published || cl != 0 {
                        out = Err(why("a live subscriber was not offered everything"));
                        break;
                    }
                    let h = handled.clone();
                    if !wait_until(Duration::from_secs(30), || h.load(Ordering::Relaxed) as u64 == d).await {
                        out = Err(why("what was delivered was not all handled"));
                        break;
                    }
                }
                Kind::Dies { on } => {
                    let died = (*on as u64) <= o;
                    // Its own arbiter may still be working through its mailbox after the
                    // flush (delivered means put in the mailbox), so wait for it to get to
                    // the fatal event; it never counts that one.
                    let h = handled.clone();
                    let before = on - 1;
                    let reached = !died
                        || wait_until(Duration::from_secs(30), || {
                            h.load(Ordering::Relaxed) >= before
                        })
                        .await;
                    if died && (!reached || handled.load(Ordering::Relaxed) != before) {
                        out = Err(why("it should have handled all before the fatal event"));
                        break;
                    }
                    if !died && (o, d) != (published, published) {
                        out = Err(why("alive, so lossless"));
                        break;
                    }
                }
            }
        }
        for (_, _, _, arbiter) in subs {
            if let Some(a) = arbiter {
                a.stop();
            }
        }
        out
    })
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_subscribers_counters_add_up_and_lossless_ones_get_everything(
        kinds in prop::collection::vec(kind(), 1..6),
        pools in 1usize..40,
        rounds in 0usize..4,
    ) {
        if let Err(why) = run(kinds, pools, rounds) {
            return Err(TestCaseError::fail(why));
        }
    }
}
