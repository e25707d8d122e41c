//! A real HTTP or HTTPS webhook target (actix-web on 127.0.0.1, port 0) whose answers
//! a test scripts per request, and helpers shared by the tests.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// What the target answers to one request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// This status.
    Status(u16),
    /// This status with `Retry-After: <secs>`.
    RetryAfter(u16, u64),
    /// Nothing for this long, then 503 (the client has timed out by then).
    Hang(Duration),
    /// Drops the connection without answering.
    Drop,
}

/// One request the target received.
#[derive(Clone, Debug)]
pub struct Received {
    pub id: String,
    pub timestamp: String,
    pub signature: Option<String>,
    pub body: bytes::Bytes,
    pub attempt: u32,
    pub at: Instant,
    pub reply: Reply,
}

#[derive(Default)]
pub struct State {
    /// Every request, in arrival order.
    pub requests: Vec<Received>,
    /// The requests answered 2xx, in arrival order.
    pub accepted: Vec<Received>,
    attempts: HashMap<String, u32>,
}

type Script = dyn Fn(&str, u32) -> Reply + Send + Sync;

pub struct Target {
    pub url: String,
    pub state: Arc<Mutex<State>>,
    server: actix_web::dev::ServerHandle,
}

impl Target {
    /// Starts a target on the current actix system; `script(webhook_id, attempt)` picks each answer.
    pub fn start(script: impl Fn(&str, u32) -> Reply + Send + Sync + 'static) -> Target {
        Self::start_on(None, script)
    }

    /// Like [`Target::start`], serving `https://` with this TLS configuration.
    pub fn start_https(
        tls: rustls::ServerConfig,
        script: impl Fn(&str, u32) -> Reply + Send + Sync + 'static,
    ) -> Target {
        Self::start_on(Some(tls), script)
    }

    fn start_on(
        tls: Option<rustls::ServerConfig>,
        script: impl Fn(&str, u32) -> Reply + Send + Sync + 'static,
    ) -> Target {
        quiet_drop_panics();
        let state = Arc::new(Mutex::new(State::default()));
        let script: Arc<Script> = Arc::new(script);
        let (s, sc) = (state.clone(), script.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new((s.clone(), sc.clone())))
                .route("/hook", web::post().to(hook))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1);
        let scheme = if tls.is_some() { "https" } else { "http" };
        let server = match tls {
            Some(tls) => server
                .bind_rustls_0_23(("127.0.0.1", 0), tls)
                .expect("bind 127.0.0.1:0 with TLS"),
            None => server.bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0"),
        };
        let url = format!("{scheme}://{}/hook", server.addrs()[0]);
        let server = server.run();
        let handle = server.handle();
        actix::spawn(server);
        Target {
            url,
            state,
            server: handle,
        }
    }

    pub fn requests(&self) -> Vec<Received> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn accepted(&self) -> Vec<Received> {
        self.state.lock().unwrap().accepted.clone()
    }

    pub async fn stop(self) {
        self.server.stop(false).await;
    }
}

const DROP: &str = "the test target drops this connection";

/// The target drops a connection by panicking in its handler; keep those
/// expected panics out of the test output, and print every other one.
fn quiet_drop_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&DROP) {
                default(info);
            }
        }));
    });
}

async fn hook(
    req: HttpRequest,
    body: web::Bytes,
    data: web::Data<(Arc<Mutex<State>>, Arc<Script>)>,
) -> HttpResponse {
    let (state, script) = data.get_ref();
    let header = |k: &str| {
        req.headers()
            .get(k)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let id = header("webhook-id").unwrap_or_default();
    let (reply, received) = {
        let mut st = state.lock().unwrap();
        let n = st.attempts.entry(id.clone()).or_default();
        *n += 1;
        let attempt = *n;
        let reply = script(&id, attempt);
        let received = Received {
            id: id.clone(),
            timestamp: header("webhook-timestamp").unwrap_or_default(),
            signature: header("webhook-signature"),
            body: body.clone(),
            attempt,
            at: Instant::now(),
            reply: reply.clone(),
        };
        st.requests.push(received.clone());
        if let Reply::Status(200..=299) = reply {
            st.accepted.push(received.clone());
        }
        (reply, received)
    };
    let _ = received;
    match reply {
        Reply::Status(code) => {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(code).unwrap()).finish()
        }
        Reply::RetryAfter(code, secs) => {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(code).unwrap())
                .insert_header(("Retry-After", secs.to_string()))
                .finish()
        }
        Reply::Hang(d) => {
            tokio::time::sleep(d).await;
            HttpResponse::ServiceUnavailable().finish()
        }
        Reply::Drop => std::panic::panic_any(DROP),
    }
}

/// Verifies a Standard Webhooks signature independently of the crate under test.
pub fn signature_verifies(secret: &str, r: &Received) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let Some(sig) = &r.signature else {
        return false;
    };
    let Some(b64) = sig.strip_prefix("v1,") else {
        return false;
    };
    let Ok(expected) = STANDARD.decode(b64) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.", r.id, r.timestamp).as_bytes());
    mac.update(&r.body);
    mac.verify_slice(&expected).is_ok()
}

/// Polls `cond` every few milliseconds until it holds, or panics after `within`.
pub async fn eventually(within: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > within {
            panic!("not within {within:?}: {what}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Records every event it is given, in order.
#[derive(Clone, Default)]
pub struct Recorder(pub Arc<Mutex<Vec<workbus_core::SharedEvent>>>);

impl workbus_subscribers::EventHandler for Recorder {
    fn handle(&mut self, event: &workbus_core::SharedEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

impl Recorder {
    pub fn events(&self) -> Vec<workbus_core::SharedEvent> {
        self.0.lock().unwrap().clone()
    }
    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

/// Drives `pools` pools through a few of each kind of event: creation, a
/// worker's heartbeat (ready), an update, a pause and a resume, a queue
/// created, updated and deleted.
pub async fn workload(bus: &workbus_core::Bus, pools: usize) {
    use workbus_core::{CreatePool, CreateQueue, PoolUpdate, QueueUpdate};
    for i in 0..pools {
        let name = format!("pool-{i}");
        bus.create_pool(CreatePool::new(&name, "process"))
            .await
            .unwrap();
    }
    for i in 0..pools {
        let name = format!("pool-{i}");
        bus.heartbeat(&name, "worker-1").await.unwrap();
        let update = PoolUpdate {
            description: Some(Some(format!("pool number {i}"))),
            ..Default::default()
        };
        bus.update_pool(&name, update).await.unwrap();
        bus.create_queue(&name, CreateQueue::new("extra"))
            .await
            .unwrap();
        bus.update_pool(&name, PoolUpdate::pause()).await.unwrap();
        bus.update_queue(
            &name,
            "extra",
            QueueUpdate {
                priority: Some(5),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        bus.update_pool(&name, PoolUpdate::resume()).await.unwrap();
        bus.delete_queue(&name, "extra").await.unwrap();
    }
}

/// An actix system on a current-thread runtime whose clock is paused: it
/// jumps to the next timer whenever nothing else can run.
pub fn paused_system() -> actix::SystemRunner {
    actix::System::with_tokio_rt(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap()
    })
}
