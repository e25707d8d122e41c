//! HTTP: worker heartbeats and queue polls per second against the real server on loopback,
//! from a Rust load generator (awc, 64 requests in flight), against a bare actix-web server
//! that answers the same route after parsing the same body, with no bus behind it.
//!
//! With `WORKBUS_BENCH_PREFECT_URL` set (to a Prefect server's base URL whose pools
//! `pool-0`..`pool-99` exist), workbus and Prefect then get the same heartbeat load, from
//! the same generator, at 8 and at 64 in flight, and only successes are counted: that is
//! what `tests/interop/bench_http_vs_prefect.sh` does, outside CI.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use workbus_server::{Server, ServerConfig};

const REQUESTS: u64 = 20_000;
const IN_FLIGHT: usize = 64;
const POOLS: usize = 100;

/// Starts `start` on its own thread with its own actix system; answers its address.
fn serve<F, Fut>(start: F) -> SocketAddr
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = SocketAddr>,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix::System::new().block_on(async move {
            tx.send(start().await).unwrap();
            // Serve until the bench process exits.
            std::future::pending::<()>().await;
        })
    });
    rx.recv().unwrap()
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Beat {
    name: String,
    heartbeat_interval_seconds: Option<u32>,
}

async fn bare_heartbeat(_: web::Path<String>, _: web::Json<Beat>) -> HttpResponse {
    HttpResponse::NoContent().finish()
}

/// Sends `requests` requests, `in_flight` at a time, and answers the time taken.
/// Every answer must be a success, unless `failures` is given to count the others
/// (error answers and failed requests alike).
async fn load(
    base: String,
    requests: u64,
    in_flight: usize,
    path: fn(usize) -> (String, String),
    failures: Option<&std::cell::Cell<u64>>,
) -> Duration {
    let connector = awc::Connector::new().limit(in_flight);
    let client = awc::Client::builder()
        .connector(connector)
        .timeout(Duration::from_secs(30))
        .finish();
    let t = Instant::now();
    let per = requests as usize / in_flight;
    let tasks = (0..in_flight).map(|c| {
        let client = client.clone();
        let base = base.clone();
        async move {
            for i in 0..per {
                let (path, body) = path(c * per + i);
                let sent = client
                    .post(format!("{base}{path}"))
                    .insert_header(("content-type", "application/json"))
                    .send_body(body)
                    .await;
                // Read the answer as a real client does: an unread body makes awc close
                // the connection, and the run would time TCP connects instead.
                let ok = match sent {
                    Ok(mut resp) => resp.body().await.is_ok() && resp.status().is_success(),
                    Err(e) if failures.is_none() => panic!("{e}"),
                    // A reset connection is a failed request, counted like a 503.
                    Err(_) => false,
                };
                match failures {
                    Some(f) if !ok => f.set(f.get() + 1),
                    _ => assert!(ok, "a request failed"),
                }
            }
        }
    });
    futures_util::future::join_all(tasks).await;
    t.elapsed()
}

fn heartbeat_path(i: usize) -> (String, String) {
    let pool = i % POOLS;
    let worker = i % 1000;
    (
        format!("/api/work_pools/pool-{pool}/workers/heartbeat"),
        format!(r#"{{"name":"worker-{worker}","heartbeat_interval_seconds":30}}"#),
    )
}

fn poll_path(i: usize) -> (String, String) {
    (
        format!("/api/work_pools/pool-{}/get_scheduled_flow_runs", i % POOLS),
        r#"{"work_queue_names":["default"]}"#.to_owned(),
    )
}

fn http(c: &mut Criterion) {
    let workbus = serve(|| async {
        let config = ServerConfig {
            port: 0,
            http_workers: 1,
            ..ServerConfig::default()
        };
        let server = Server::bind(config).await.unwrap();
        let addr = server.addr();
        let bus = server.bus().clone();
        for p in 0..POOLS {
            bus.create_pool(workbus::CreatePool::new(format!("pool-{p}"), "process"))
                .await
                .unwrap();
        }
        // Keep the server running for the whole process.
        std::mem::forget(server);
        addr
    });
    let bare = serve(|| async {
        let server = HttpServer::new(|| {
            App::new().route(
                "/api/work_pools/{name}/workers/heartbeat",
                web::post().to(bare_heartbeat),
            )
        })
        .workers(1)
        .bind(("127.0.0.1", 0))
        .unwrap();
        let addr = server.addrs()[0];
        actix_web::rt::spawn(server.run());
        addr
    });

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
    if let Ok(prefect) = std::env::var("WORKBUS_BENCH_PREFECT_URL") {
        against_prefect(&client, workbus, prefect.trim_end_matches('/'));
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
