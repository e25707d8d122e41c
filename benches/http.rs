//! HTTP: worker heartbeats and queue polls per second against the real server on loopback,
//! from a Rust load generator (awc, 64 requests in flight), against a bare actix-web server
//! that answers the same route after parsing the same body, with no bus behind it.
//! Then the same ratio measured in pairs (`http/paired/...`, printed): workbus and bare
//! actix-web in turn, 21 rounds, the median of the rounds' ratios, which the machine's
//! drift between criterion's groups does not reach.
//!
//! With `WORKBUS_BENCH_PREFECT_URL` set (to a Prefect server's base URL whose pools
//! `pool-0`..`pool-99` exist), workbus and Prefect then get the same heartbeat load, from
//! the same generator, at 8 and at 64 in flight, and only successes are counted: that is
//! what `tests/interop/bench_http_vs_prefect.sh` does, outside CI.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use support::http::{heartbeat_path, load, poll_path, start_bare, start_workbus};

const REQUESTS: u64 = 20_000;
const IN_FLIGHT: usize = 64;

fn http(c: &mut Criterion) {
    let workbus = start_workbus();
    let bare = start_bare();

    let mut group = c.benchmark_group("http");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(REQUESTS));
    let client = actix::System::new();
    for (name, addr, path) in [
        (
            "workbus_heartbeat",
            workbus,
            heartbeat_path as fn(usize) -> (String, String),
        ),
        ("workbus_poll", workbus, poll_path),
        ("bare_actix_web_baseline", bare, heartbeat_path),
    ] {
        group.bench_function(BenchmarkId::new(name, IN_FLIGHT), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += client.block_on(load(
                        format!("http://{addr}"),
                        REQUESTS,
                        IN_FLIGHT,
                        path,
                        None,
                    ));
                }
                total
            })
        });
    }
    group.finish();
    paired(&client, workbus, bare);
    if let Ok(prefect) = std::env::var("WORKBUS_BENCH_PREFECT_URL") {
        against_prefect(&client, workbus, prefect.trim_end_matches('/'));
    }
}

/// Rounds of the paired measurement, and requests a side in each.
const PAIRED_ROUNDS: usize = 21;
const PAIRED_REQUESTS: u64 = 4_000;

/// The ratio to bare actix-web, measured in pairs: each round sends the same load to
/// workbus and to the bare server one right after the other (which goes first
/// alternates), and the figure is the median of the rounds' ratios. Criterion's groups
/// above run one after the other, five seconds each, and this machine's speed drifts
/// more than the difference between the servers in that time; in a pair both sides see
/// the same machine.
fn paired(client: &actix::SystemRunner, workbus: SocketAddr, bare: SocketAddr) {
    let run = |addr: SocketAddr, path| {
        client.block_on(load(
            format!("http://{addr}"),
            PAIRED_REQUESTS,
            IN_FLIGHT,
            path,
            None,
        ))
    };
    for (route, path) in [
        ("heartbeat", heartbeat_path as fn(usize) -> (String, String)),
        ("poll", poll_path),
    ] {
        let mut ratios: Vec<f64> = (0..PAIRED_ROUNDS)
            .map(|round| {
                let (ours, theirs) = if round % 2 == 0 {
                    let ours = run(workbus, path);
                    (ours, run(bare, heartbeat_path))
                } else {
                    let theirs = run(bare, heartbeat_path);
                    (run(workbus, path), theirs)
                };
                // Requests per second, workbus over bare: the inverse of the times.
                theirs.as_secs_f64() / ours.as_secs_f64()
            })
            .collect();
        ratios.sort_by(f64::total_cmp);
        println!(
            "http/paired/{route}: workbus / bare actix-web {:.2} (median of {PAIRED_ROUNDS} \
             rounds of {PAIRED_REQUESTS} requests a side; {:.2} to {:.2})",
            ratios[PAIRED_ROUNDS / 2],
            ratios[0],
            ratios[PAIRED_ROUNDS - 1],
        );
    }
}

/// Requests per run against Prefect, which answers in milliseconds, not microseconds.
const PREFECT_REQUESTS: u64 = 640;

/// Workbus and Prefect under the same load, from the same generator, at the same
/// concurrency (8 and 64 in flight), counting successes only: Prefect's SQLite-backed
/// server answers many requests with 503 under load, and a 503 is not a heartbeat.
fn against_prefect(client: &actix::SystemRunner, workbus: SocketAddr, prefect: &str) {
    for in_flight in [8, 64] {
        for (who, base) in [
            ("workbus", format!("http://{workbus}")),
            ("prefect_3_9_1", prefect.to_owned()),
        ] {
            let mut rates = Vec::new();
            let mut failed = 0;
            for _ in 0..3 {
                let failures = std::cell::Cell::new(0);
                let took = client.block_on(load(
                    base.clone(),
                    PREFECT_REQUESTS,
                    in_flight,
                    heartbeat_path,
                    Some(&failures),
                ));
                failed += failures.get();
                let successes = PREFECT_REQUESTS - failures.get();
                rates.push(successes as f64 / took.as_secs_f64());
            }
            rates.sort_by(f64::total_cmp);
            println!(
                "http/against_prefect/{who}/{in_flight}: {:.0} successful heartbeats/s \
                 (median of 3 runs of {PREFECT_REQUESTS}; {failed} of {} answers not a success)",
                rates[1],
                3 * PREFECT_REQUESTS,
            );
        }
    }
}

criterion_group! {
    name = benches;
    // No HTML plots: criterion drew about 15 SVGs a benchmark, about 3 s each time,
    // 40% of what the fan-out bench took. The figures are the same without them.
    config = Criterion::default().without_plots();
    targets = http
}
criterion_main!(benches);
