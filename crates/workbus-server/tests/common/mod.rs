//! A real workbus server on a free loopback port, and an HTTP and websocket client for it.
#![allow(dead_code)]

use std::time::Duration;

use actix_web::http::StatusCode;
use awc::ws::{Frame, Message};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use workbus_server::{Server, ServerConfig};

pub mod browser;
pub mod child;
pub mod raw;

pub type Ws = actix_codec::Framed<awc::BoxedSocket, awc::ws::Codec>;

pub struct TestServer {
    pub server: Server,
    pub base: String,
    pub client: awc::Client,
    pub auth: Option<(String, String)>,
}

/// Fast timings: offline after 300 ms of silence, queues not-ready after 400 ms unpolled.
pub fn fast_config() -> ServerConfig {
    let mut cfg = ServerConfig::loopback();
    cfg.bus.fallback_heartbeat_interval = Duration::from_millis(300);
    cfg.bus.worker_inactivity_multiple = 1;
    cfg.bus.queue_poll_timeout = Duration::from_millis(400);
    cfg
}

impl TestServer {
    pub async fn start() -> Self {
        Self::with(ServerConfig::loopback()).await
    }

    pub async fn with(cfg: ServerConfig) -> Self {
        let server = Server::bind(cfg).await.expect("server starts");
        let base = format!("http://{}", server.addr());
        let client = awc::Client::builder()
            .timeout(Duration::from_secs(10))
            .finish();
        TestServer {
            server,
            base,
            client,
            auth: None,
        }
    }

    /// Sends basic auth as `user:password` from now on.
    pub fn login(mut self, user: &str, password: &str) -> Self {
        self.auth = Some((user.to_owned(), password.to_owned()));
        self
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    fn req(&self, method: awc::http::Method, path: &str) -> awc::ClientRequest {
        let r = self.client.request(method, self.url(path));
        match &self.auth {
            Some((u, p)) => r.basic_auth(u, p),
            None => r,
        }
    }

    async fn finish(
        mut resp: awc::ClientResponse<
            impl futures_util::Stream<Item = Result<bytes::Bytes, awc::error::PayloadError>> + Unpin,
        >,
    ) -> (StatusCode, Value) {
        let status = resp.status();
        let body = resp.body().limit(16 << 20).await.expect("body");
        let value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into()))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        Self::finish(
            self.req(awc::http::Method::GET, path)
                .send()
                .await
                .expect("GET"),
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        Self::finish(
            self.req(awc::http::Method::DELETE, path)
                .send()
                .await
                .expect("DELETE"),
        )
        .await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        Self::finish(
            self.req(awc::http::Method::POST, path)
                .send_json(&body)
                .await
                .expect("POST"),
        )
        .await
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        Self::finish(
            self.req(awc::http::Method::PUT, path)
                .send_json(&body)
                .await
                .expect("PUT"),
        )
        .await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        Self::finish(
            self.req(awc::http::Method::PATCH, path)
                .send_json(&body)
                .await
                .expect("PATCH"),
        )
        .await
    }

    /// A request with a raw body and content type.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let method = awc::http::Method::from_bytes(method.as_bytes()).expect("method");
        let mut r = self.req(method, path);
        if let Some(ct) = content_type {
            r = r.insert_header(("content-type", ct));
        }
        Self::finish(r.send_body(body).await.expect("request")).await
    }

    /// Every event the history holds that matches `filter`, oldest first, over all pages.
    pub async fn events(&self, filter: Value) -> Vec<Value> {
        let mut filter = filter;
        filter["order"] = json!("ASC");
        let (status, mut page) = self
            .post("/api/events/filter", json!({"filter": filter, "limit": 50}))
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let mut out: Vec<Value> = page["events"].as_array().cloned().unwrap_or_default();
        while let Some(next) = page["next_page"].as_str().map(str::to_owned) {
            let path = next
                .strip_prefix(&self.base)
                .expect("next_page on this server")
                .to_owned();
            let (status, p) = self.get(&path).await;
            assert_eq!(status, StatusCode::OK, "{p}");
            out.extend(p["events"].as_array().cloned().unwrap_or_default());
            page = p;
        }
        out
    }

    /// The names of every event in the history, oldest first.
    pub async fn event_names(&self) -> Vec<String> {
        self.server.bus().flush().await.expect("flush");
        names(&self.events(json!({})).await)
    }

    /// Creates a pool of type `process`; panics unless 201.
    pub async fn pool(&self, name: &str) -> Value {
        let (status, body) = self
            .post("/api/work_pools/", json!({"name": name, "type": "process"}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Opens `/api/events/out`, with the `prefect` subprotocol or without.
    pub async fn ws(&self, prefect: bool) -> Ws {
        let url = self.url("/api/events/out").replacen("http", "ws", 1);
        let mut req = self.client.ws(url);
        if prefect {
            req = req.protocols(["prefect"]);
        }
        let (resp, ws) = req.connect().await.expect("websocket connects");
        if prefect {
            assert_eq!(
                resp.headers()
                    .get("sec-websocket-protocol")
                    .and_then(|v| v.to_str().ok()),
                Some("prefect")
            );
        }
        ws
    }

    /// Opens `/api/events/out`, authenticates (token `token`), and sends `filter`.
    pub async fn subscribe(&self, token: Option<&str>, filter: Value, backfill: bool) -> Ws {
        let mut ws = self.ws(true).await;
        send(&mut ws, json!({"type": "auth", "token": token})).await;
        assert_eq!(recv(&mut ws).await, Some(json!({"type": "auth_success"})));
        let before = self.server.stream_stats().clients();
        send(
            &mut ws,
            json!({"type": "filter", "filter": filter, "backfill": backfill}),
        )
        .await;
        // The protocol has no acknowledgement: wait until the server has attached the client.
        for _ in 0..400 {
            if self.server.stream_stats().clients() > before {
                return ws;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("the server did not attach the websocket client")
    }
}

pub fn names(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["event"].as_str().unwrap_or_default().to_owned())
        .collect()
}

pub async fn send(ws: &mut Ws, msg: Value) {
    ws.send(Message::Text(msg.to_string().into()))
        .await
        .expect("send");
}

/// The next text frame as JSON, or `None` on close or after five seconds of silence.
pub async fn recv(ws: &mut Ws) -> Option<Value> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .ok()??;
        match frame.ok()? {
            Frame::Text(t) => return serde_json::from_slice(&t).ok(),
            Frame::Ping(p) => {
                let _ = ws.send(Message::Pong(p)).await;
            }
            Frame::Close(_) => return None,
            _ => {}
        }
    }
}

/// Reads until the server closes, answering the close code (skipping any data frames).
pub async fn close_code(ws: &mut Ws) -> Option<u16> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .ok()??;
        match frame {
            Ok(Frame::Close(reason)) => return reason.map(|r| u16::from(r.code)),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
}

/// Collects `n` event frames (their `event` objects), failing if one is missing.
pub async fn recv_events(ws: &mut Ws, n: usize) -> Vec<Value> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let frame = recv(ws)
            .await
            .unwrap_or_else(|| panic!("expected {n} events, got {}: {out:?}", out.len()));
        assert_eq!(frame["type"], "event", "{frame}");
        out.push(frame["event"].clone());
    }
    out
}

/// The worker channel: Prefect's frames, as `prefect worker start` sends them.
pub mod channel {
    use super::*;

    /// Opens `/api/work_pools/{pool}/workers/connect` with the `prefect` subprotocol.
    pub async fn open(server: &TestServer, pool: &str) -> Ws {
        let url = server
            .url(&format!("/api/work_pools/{pool}/workers/connect"))
            .replacen("http", "ws", 1);
        let (_, ws) = server
            .client
            .ws(url)
            .protocols(["prefect"])
            .connect()
            .await
            .expect("worker channel connects");
        ws
    }

    /// Opens the channel and authenticates with `token`.
    pub async fn authed(server: &TestServer, pool: &str, token: Option<&str>) -> Ws {
        let mut ws = open(server, pool).await;
        send(&mut ws, json!({"type": "auth", "token": token})).await;
        assert_eq!(recv(&mut ws).await, Some(json!({"type": "auth_success"})));
        ws
    }

    /// A `worker.hello.v1` as Prefect 3.9.1's worker builds it.
    pub fn hello(consumer: uuid::Uuid, worker: &str) -> Value {
        json!({
            "type": "worker.hello.v1",
            "id": uuid::Uuid::now_v7(),
            "sent_at": "2026-12-02T06:00:00.000001Z",
            "payload": {
                "consumer_id": consumer,
                "worker_name": worker,
                "worker_type": "process",
                "heartbeat_interval_seconds": 30,
                "supported_channel_versions": ["work_pool_worker_channel.v1"],
                "requested_capabilities": ["worker_heartbeat.v1", "work_pool_snapshot.v1"],
                "work_queue_names": [],
                "handled_cleanup_kinds": [],
                "max_cleanup_concurrency": 0,
                "create_pool_if_not_found": false,
                "default_base_job_template": {},
                "worker_metadata": null
            }
        })
    }

    /// A `worker.heartbeat.v1`.
    pub fn heartbeat(consumer: uuid::Uuid, worker: &str) -> Value {
        json!({
            "type": "worker.heartbeat.v1",
            "id": uuid::Uuid::now_v7(),
            "sent_at": "2026-12-02T06:00:01Z",
            "payload": {"consumer_id": consumer, "worker_name": worker, "heartbeat_interval_seconds": 30}
        })
    }

    /// Authenticates, says `hello`, and answers the `worker.ready.v1` frame.
    pub async fn connect(server: &TestServer, pool: &str, hello: Value) -> (Ws, Value) {
        let mut ws = authed(server, pool, None).await;
        send(&mut ws, hello).await;
        let ready = recv(&mut ws).await.expect("worker.ready.v1");
        assert_eq!(ready["type"], "worker.ready.v1", "{ready}");
        (ws, ready)
    }

    /// Reads until the server closes: its close code and reason text.
    pub async fn close_frame(ws: &mut Ws) -> Option<(u16, String)> {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(5), ws.next())
                .await
                .ok()??;
            match frame {
                Ok(Frame::Close(Some(r))) => {
                    return Some((u16::from(r.code), r.description.unwrap_or_default()))
                }
                Ok(Frame::Close(None)) => return Some((1005, String::new())),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }
}
