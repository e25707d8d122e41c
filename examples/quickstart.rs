//! A short scripted life of two work pools and their queues, on a fast configuration:
//! workers come and go, queues are polled, fields change, pools and queues pause and
//! resume, workers go offline, and everything is deleted. Every event it causes is
//! printed on stdout as one line of Prefect JSON, and nothing else is.
//!
//! ```text
//! cargo run --release --example quickstart
//! ```

use std::io::Write;
use std::time::Duration;

use actix::prelude::*;
use workbus::{
    Bus, BusConfig, CreatePool, CreateQueue, Deliver, PoolUpdate, QueueUpdate, SubscribeOptions,
};

/// Prints each event's shared JSON bytes, one per line.
struct JsonLines;

impl Actor for JsonLines {
    type Context = Context<Self>;
}

impl Handler<Deliver> for JsonLines {
    type Result = ();
    fn handle(&mut self, Deliver(event): Deliver, _: &mut Context<Self>) {
        let mut out = std::io::stdout().lock();
        // A closed stdout (`| head`) is the reader's choice, not an error to report.
        let _ = out
            .write_all(event.json())
            .and_then(|_| out.write_all(b"\n"));
    }
}

async fn life(bus: &Bus) -> Result<(), workbus::Error> {
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // Two pools: created, with their default queues; one starts paused.
    bus.create_pool(CreatePool::new("etl", "process")).await?;
    bus.create_pool(CreatePool::new("ml", "kubernetes").paused())
        .await?;
    bus.create_queue("etl", CreateQueue::new("high")).await?;
    bus.create_queue("ml", CreateQueue::new("gpu")).await?;

    // Workers arrive: etl becomes ready; ml is paused, so it stays paused.
    bus.heartbeat("etl", "etl-worker-1").await?;
    bus.heartbeat("etl", "etl-worker-2").await?;
    bus.heartbeat("ml", "ml-worker-1").await?;

    // Workers poll: their queues become ready.
    bus.poll_all("etl").await?;

    // Field changes: one `updated` per request, only for what changed.
    let update = PoolUpdate {
        description: Some(Some("nightly loads".into())),
        concurrency_limit: Some(Some(4)),
        ..PoolUpdate::default()
    };
    bus.update_pool("etl", update).await?;
    bus.update_queue(
        "etl",
        "high",
        QueueUpdate {
            priority: Some(5),
            description: Some("urgent".into()),
            ..Default::default()
        },
    )
    .await?;

    // Pause and resume a queue: it was polled just now, so it comes back ready.
    bus.update_queue("etl", "high", QueueUpdate::pause())
        .await?;
    bus.update_queue("etl", "high", QueueUpdate::resume())
        .await?;

    // ml resumes with a worker online, and its queue is polled.
    bus.update_pool("ml", PoolUpdate::resume()).await?;
    bus.poll("ml", &names(&["gpu"])).await?;

    // One etl worker leaves; the other keeps the pool ready.
    bus.delete_worker("etl", "etl-worker-2").await?;

    // Silence: workers go offline and queues time out, at their deadlines.
    tokio::time::sleep(Duration::from_millis(450)).await;

    // Pause, then tear everything down.
    bus.update_pool("etl", PoolUpdate::pause()).await?;
    bus.delete_queue("ml", "gpu").await?;
    bus.delete_pool("ml").await?;
    bus.delete_pool("etl").await?;
    bus.flush().await
}

fn main() {
    let code = System::new().block_on(async {
        // Fast: a worker is offline 200 ms after its last heartbeat, a queue 300 ms after its last poll.
        let config = BusConfig {
            fallback_heartbeat_interval: Duration::from_millis(100),
            worker_inactivity_multiple: 2,
            queue_poll_timeout: Duration::from_millis(300),
            ..BusConfig::default()
        };
        let bus = Bus::builder().config(config).start();
        let printer = JsonLines.start();
        // The guard stays in scope: dropping it would unsubscribe the printer.
        let _printing = match bus
            .subscribe(printer.recipient(), SubscribeOptions::new("stdout"))
            .await
        {
            Ok(subscription) => subscription,
            Err(e) => {
                eprintln!("quickstart: {e}");
                return 1;
            }
        };
        let result = life(&bus).await;
        // Let the printer empty its mailbox before the system stops.
        tokio::time::sleep(Duration::from_millis(20)).await;
        match result {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("quickstart: {e}");
                1
            }
        }
    });
    std::process::exit(code);
}
