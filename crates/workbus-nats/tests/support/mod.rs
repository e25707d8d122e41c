//! Shared helpers for the bridge tests: collectors, unique streams, and a NATS server of our own.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use async_nats::jetstream;
use uuid::Uuid;
use workbus_core::testing::{collector, Events};
use workbus_core::{Bus, SharedEvent, SubscribeOptions};
use workbus_nats::{Backoff, NatsConfig};

mod own_server;
#[allow(unused_imports)] // Not every test binary starts a server of its own.
pub use own_server::OwnServer;

/// The NATS server every session and CI run starts.
pub const NATS_URL: &str = "nats://127.0.0.1:4222";

/// Logs to the test output when RUST_LOG is set.
pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// What a collector received: the core's test kit, read as the bridge tests need.
#[derive(Clone)]
pub struct Seen(Events);

impl Seen {
    pub fn events(&self) -> Vec<SharedEvent> {
        self.0.events()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn ids(&self) -> Vec<Uuid> {
        self.events().iter().map(|e| e.id).collect()
    }
    /// The events that came from another node.
    pub fn remote(&self) -> Vec<SharedEvent> {
        self.events()
            .into_iter()
            .filter(|e| e.origin().is_some())
            .collect()
    }
    /// The events of this node.
    pub fn local(&self) -> Vec<SharedEvent> {
        self.events()
            .into_iter()
            .filter(|e| e.origin().is_none())
            .collect()
    }
}

/// Subscribes a collector to every event of `bus`, for the bus's life.
pub async fn collect(bus: &Bus) -> Seen {
    let (recipient, events) = collector();
    bus.subscribe(recipient, SubscribeOptions::new("collector"))
        .await
        .unwrap()
        .keep();
    Seen(events)
}

/// Polls `cond` every 10 ms until it holds, failing the test after `within`.
pub async fn wait_until(within: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < within,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A stream name and subject prefix no other test or run uses; the stream is deleted on drop.
pub struct TestStream {
    pub name: String,
    pub prefix: String,
    url: String,
}

impl TestStream {
    pub fn new(url: &str) -> Self {
        let id = Uuid::new_v4().simple().to_string();
        TestStream {
            name: format!("WBTEST_{id}"),
            prefix: format!("wbtest.{id}.events"),
            url: url.to_owned(),
        }
    }

    /// Bridge settings for `node` on this stream, with short timeouts and backoffs.
    pub fn config(&self, node: &str) -> NatsConfig {
        NatsConfig {
            stream: self.name.clone(),
            subject_prefix: self.prefix.clone(),
            ack_timeout: Duration::from_millis(500),
            retry: Backoff::new(Duration::from_millis(20), Duration::from_millis(200)),
            reconnect: Backoff::new(Duration::from_millis(20), Duration::from_millis(100)),
            connect_timeout: Duration::from_secs(2),
            ack_wait: Duration::from_secs(1),
            pull_expires: Duration::from_secs(1),
            shutdown_timeout: Duration::from_secs(3),
            ..NatsConfig::new(self.url.clone(), node)
        }
    }

    /// A JetStream context of its own, for checking what the stream holds.
    pub async fn jetstream(&self) -> jetstream::Context {
        jetstream::new(async_nats::connect(&self.url).await.unwrap())
    }

    /// Every message of the stream, in order.
    pub async fn messages(&self) -> Vec<jetstream::message::StreamMessage> {
        let js = self.jetstream().await;
        let mut stream = js.get_stream(&self.name).await.unwrap();
        let state = stream.info().await.unwrap().state.clone();
        let mut out = Vec::new();
        for seq in state.first_sequence..=state.last_sequence {
            if state.messages == 0 {
                break;
            }
            out.push(stream.get_raw_message(seq).await.unwrap());
        }
        out
    }
}

impl Drop for TestStream {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        // Drop cannot wait on the test's runtime: delete from a thread with one of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let connect = async_nats::ConnectOptions::new()
                    .connection_timeout(Duration::from_secs(1))
                    .connect(&url);
                if let Ok(Ok(client)) = tokio::time::timeout(Duration::from_secs(2), connect).await
                {
                    let js = jetstream::new(client);
                    let _ =
                        tokio::time::timeout(Duration::from_secs(2), js.delete_stream(&name)).await;
                }
            })
        })
        .join();
    }
}

/// A node name unique to this test run.
pub fn node(name: &str) -> String {
    format!("{name}-{}", &Uuid::new_v4().simple().to_string()[..8])
}
