//! A fleet of three in-process nodes on the NATS at 127.0.0.1:4222, against the same calls
//! on the node that owns the pool, in the same run:
//!
//! - latency of a read (`Bus::pool`) and of a heartbeat that changes nothing but a time,
//!   on the owner and through a node that forwards it to the owner (p50, p99);
//! - heartbeats per second, 256 in flight, spread over the pools of three nodes and sent
//!   through all three, against the same heartbeats on one node that holds every pool.
//!
//! All three nodes run in this one process, on one actix system: the figures are loopback
//! NATS round trips and this machine's cores, not a network's.

use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use workbus_cluster::{ClusterConfig, Node};
use workbus_core::{Bus, CreatePool, Heartbeat, HeartbeatInterval};

const NATS_URL: &str = "nats://127.0.0.1:4222";
const SAMPLES: usize = 5_000;
const POOLS: usize = 60;
const BEATS: usize = 60_000;
const IN_FLIGHT: usize = 256;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

async fn latencies<F, Fut>(mut call: F) -> (Duration, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..SAMPLES / 10 {
        call().await; // warm-up
    }
    let mut samples = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let t = Instant::now();
        call().await;
        samples.push(t.elapsed());
    }
    samples.sort_unstable();
    (percentile(&samples, 0.5), percentile(&samples, 0.99))
}

/// Heartbeats per second: `BEATS` heartbeats, `IN_FLIGHT` at a time, pool and bus by turn.
async fn throughput(buses: &[Bus], pools: &[String]) -> f64 {
    let start = Instant::now();
    stream::iter(0..BEATS)
        .map(|i| {
            let bus = buses[i % buses.len()].clone();
            let pool = pools[i % pools.len()].clone();
            async move { bus.heartbeat(&pool, "worker").await.unwrap() }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect::<Vec<()>>()
        .await;
    BEATS as f64 / start.elapsed().as_secs_f64()
}

async fn join(cluster: &str, node: &str) -> Node {
    let config = ClusterConfig::new(NATS_URL, cluster, node);
    Node::join(config, Bus::builder())
        .await
        .expect("join the fleet")
}

async fn clean(cluster: &str) {
    let client = async_nats::connect(NATS_URL).await.unwrap();
    let js = async_nats::jetstream::new(client);
    for b in ["nodes", "pools", "leaders", "automations"] {
        let _ = js.delete_key_value(format!("workbus-{cluster}-{b}")).await;
    }
}

async fn run() {
    let tag = format!("bench{}", std::process::id());
    let nodes = [
        join(&tag, "a").await,
        join(&tag, "b").await,
        join(&tag, "c").await,
    ];
    while nodes.iter().any(|n| n.members().len() < 3) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let every = HeartbeatInterval::from_secs(3600).unwrap();
    let pools: Vec<String> = (0..POOLS).map(|i| format!("pool-{i}")).collect();
    for p in &pools {
        nodes[0]
            .bus()
            .create_pool(CreatePool::new(p, "process"))
            .await
            .unwrap();
        nodes[0]
            .bus()
            .heartbeat(p, Heartbeat::new("worker").every(every))
            .await
            .unwrap();
    }
    // A pool that node a holds: read on a (the owner) and through b (forwarded).
    let mut mine = None;
    for p in &pools {
        if nodes[0].bus().holds(p) {
            mine = Some(p.clone());
            break;
        }
    }
    let mine = mine.expect("node a holds one of 60 pools");
    let (a, b) = (nodes[0].bus().clone(), nodes[1].bus().clone());

    println!("fleet of 3 in-process nodes, NATS at {NATS_URL}, {SAMPLES} samples each");
    println!("| call | on the owner p50 | p99 | through another node p50 | p99 |");
    println!("|---|---|---|---|---|");
    let owner = latencies(|| {
        let a = a.clone();
        let p = mine.clone();
        async move {
            a.pool(&p).await.unwrap();
        }
    })
    .await;
    let forwarded = latencies(|| {
        let b = b.clone();
        let p = mine.clone();
        async move {
            b.pool(&p).await.unwrap();
        }
    })
    .await;
    println!(
        "| read a pool | {:?} | {:?} | {:?} | {:?} |",
        owner.0, owner.1, forwarded.0, forwarded.1
    );
    let owner = latencies(|| {
        let a = a.clone();
        let p = mine.clone();
        async move {
            a.heartbeat(&p, "worker").await.unwrap();
        }
    })
    .await;
    let forwarded = latencies(|| {
        let b = b.clone();
        let p = mine.clone();
        async move {
            b.heartbeat(&p, "worker").await.unwrap();
        }
    })
    .await;
    println!(
        "| heartbeat (a time) | {:?} | {:?} | {:?} | {:?} |",
        owner.0, owner.1, forwarded.0, forwarded.1
    );

    let buses: Vec<Bus> = nodes.iter().map(|n| n.bus().clone()).collect();
    let three = throughput(&buses, &pools).await;
    for n in nodes {
        n.leave().await;
    }
    clean(&tag).await;

    // One node alone holds every pool: every heartbeat is served where it arrives.
    let alone_tag = format!("{tag}-one");
    let alone = join(&alone_tag, "a").await;
    for p in &pools {
        alone
            .bus()
            .create_pool(CreatePool::new(p, "process"))
            .await
            .unwrap();
        alone
            .bus()
            .heartbeat(p, Heartbeat::new("worker").every(every))
            .await
            .unwrap();
    }
    let one = throughput(std::slice::from_ref(alone.bus()), &pools).await;
    alone.leave().await;
    clean(&alone_tag).await;
    println!();
    println!("| heartbeats/s, {IN_FLIGHT} in flight, {POOLS} pools | three nodes | one node |");
    println!("|---|---|---|");
    println!("| {BEATS} heartbeats | {three:.0} | {one:.0} |");
}

fn main() {
    // `cargo bench` passes `--bench`; a filter or `--list` from the harness is ignored.
    actix::System::new().block_on(run());
}
