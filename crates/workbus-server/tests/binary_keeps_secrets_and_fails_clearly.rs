//! The `workbus` binary with every secret set: the auth string and the webhook secret
//! appear in none of its output (stdout and stderr, at debug level) nor in `/metrics`.
//! And startup failures (a bad webhook URL, an unreachable NATS) are clear messages
//! with a non-zero exit.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;

const AUTH: &str = "operator:Zq7-auth-Secret-9fK";
const WEBHOOK_KEY: &[u8] = b"Webhook-Key-Xy81-never-logged";

/// A webhook target on 127.0.0.1 in a thread of its own: the first attempt of each
/// event fails with 503 (so retries are logged), the next one succeeds.
fn webhook_target() -> (String, Arc<AtomicU32>) {
    let hits = Arc::new(AtomicU32::new(0));
    let counted = hits.clone();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let seen = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
            let server = HttpServer::new(move || {
                let (seen, counted) = (seen.clone(), counted.clone());
                App::new().route(
                    "/hook",
                    web::post().to(move |req: actix_web::HttpRequest| {
                        let (seen, counted) = (seen.clone(), counted.clone());
                        async move {
                            let id = req
                                .headers()
                                .get("webhook-id")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_owned();
                            if seen.lock().unwrap().insert(id) {
                                HttpResponse::ServiceUnavailable().finish()
                            } else {
                                counted.fetch_add(1, Ordering::SeqCst);
                                HttpResponse::NoContent().finish()
                            }
                        }
                    }),
                )
            })
            .workers(1)
            .bind(("127.0.0.1", 0))
            .unwrap();
            tx.send(format!("http://{}/hook", server.addrs()[0]))
                .unwrap();
            let _ = server.run().await;
        });
    });
    (rx.recv().unwrap(), hits)
}

fn base_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_workbus"));
    cmd.env("WORKBUS_IN_MEMORY", "true")
        .env_remove("WORKBUS_DATA_DIR");
    for k in [
        "WORKBUS_API_AUTH_STRING",
        "WORKBUS_WEBHOOK_URL",
        "WORKBUS_WEBHOOK_SECRET",
        "WORKBUS_WEBHOOKS_FILE",
        "WORKBUS_NATS_URL",
        "WORKBUS_NODE",
        "WORKBUS_LOG_FILE",
    ] {
        cmd.env_remove(k);
    }
    cmd.env("WORKBUS_PORT", "0");
    cmd
}

fn forbidden_strings(secret: &str) -> Vec<String> {
    vec![
        AUTH.to_owned(),
        "Zq7-auth-Secret-9fK".to_owned(),
        STANDARD.encode(AUTH),
        secret.to_owned(),
        STANDARD.encode(WEBHOOK_KEY),
        String::from_utf8_lossy(WEBHOOK_KEY).into_owned(),
    ]
}

#[test]
fn no_secret_in_the_logs_or_the_metrics() {
    let (url, delivered) = webhook_target();
    let secret = format!("whsec_{}", STANDARD.encode(WEBHOOK_KEY));
    for format in ["json", "pretty"] {
        let mut child = base_command()
            .env("WORKBUS_LOG_FORMAT", format)
            .env("RUST_LOG", "debug")
            .env("WORKBUS_API_AUTH_STRING", AUTH)
            .env("WORKBUS_WEBHOOK_URL", &url)
            .env("WORKBUS_WEBHOOK_SECRET", &secret)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let (tx, lines) = mpsc::channel::<String>();
        for out in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        drop(tx);
        let mut output = Vec::new();
        let api = loop {
            let line = lines
                .recv_timeout(Duration::from_secs(20))
                .expect("a log line");
            output.push(line.clone());
            if let Some(url) = line.split("PREFECT_API_URL=").nth(1) {
                break url
                    .trim()
                    .trim_end_matches(['"', '}', ','])
                    .split(['"', ' '])
                    .next()
                    .unwrap()
                    .to_owned();
            }
        };
        let before = delivered.load(Ordering::SeqCst);
        let metrics = actix_rt::System::new().block_on(async {
            let c = awc::Client::new();
            let (user, pass) = AUTH.split_once(':').unwrap();
            // Wrong credentials, then right ones.
            let r = c
                .get(format!("{api}/version"))
                .basic_auth(user, "wrong")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 401);
            let r = c
                .post(format!("{api}/work_pools/"))
                .basic_auth(user, pass)
                .send_json(&json!({"name": format!("p-{format}"), "type": "process"}))
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
            // A websocket with a wrong token, then the right one.
            let ws_url = format!("{api}/events/out").replacen("http", "ws", 1);
            for token in ["not-the-token", AUTH] {
                let (_, mut ws) = c
                    .ws(ws_url.as_str())
                    .protocols(["prefect"])
                    .connect()
                    .await
                    .unwrap();
                ws.send(awc::ws::Message::Text(
                    json!({"type": "auth", "token": token}).to_string().into(),
                ))
                .await
                .unwrap();
                let _ = tokio::time::timeout(Duration::from_secs(2), ws.next()).await;
            }
            let mut r = c
                .get(api.replace("/api", "/metrics"))
                .basic_auth(user, pass)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            String::from_utf8(r.body().await.unwrap().to_vec()).unwrap()
        });
        // Wait for the retried webhook deliveries (3 events), so their logs are in.
        let deadline = Instant::now() + Duration::from_secs(20);
        while delivered.load(Ordering::SeqCst) < before + 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(delivered.load(Ordering::SeqCst), before + 3);
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        assert!(child.wait().unwrap().success());
        output.extend(lines.iter());
        let text = output.join("\n");
        assert!(text.contains("workbus stopped"), "{text}");
        assert!(text.contains("401") || text.contains("Unauthorized") || format == "pretty");
        for secret in forbidden_strings(&secret) {
            assert!(
                !text.contains(&secret),
                "{format} logs hold {secret:?}:\n{text}"
            );
            assert!(!metrics.contains(&secret), "metrics hold {secret:?}");
        }
        assert!(metrics.contains("workbus_events_emitted_total"));
    }
}

#[test]
fn a_bad_webhook_url_stops_the_start_with_a_message() {
    for (k, v, says) in [
        (
            "WORKBUS_WEBHOOK_URL",
            "ftp://example.invalid/hook",
            "invalid webhook URL",
        ),
        ("WORKBUS_WEBHOOK_URL", "not a url", "invalid webhook URL"),
        (
            "WORKBUS_WEBHOOK_SECRET",
            "whsec_***",
            "WORKBUS_WEBHOOK_URL is not set",
        ),
        (
            "WORKBUS_WEBHOOKS_FILE",
            "/nonexistent/hooks.json",
            "cannot read",
        ),
        ("WORKBUS_NATS_STREAM", "bad.stream", "NATS"),
    ] {
        let mut cmd = base_command();
        cmd.env(k, v);
        if k == "WORKBUS_NATS_STREAM" {
            cmd.env("WORKBUS_NATS_URL", "nats://127.0.0.1:4222");
        }
        let out = cmd.output().expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{k}={v}: {stderr}");
        assert!(stderr.contains(says), "{k}={v}: {stderr}");
        if k == "WORKBUS_WEBHOOK_SECRET" {
            assert!(!stderr.contains("whsec_***"), "{stderr}");
        }
    }
}

#[test]
fn an_unreachable_nats_stops_the_start_with_a_message() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    let out = base_command()
        .env("WORKBUS_NATS_URL", format!("nats://127.0.0.1:{port}"))
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("NATS bridge: cannot connect to NATS"),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
}
