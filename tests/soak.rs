//! Soak: 10 million events through the bus to the built-in subscribers (metrics, a JSON-lines
//! logger writing to a file) and a counting actor, with resident memory read from
//! `/proc/self/status` after every million. Memory must stay flat (under +20% of what it was
//! after warm-up) and nothing may be lost: every subscriber gets every event, the metrics
//! count every event, and the log file has one line per event.
//!
//! On demand, not in CI:
//! `cargo test --release --test soak -- --ignored --nocapture`
//! (`SOAK_EVENTS=1000000` for a shorter run).

use std::io::{BufRead, BufReader};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use futures_util::future::join_all;
use workbus::{Bus, CreatePool, Deliver, PoolUpdate, SubscribeOptions};
use workbus_subscribers::logger::{JsonTarget, Logger, LoggerConfig};
use workbus_subscribers::metrics::{Metrics, MetricsConfig};

struct Count(Arc<AtomicU64>);

impl Actor for Count {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(1024);
    }
}

impl Handler<Deliver> for Count {
    type Result = ();
    fn handle(&mut self, _: Deliver, _: &mut Context<Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Resident memory, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
#[ignore = "soak: run on demand with --release -- --ignored"]
fn ten_million_events_through_every_built_in_subscriber_in_flat_memory() {
    let total: u64 = std::env::var("SOAK_EVENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("events.jsonl");
    let sys = actix::System::new();
    sys.block_on(async {
        let bus = Bus::start();
        let (metrics, metrics_handle) = Metrics::subscribe(&bus, MetricsConfig::default())
            .await
            .unwrap();
        let logger = Logger::subscribe(
            &bus,
            LoggerConfig::json_lines(JsonTarget::File(log.clone())),
        )
        .await
        .unwrap();
        let counted = Arc::new(AtomicU64::new(0));
        let counter = bus
            .subscribe(
                Count(counted.clone()).start().recipient(),
                SubscribeOptions::new("counter"),
            )
            .await
            .unwrap();

        let pools = 100usize;
        for i in 0..pools {
            bus.create_pool(CreatePool::new(format!("p{i}"), "process"))
                .await
                .unwrap();
        }
        // Then pause and resume, one event each, by `pools` concurrent producers,
        // in chunks of about a million events; memory is read after each.
        let chunks = (total / 1_000_000).max(1);
        let per_chunk = (total - 3 * pools as u64) / chunks;
        let rounds = per_chunk / (2 * pools as u64);
        let start = Instant::now();
        let mut samples = vec![(bus.stats().published(), rss_kib())];
        while bus.stats().published() + 2 * pools as u64 <= total {
            let left = (total - bus.stats().published()) / (2 * pools as u64);
            let rounds = rounds.min(left).max(1);
            join_all((0..pools).map(|i| {
                let bus = bus.clone();
                async move {
                    let p = format!("p{i}");
                    for _ in 0..rounds {
                        bus.update_pool(&p, PoolUpdate::pause()).await.unwrap();
                        bus.update_pool(&p, PoolUpdate::resume()).await.unwrap();
                    }
                }
            }))
            .await;
            let s = (bus.stats().published(), rss_kib());
            eprintln!(
                "{:>9} events  {:>7.1} s  RSS {:>7} KiB",
                s.0,
                start.elapsed().as_secs_f64(),
                s.1
            );
            samples.push(s);
        }
        metrics_handle.drain().await;
        logger.drain().await;
        bus.flush().await.unwrap();
        let elapsed = start.elapsed();
        let published = bus.stats().published();
        while counted.load(Ordering::Relaxed) < published {
            tokio::task::yield_now().await;
        }

        // Nothing lost.
        assert_eq!(counted.load(Ordering::Relaxed), published);
        for sub in [
            &counter,
            metrics_handle.subscription(),
            logger.subscription(),
        ] {
            let s = &sub.stats;
            assert_eq!(
                (
                    s.offered(),
                    s.delivered(),
                    s.dropped_overflow(),
                    s.dropped_closed()
                ),
                (published, published, 0, 0),
                "{}",
                sub.name
            );
        }
        let text = metrics.render();
        let emitted: u64 = text
            .lines()
            .filter(|l| l.starts_with("workbus_events_emitted_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .map(|v| v as u64)
            .sum();
        assert_eq!(emitted, published, "the metrics counted every event");
        let lines = BufReader::new(std::fs::File::open(&log).unwrap())
            .lines()
            .map(|l| l.unwrap())
            .filter(|l| !l.is_empty())
            .count() as u64;
        let bytes = std::fs::metadata(&log).unwrap().len();
        assert_eq!(lines, published, "one log line per event");

        // Flat memory: after the first chunk (warm-up), never 20% above it.
        let warm = samples.get(1).map_or(samples[0].1, |s| s.1);
        let peak = samples.iter().skip(1).map(|s| s.1).max().unwrap_or(warm);
        let end = samples.last().map_or(warm, |s| s.1);
        eprintln!(
            "soak: {published} events in {:.1} s = {:.0} events/s; RSS start {} KiB, \
             after warm-up {warm} KiB, peak {peak} KiB, end {end} KiB; log {lines} lines, \
             {bytes} bytes; lost 0",
            elapsed.as_secs_f64(),
            published as f64 / elapsed.as_secs_f64(),
            samples[0].1,
        );
        assert!(published >= total - 2 * pools as u64);
        assert!(
            peak * 10 <= warm * 12,
            "memory grew: {warm} KiB after warm-up, peak {peak} KiB"
        );
    });
}
