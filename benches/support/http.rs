//! The HTTP bench's parts: the servers it measures (the real workbus server and a bare
//! actix-web one answering the same route), its routes and its load generator.
//! `benches/http.rs` and `examples/http_instructions.rs` use them.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use workbus_server::{Server, ServerConfig};

/// Pools made on the workbus server, `pool-0` to `pool-99`.
pub const POOLS: usize = 100;

/// Starts `start` on its own thread with its own actix system; answers its address.
pub fn serve<F, Fut>(start: F) -> SocketAddr
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
pub struct Beat {
    name: String,
    heartbeat_interval_seconds: Option<u32>,
}

pub async fn bare_heartbeat(_: web::Path<String>, _: web::Json<Beat>) -> HttpResponse {
    HttpResponse::NoContent().finish()
}

/// Sends `requests` requests, `in_flight` at a time, and answers the time taken.
/// Every answer must be a success, unless `failures` is given to count the others
/// (error answers and failed requests alike).
pub async fn load(
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

pub fn heartbeat_path(i: usize) -> (String, String) {
    let pool = i % POOLS;
    let worker = i % 1000;
    (
        format!("/api/work_pools/pool-{pool}/workers/heartbeat"),
        format!(r#"{{"name":"worker-{worker}","heartbeat_interval_seconds":30}}"#),
    )
}

pub fn poll_path(i: usize) -> (String, String) {
    (
        format!("/api/work_pools/pool-{}/get_scheduled_flow_runs", i % POOLS),
        r#"{"work_queue_names":["default"]}"#.to_owned(),
    )
}

/// The real server (one HTTP worker, its default settings, port 0) with the pools made,
/// on its own thread: answers its address.
pub fn start_workbus() -> SocketAddr {
    serve(|| async {
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
    })
}

/// The baseline: bare actix-web (one worker) answering the heartbeat route after
/// parsing the same body, with no bus behind it, on its own thread.
pub fn start_bare() -> SocketAddr {
    serve(|| async {
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
    })
}
