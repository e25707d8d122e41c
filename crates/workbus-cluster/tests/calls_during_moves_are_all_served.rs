//! Clients keep calling every node while pools move: a node joins, takes the
//! pools it wins, leaves and hands them back, six times. No call is refused, every
//! answered change is there at the end, and each pause is announced once.

mod support;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use futures_util::future::join_all;
use support::*;
use workbus_cluster::Node;
use workbus_core::testing::collect;
use workbus_core::{Bus, EventFilter, Heartbeat, PoolUpdate, QueueUpdate};

const POOLS: usize = 12;

/// Heartbeats sent at once to a pool, each round.
const BURST: usize = 16;

/// What the clients were answered, per pool.
#[derive(Default)]
struct Answered {
    workers: Vec<Vec<String>>,
    pool_pauses: Vec<usize>,
    queue_pauses: Vec<usize>,
}

#[actix_rt::test]
async fn no_call_is_refused_while_pools_move() {
    init_logs();
    let cluster = fleet_name();
    let nodes = fleet(&cluster, &["a", "b"]).await;
    let names = create_pools(nodes[0].bus(), POOLS).await;
    let mut events = vec![
        collect(nodes[0].bus(), EventFilter::all()).await,
        collect(nodes[1].bus(), EventFilter::all()).await,
    ];
    let answered = Rc::new(RefCell::new(Answered {
        workers: vec![Vec::new(); POOLS],
        pool_pauses: vec![0; POOLS],
        queue_pauses: vec![0; POOLS],
    }));
    let stop = Rc::new(Cell::new(false));

    // One client per node a and b, each on its own pools' half, round after round:
    // new workers' heartbeats, then a pause or a resume of the pool and of its queue.
    let clients: Vec<_> = (0..2)
        .map(|c| {
            let (bus, names) = (nodes[c].bus().clone(), names.clone());
            let (answered, stop) = (answered.clone(), stop.clone());
            actix_rt::spawn(async move {
                let mut round = 0usize;
                while !stop.get() {
                    for (p, name) in names.iter().enumerate().filter(|(p, _)| p % 2 == c) {
                        // Several at once, so that some wait in the pool's mailbox as it moves.
                        let workers: Vec<String> =
                            (0..BURST).map(|k| format!("w{round}-{k}")).collect();
                        let beats = workers
                            .iter()
                            .map(|w| bus.heartbeat(name, Heartbeat::new(w.as_str())));
                        for (w, r) in workers.iter().zip(join_all(beats).await) {
                            r.unwrap_or_else(|e| panic!("heartbeat of {w} to {name}: {e}"));
                        }
                        answered.borrow_mut().workers[p].extend(workers);
                        let pause = round.is_multiple_of(2);
                        let update = if pause {
                            PoolUpdate::pause()
                        } else {
                            PoolUpdate::resume()
                        };
                        bus.update_pool(name, update)
                            .await
                            .unwrap_or_else(|e| panic!("pause of {name}: {e}"));
                        let update = if pause {
                            QueueUpdate::pause()
                        } else {
                            QueueUpdate::resume()
                        };
                        bus.update_queue(name, "default", update)
                            .await
                            .unwrap_or_else(|e| panic!("queue pause of {name}: {e}"));
                        if pause {
                            answered.borrow_mut().pool_pauses[p] += 1;
                            answered.borrow_mut().queue_pauses[p] += 1;
                        }
                    }
                    round += 1;
                }
            })
        })
        .collect();

    let mut moved = 0;
    for _ in 0..6 {
        let c = Node::join(config(&cluster, "c"), Bus::builder())
            .await
            .unwrap();
        events.push(collect(c.bus(), EventFilter::all()).await);
        wait_until(Duration::from_secs(10), "c to hold pools", || {
            c.stats().held() > 0
        })
        .await;
        moved += c.stats().taken_over();
        // Calls go on a while with c in the fleet.
        actix_rt::time::sleep(Duration::from_millis(150)).await;
        c.leave().await;
        actix_rt::time::sleep(Duration::from_millis(150)).await;
    }
    assert!(moved > 0);
    stop.set(true);
    for c in clients {
        c.await.expect("a client's call was refused");
    }

    let answered = answered.take();
    let beats: usize = answered.workers.iter().map(Vec::len).sum();
    let changes = 2 * (beats / BURST);
    eprintln!("{beats} heartbeats and {changes} pauses and resumes answered while pools moved");
    for (p, name) in names.iter().enumerate() {
        let mut held: Vec<String> = nodes[0]
            .bus()
            .workers(name)
            .await
            .unwrap()
            .into_iter()
            .map(|w| w.name)
            .collect();
        held.sort();
        let mut told = answered.workers[p].clone();
        told.sort();
        assert_eq!(
            held, told,
            "{name}: the workers answered are the workers held"
        );
    }
    for n in &nodes {
        n.bus().flush().await.unwrap();
    }
    let mut pauses: HashMap<(String, String), usize> = HashMap::new();
    for e in &events {
        for ev in e.events() {
            let event = ev.event.to_string();
            if event.ends_with(".paused") {
                let name = ev.resource.name().unwrap_or_default().to_owned();
                *pauses.entry((event, name)).or_default() += 1;
            }
        }
    }
    for (p, name) in names.iter().enumerate() {
        let said = |event: &str, resource: &str| {
            pauses
                .get(&(event.to_owned(), resource.to_owned()))
                .copied()
                .unwrap_or(0)
        };
        assert_eq!(
            said("prefect.work-pool.paused", name),
            answered.pool_pauses[p],
            "{name}: each pause answered is announced once"
        );
    }
    let queue_pauses: usize = pauses
        .iter()
        .filter(|((e, _), _)| e == "prefect.work-queue.paused")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(queue_pauses, answered.queue_pauses.iter().sum::<usize>());
    for n in nodes {
        n.leave().await;
    }
    clean(&cluster).await;
}
