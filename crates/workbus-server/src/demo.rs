//! `workbus serve --demo`: a simulated fleet, so a new user sees live events at once.
//!
//! Two pools with a few queues each, three workers that heartbeat every two
//! or three seconds, polls while a pool has a live worker, a worker that
//! stops for a while and comes back, a queue paused and resumed, and a
//! description that changes now and then. The cycle repeats every minute.

use std::time::Duration;

use workbus_core::{
    Bus, CreatePool, CreateQueue, Heartbeat, HeartbeatInterval, PoolUpdate, QueueUpdate,
};

struct Worker {
    pool: &'static str,
    name: &'static str,
    interval: u32,
    /// Steps of the 60-step cycle during which it is stopped.
    away: std::ops::Range<u64>,
}

const WORKERS: [Worker; 3] = [
    Worker {
        pool: "demo-etl",
        name: "etl-worker-1",
        interval: 2,
        away: 0..0,
    },
    Worker {
        pool: "demo-etl",
        name: "etl-worker-2",
        interval: 2,
        away: 20..40,
    },
    Worker {
        pool: "demo-ml",
        name: "ml-worker-1",
        interval: 3,
        away: 10..35,
    },
];

async fn setup(bus: &Bus) {
    let pools = [
        ("demo-etl", "process", &["high", "low"][..]),
        ("demo-ml", "docker", &["gpu"][..]),
    ];
    for (pool, kind, queues) in pools {
        if let Err(e) = bus.create_pool(CreatePool::new(pool, kind)).await {
            tracing::debug!(pool, error = %e, "demo pool not created");
        }
        for q in queues {
            if let Err(e) = bus.create_queue(pool, CreateQueue::new(*q)).await {
                tracing::debug!(pool, queue = q, error = %e, "demo queue not created");
            }
        }
    }
}

/// Runs the fleet until the task is dropped; one step a second.
pub async fn run(bus: Bus) {
    setup(&bus).await;
    tracing::info!("demo fleet started: pools demo-etl and demo-ml");
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut step: u64 = 0;
    loop {
        tick.tick().await;
        let phase = step % 60;
        for w in &WORKERS {
            let away = w.away.contains(&phase);
            if !away && step.is_multiple_of(u64::from(w.interval)) {
                let _ = bus
                    .heartbeat(
                        w.pool,
                        Heartbeat::new(w.name)
                            .interval_opt(HeartbeatInterval::from_secs(w.interval).ok()),
                    )
                    .await;
            }
        }
        if step.is_multiple_of(5) {
            for pool in ["demo-etl", "demo-ml"] {
                let live = WORKERS
                    .iter()
                    .any(|w| w.pool == pool && !w.away.contains(&phase));
                if live {
                    let _ = bus.poll_all(pool).await;
                }
            }
        }
        match phase {
            30 => {
                let _ = bus
                    .update_queue("demo-etl", "low", QueueUpdate::pause())
                    .await;
            }
            45 => {
                let _ = bus
                    .update_queue("demo-etl", "low", QueueUpdate::resume())
                    .await;
            }
            50 => {
                let update = PoolUpdate {
                    description: Some(Some(format!("demo cycle {}", step / 60))),
                    ..PoolUpdate::default()
                };
                let _ = bus.update_pool("demo-etl", update).await;
            }
            _ => {}
        }
        step += 1;
    }
}
