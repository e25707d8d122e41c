//! The `workbus` binary itself: flags and environment, the demo fleet, graceful SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

struct Running {
    child: Child,
    api: String,
    lines: mpsc::Receiver<String>,
}

/// Starts the binary on a free port and reads its address from the log.
fn start(args: &[&str], env: &[(&str, &str)]) -> Running {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_workbus"));
    cmd.args(args)
        .env("WORKBUS_PORT", "0")
        .env("WORKBUS_LOG_FORMAT", "json")
        .env("WORKBUS_IN_MEMORY", "true")
        .env_remove("WORKBUS_DATA_DIR")
        .env_remove("WORKBUS_API_AUTH_STRING")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("the binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let api = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(20))
            .expect("a log line");
        let log: Value = serde_json::from_str(&line).expect("JSON log lines");
        let msg = log["fields"]["message"].as_str().unwrap_or_default();
        if let Some(url) = msg.split("PREFECT_API_URL=").nth(1) {
            break url.trim().to_owned();
        }
    };
    Running { child, api, lines }
}

fn get(url: &str) -> (u16, Value) {
    actix_rt::System::new().block_on(async {
        let mut resp = awc::Client::new().get(url).send().await.expect("GET");
        let body = resp.body().await.expect("body");
        (
            resp.status().as_u16(),
            serde_json::from_slice(&body).unwrap_or(Value::Null),
        )
    })
}

fn terminate(mut r: Running) -> Vec<String> {
    let status = Command::new("kill")
        .args(["-TERM", &r.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let exit = r.child.wait().expect("the binary exits");
    assert!(exit.success(), "{exit:?}");
    // The reader thread may still hold the last lines when the child has exited: read
    // until it ends at the pipe's end (bounded, should anything keep the pipe open).
    let mut logs = Vec::new();
    while let Ok(line) = r.lines.recv_timeout(Duration::from_secs(10)) {
        logs.push(line);
    }
    logs
}

#[test]
fn serves_and_stops_gracefully_on_sigterm() {
    let r = start(&["serve"], &[("WORKBUS_EVENT_HISTORY", "7")]);
    assert!(r.api.starts_with("http://127.0.0.1:"), "{}", r.api);
    assert_eq!(get(&format!("{}/health", r.api)), (200, Value::Bool(true)));
    let logs = terminate(r);
    assert!(
        logs.iter().any(|l| l.contains("workbus stopped")),
        "{logs:?}"
    );
}

#[test]
fn demo_runs_a_fleet() {
    let r = start(&["--demo"], &[]);
    let mut ready = false;
    for _ in 0..50 {
        let (status, pool) = get(&format!("{}/work_pools/demo-etl", r.api));
        if status == 200 && pool["status"] == "READY" {
            ready = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(ready, "the demo pool became READY");
    let (status, pool) = get(&format!("{}/work_pools/demo-ml", r.api));
    assert_eq!((status, pool["type"].clone()), (200, Value::from("docker")));
    terminate(r);
}

#[test]
fn bad_settings_exit_with_a_message() {
    for (k, v) in [
        ("WORKBUS_WORKER_INACTIVITY_MULTIPLE", "0"),
        ("WORKBUS_QUEUE_POLL_TIMEOUT_SECONDS", "-1"),
        ("WORKBUS_PORT", "not-a-port"),
        ("WORKBUS_LOG_FORMAT", "xml"),
        // Parsed once, by clap, whether or not the webhook or NATS is on.
        ("WORKBUS_WEBHOOK_REFUSE_PRIVATE", "maybe"),
        ("WORKBUS_NATS_BUFFER", "many"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_workbus"))
            .env("WORKBUS_IN_MEMORY", "true")
            .env(k, v)
            .output()
            .expect("runs");
        assert!(!out.status.success(), "{k}={v} was accepted");
        assert!(!out.stderr.is_empty(), "{k}={v} said nothing");
    }
}
