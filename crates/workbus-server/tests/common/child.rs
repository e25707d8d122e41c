//! The `workbus` binary as a child process: for what only a process shows (its
//! resident memory, its log) and for signals.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

pub struct Running {
    pub child: Child,
    pub addr: SocketAddr,
    /// Every log line so far (JSON), stdout and stderr alike.
    pub lines: Arc<Mutex<Vec<String>>>,
}

fn collect(stream: impl std::io::Read + Send + 'static, lines: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            // Event lines can be megabytes: keep only what a test reads (log lines).
            if line.len() <= 64 * 1024 {
                lines.lock().unwrap().push(line);
            }
        }
    });
}

/// Starts the binary on a free loopback port with these settings, JSON logs, no auth
/// unless given, and waits for its address.
pub fn start(env: &[(&str, &str)]) -> Running {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_workbus"));
    cmd.env("WORKBUS_PORT", "0")
        .env("WORKBUS_LOG_FORMAT", "json")
        .env("WORKBUS_HTTP_WORKERS", "2")
        .env_remove("WORKBUS_API_AUTH_STRING")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // In memory unless the test gives a data directory: tests never share one.
    if !env.iter().any(|(k, _)| *k == "WORKBUS_DATA_DIR") {
        cmd.env("WORKBUS_IN_MEMORY", "true");
    }
    cmd.env_remove("WORKBUS_DATA_DIR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("the binary starts");
    let lines = Arc::new(Mutex::new(Vec::new()));
    collect(child.stdout.take().expect("stdout"), lines.clone());
    collect(child.stderr.take().expect("stderr"), lines.clone());
    // Dropping `Running` kills and reaps the child, on every path from here.
    let mut running = Running {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        lines,
    };
    for _ in 0..400 {
        let found = running.lines.lock().unwrap().iter().find_map(|line| {
            let log: Value = serde_json::from_str(line).ok()?;
            let msg = log["fields"]["message"].as_str()?;
            let url = msg.split("PREFECT_API_URL=http://").nth(1)?;
            url.trim().trim_end_matches("/api").parse().ok()
        });
        if let Some(addr) = found {
            running.addr = addr;
            return running;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the binary did not say where it listens")
}

impl Running {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The process's resident memory, in KiB, from /proc.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    /// The log lines at this level (`"ERROR"`, `"WARN"`).
    pub fn lines_at(&self, level: &str) -> Vec<String> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| serde_json::from_str::<Value>(l).is_ok_and(|v| v["level"] == level))
            .cloned()
            .collect()
    }

    /// One metric's value from `/metrics`.
    pub async fn metric(&self, name: &str) -> f64 {
        self.metric_if_any(name)
            .await
            .unwrap_or_else(|| panic!("{name} not in /metrics"))
    }

    /// One metric's value from `/metrics`, if it is there.
    pub async fn metric_if_any(&self, name: &str) -> Option<f64> {
        let mut resp = awc::Client::new()
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("GET /metrics");
        let body = resp.body().limit(1 << 22).await.expect("body");
        let text = String::from_utf8_lossy(&body);
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request to a child server: its status and its JSON body (`null` if none).
pub async fn call(c: &awc::Client, method: &str, url: String, body: Option<Value>) -> (u16, Value) {
    let req = c.request(method.parse().unwrap(), url);
    let mut resp = match body {
        Some(b) => req.send_json(&b).await,
        None => req.send().await,
    }
    .expect("request");
    let status = resp.status().as_u16();
    let bytes = resp.body().limit(1 << 24).await.expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The NATS every fleet test uses.
pub const NATS_URL: &str = "nats://127.0.0.1:4222";

/// Starts one process per name in a fleet of its own (a fresh tag names its
/// cluster, stream and subjects), on the NATS at 127.0.0.1:4222, with a 1 s
/// lease. Answers the tag (for [`clean_fleet`]) and the processes.
pub fn start_fleet(names: &[&str]) -> (String, Vec<Option<Running>>) {
    let tag = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    let nodes = names
        .iter()
        .map(|n| {
            let (node, stream, prefix, cluster) = (
                format!("{n}-{tag}"),
                format!("FLEET_{tag}"),
                format!("fleet.{tag}"),
                format!("f{tag}"),
            );
            Some(start(&[
                ("WORKBUS_NATS_URL", NATS_URL),
                ("WORKBUS_NODE", &node),
                ("WORKBUS_NATS_STREAM", &stream),
                ("WORKBUS_NATS_SUBJECT_PREFIX", &prefix),
                ("WORKBUS_CLUSTER", &cluster),
                ("WORKBUS_CLUSTER_LEASE_MS", "1000"),
            ]))
        })
        .collect();
    (tag, nodes)
}

/// Removes what a fleet of [`start_fleet`] left in NATS: its stream and buckets.
pub async fn clean_fleet(tag: &str) {
    let client = async_nats::connect(NATS_URL).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let _ = js.delete_stream(format!("FLEET_{tag}")).await;
    for b in ["nodes", "pools", "leaders", "automations"] {
        let _ = js.delete_key_value(format!("workbus-f{tag}-{b}")).await;
    }
}
