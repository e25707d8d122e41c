//! A supervised handler that answers queries: its answers see every event
//! before them, a panic while answering is `Panicked` and a restart, and the
//! handler then goes on answering and handling events.

use actix::prelude::*;
use workbus_core::{Bus, CreatePool, SharedEvent};
use workbus_subscribers::toolkit::{Answers, Ask, EventHandler, Guarded, Panicked};

#[derive(Default)]
struct Tally {
    events: u64,
    restarts: u64,
}

impl EventHandler for Tally {
    fn handle(&mut self, _: &SharedEvent) {
        self.events += 1;
    }

    fn restarting(&mut self) {
        self.restarts += 1;
    }
}

#[derive(Message)]
#[rtype(result = "(u64, u64)")]
struct Read;

impl Answers<Read> for Tally {
    fn answer(&mut self, _: Read) -> (u64, u64) {
        (self.events, self.restarts)
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct Explode;

impl Answers<Explode> for Tally {
    fn answer(&mut self, _: Explode) {
        panic!("asked to explode");
    }
}

#[actix::test]
async fn guarded_handlers_answer_queries_and_survive_panics() {
    let bus = Bus::start();
    let tally = Guarded::start("tally", Tally::default());
    let handle = Guarded::attach(&bus, "tally", &tally, Default::default())
        .await
        .unwrap();

    // created (queue), created (pool), not-ready (pool)
    bus.create_pool(CreatePool::new("a", "process"))
        .await
        .unwrap();
    handle.drain().await;
    assert_eq!(tally.send(Ask(Read)).await.unwrap(), Ok((3, 0)));

    assert_eq!(tally.send(Ask(Explode)).await.unwrap(), Err(Panicked));

    // The same actor, restarted with its state: it answers and still gets events.
    bus.create_pool(CreatePool::new("b", "process"))
        .await
        .unwrap();
    handle.drain().await;
    assert_eq!(tally.send(Ask(Read)).await.unwrap(), Ok((6, 1)));
    handle.shutdown().await;
}
