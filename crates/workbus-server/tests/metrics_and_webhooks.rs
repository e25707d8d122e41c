//! The subscribers wired into the server: `GET /metrics` parses as Prometheus text and
//! counts what the API did; a webhook set through the server's settings receives the
//! events of API operations, signed, before shutdown returns.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::TestServer;
use hmac::{Hmac, KeyInit, Mac};
use prometheus_parse::{Scrape, Value as Sample};
use serde_json::{json, Value};
use sha2::Sha256;
use workbus_server::{ServeArgs, ServerConfig};

fn scrape(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("exposition text parses")
}

fn value(s: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    s.samples
        .iter()
        .find(|x| x.metric == name && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .map(|x| match x.value {
            Sample::Counter(v) | Sample::Gauge(v) | Sample::Untyped(v) => v,
            _ => f64::NAN,
        })
}

async fn metrics_text(s: &TestServer) -> (StatusCode, String, String) {
    let mut req = s.client.get(s.url("/metrics"));
    if let Some((u, p)) = &s.auth {
        req = req.basic_auth(u, p);
    }
    let mut resp = req.send().await.expect("GET /metrics");
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = resp.body().limit(4 << 20).await.expect("body");
    (
        resp.status(),
        ct,
        String::from_utf8(body.to_vec()).expect("UTF-8"),
    )
}

#[actix_rt::test]
async fn metrics_parse_and_count_what_the_api_did() {
    let s = TestServer::start().await;
    s.pool("etl").await;
    s.pool("ml").await;
    let (status, _) = s
        .post(
            "/api/work_pools/etl/queues",
            json!({"name": "high", "priority": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = s
        .post(
            "/api/work_pools/etl/workers/heartbeat",
            json!({"name": "w1", "heartbeat_interval_seconds": 30}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        s.patch("/api/work_pools/ml", json!({"is_paused": true}))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let ws = s.subscribe(None, json!({}), false).await;
    s.server.bus().flush().await.unwrap();

    let (status, ct, text) = metrics_text(&s).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ct, workbus_subscribers::metrics::CONTENT_TYPE);
    let m = scrape(&text);
    let emitted = |e: &str| value(&m, "workbus_events_emitted_total", &[("event", e)]);
    assert_eq!(emitted("prefect.work-pool.created"), Some(2.0), "{text}");
    assert_eq!(emitted("prefect.work-queue.created"), Some(3.0));
    // etl went READY with its worker; ml paused.
    assert_eq!(emitted("prefect.work-pool.ready"), Some(1.0));
    assert_eq!(emitted("prefect.work-pool.paused"), Some(1.0));
    assert_eq!(
        value(&m, "workbus_work_pools", &[("status", "READY")]),
        Some(1.0)
    );
    assert_eq!(
        value(&m, "workbus_work_pools", &[("status", "PAUSED")]),
        Some(1.0)
    );
    assert_eq!(value(&m, "workbus_workers_online", &[]), Some(1.0));
    // The server's own families.
    assert_eq!(value(&m, "workbus_websocket_clients", &[]), Some(1.0));
    assert_eq!(value(&m, "workbus_websocket_connections", &[]), Some(1.0));
    assert_eq!(value(&m, "workbus_websocket_refused_total", &[]), Some(0.0));
    let history = s.post("/api/events/filter", json!({"limit": 1})).await.1["total"]
        .as_f64()
        .unwrap();
    assert_eq!(
        value(&m, "workbus_event_history_events", &[]),
        Some(history)
    );
    // The history subscriber's deliveries are counted by the registry too.
    assert_eq!(
        value(
            &m,
            "workbus_events_delivered_total",
            &[("subscriber", "history")]
        ),
        Some(history)
    );
    drop(ws);
}

#[actix_rt::test]
async fn metrics_sit_behind_auth_when_it_is_on() {
    let mut cfg = ServerConfig::loopback();
    cfg.api_auth_string = Some("scraper:pw".into());
    let anon = TestServer::with(cfg).await;
    let (status, _, body) = metrics_text(&anon).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["detail"], "Unauthorized");
    let s = anon.login("scraper", "pw");
    let (status, _, text) = metrics_text(&s).await;
    assert_eq!(status, StatusCode::OK);
    scrape(&text);
}

/// One request the webhook target received.
#[derive(Clone, Debug)]
struct Hit {
    id: String,
    timestamp: String,
    signature: String,
    body: bytes::Bytes,
}

/// A real actix-web webhook target on 127.0.0.1 that keeps what it received.
async fn target() -> (String, Arc<Mutex<Vec<Hit>>>, actix_web::dev::ServerHandle) {
    let hits = Arc::new(Mutex::new(Vec::new()));
    let kept = hits.clone();
    let server = HttpServer::new(move || {
        let kept = kept.clone();
        App::new().route(
            "/hook",
            web::post().to(move |req: HttpRequest, body: web::Bytes| {
                let kept = kept.clone();
                async move {
                    let h = |n: &str| {
                        req.headers()
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    kept.lock().unwrap().push(Hit {
                        id: h("webhook-id"),
                        timestamp: h("webhook-timestamp"),
                        signature: h("webhook-signature"),
                        body,
                    });
                    HttpResponse::NoContent().finish()
                }
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .unwrap();
    let url = format!("http://{}/hook", server.addrs()[0]);
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    (url, hits, handle)
}

#[actix_rt::test]
async fn a_webhook_from_the_settings_receives_the_api_events_signed() {
    let (url, hits, target) = target().await;
    let secret = format!("whsec_{}", STANDARD.encode(b"a webhook key of the test"));
    let args = ServeArgs {
        port: 0,
        in_memory: true,
        http_workers: 1,
        webhook_url: Some(url),
        webhook_secret: Some(secret.clone()),
        ..ServeArgs::default()
    };
    let s = TestServer::with(ServerConfig::try_from(args).unwrap()).await;
    s.pool("etl").await;
    assert_eq!(
        s.post("/api/work_pools/etl/queues", json!({"name": "high"}))
            .await
            .0,
        StatusCode::CREATED
    );
    assert_eq!(
        s.delete("/api/work_pools/etl").await.0,
        StatusCode::NO_CONTENT
    );
    let history: Vec<Value> = s.events(json!({})).await;
    // Shutdown waits for the webhook: every event is with the target when it returns.
    let TestServer { server, .. } = s;
    tokio::time::timeout(Duration::from_secs(30), server.shutdown())
        .await
        .expect("shutdown within the webhook's budget")
        .unwrap();
    let hits = hits.lock().unwrap().clone();
    let key = STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap();
    let mut ids: Vec<String> = Vec::new();
    for hit in &hits {
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(format!("{}.{}.", hit.id, hit.timestamp).as_bytes());
        mac.update(&hit.body);
        let want = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
        assert_eq!(hit.signature, want, "signature of {}", hit.id);
        let event: Value = serde_json::from_slice(&hit.body).unwrap();
        assert_eq!(event["id"], hit.id.as_str());
        ids.push(hit.id.clone());
    }
    let mut want: Vec<String> = history
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    want.sort();
    // created (pool, default queue), not-ready, queue created, deleted (queues, pool): once each.
    assert!(want.len() >= 6, "{history:?}");
    assert_eq!(ids, want);
    target.stop(true).await;
}
