//! The automations in a fleet: one node leads them (a lease in JetStream KV,
//! [`workbus_cluster::Leadership`]); it evaluates every automation, from the
//! fleet's automations bucket, and serves their routes and the block routes.
//! Any other node forwards those routes to the leader over NATS request-reply
//! and answers with what the leader answered, so a client may call any node.
//!
//! ## Moving
//!
//! When the leader leaves, the next node to take the lease loads the
//! automations and blocks from the bucket and evaluates them from then on: their
//! windows start over, as after a restart. A request forwarded while no node
//! leads, or to a node that has just stopped leading, is answered `503` and can
//! be retried.

use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse, ResponseError};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use workbus_automations::{Automations, AutomationsConfig, Stored};
use workbus_cluster::{Leader, Node};
use workbus_core::Bus;

use crate::error::ApiError;
use crate::AppState;

/// How long a forwarded request waits for the leader's answer.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(10);
/// Marks a forwarded request: the leader serves it or refuses it, never forwards it again.
const FORWARDED: &str = "x-workbus-forwarded";

/// The automations this node serves: its own (a single node, or the leader of a
/// fleet), or none (a node of a fleet that does not lead).
#[derive(Clone, Default)]
pub struct AutomationsSlot(Arc<RwLock<Option<Automations>>>);

impl AutomationsSlot {
    /// A slot holding these.
    pub fn holding(automations: Option<Automations>) -> Self {
        AutomationsSlot(Arc::new(RwLock::new(automations)))
    }

    /// The automations, when this node serves them.
    pub fn get(&self) -> Option<Automations> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set(&self, automations: Option<Automations>) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = automations;
    }
}

/// What a node of a fleet needs to forward the automation routes.
pub struct Fleet {
    client: async_nats::Client,
    cluster: String,
    leader: tokio::sync::watch::Receiver<Leader>,
}

fn subject(cluster: &str, node: &str) -> String {
    format!("workbus.{cluster}.automations.{node}")
}

/// A request, as it crosses to the leader.
#[derive(Serialize, Deserialize)]
struct Forwarded {
    method: String,
    path: String,
    authorization: Option<String>,
    content_type: Option<String>,
    body: String,
}

/// The leader's answer.
#[derive(Serialize, Deserialize)]
struct Answer {
    status: u16,
    body: String,
}

fn led_here(path: &str) -> bool {
    path.starts_with("/api/automations") || path.starts_with("/api/block_")
}

/// Middleware: on a node of a fleet that does not lead the automations, their
/// routes and the block routes are answered by the leader.
pub(crate) async fn forward(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let pass = |req| async { Ok(next.call(req).await?.map_into_left_body()) };
    let Some(st) = req.app_data::<web::Data<AppState>>().cloned() else {
        return pass(req).await;
    };
    let Some(fleet) = st.fleet.as_ref() else {
        return pass(req).await;
    };
    if !led_here(req.path()) || st.automations.get().is_some() {
        return pass(req).await;
    }
    if req.headers().contains_key(FORWARDED) {
        let resp = ApiError::NoLeader.error_response();
        return Ok(req.into_response(resp).map_into_right_body());
    }
    let Some(leader) = fleet.leader.borrow().holder.clone() else {
        let resp = ApiError::NoLeader.error_response();
        return Ok(req.into_response(resp).map_into_right_body());
    };
    let body = req.extract::<web::Bytes>().await?;
    let text = |h: header::HeaderName| {
        req.headers()
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let forwarded = Forwarded {
        method: req.method().to_string(),
        path: req
            .uri()
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        authorization: text(header::AUTHORIZATION),
        content_type: text(header::CONTENT_TYPE),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let payload = serde_json::to_vec(&forwarded).unwrap_or_default();
    let asked = tokio::time::timeout(
        FORWARD_TIMEOUT,
        fleet
            .client
            .request(subject(&fleet.cluster, &leader), payload.into()),
    )
    .await;
    let resp = match asked {
        Ok(Ok(msg)) => match serde_json::from_slice::<Answer>(&msg.payload) {
            Ok(a) => HttpResponse::build(
                StatusCode::from_u16(a.status).unwrap_or(StatusCode::BAD_GATEWAY),
            )
            .content_type("application/json")
            .body(a.body),
            Err(_) => ApiError::NoLeader.error_response(),
        },
        _ => ApiError::NoLeader.error_response(),
    };
    Ok(req.into_response(resp).map_into_right_body())
}

/// Takes part in leading the automations: while this node leads, they are
/// loaded from the fleet's bucket and evaluated here, and the requests other
/// nodes forward are served through this node's own HTTP at `addr`.
pub(crate) struct Lead {
    leadership: workbus_cluster::Leadership,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Lead {
    pub(crate) fn start(node: &Node, bus: Bus, slot: AutomationsSlot) -> (Lead, Fleet) {
        let leadership = node.lead("automations");
        let fleet = Fleet {
            client: node.client().clone(),
            cluster: node.cluster().to_owned(),
            leader: leadership.watch(),
        };
        let tables = node.automations_store();
        let mut leader = leadership.watch();
        let follow = actix_rt::spawn(async move {
            loop {
                let me = leader.borrow_and_update().me;
                match (me, slot.get().is_some()) {
                    (true, false) => match tables.load_all().await {
                        Ok(mut contents) => {
                            let stored = Stored::take(&mut contents);
                            let store = Arc::new(tables.clone());
                            let config = AutomationsConfig::default();
                            match Automations::open(&bus, config, store, stored).await {
                                Ok(a) => {
                                    tracing::info!("this node leads the fleet's automations");
                                    slot.set(Some(a));
                                }
                                Err(error) => {
                                    tracing::error!(%error, "cannot evaluate the fleet's automations")
                                }
                            }
                        }
                        Err(error) => {
                            tracing::warn!(%error, "cannot read the fleet's automations yet")
                        }
                    },
                    (false, true) => {
                        tracing::info!("this node no longer leads the fleet's automations");
                        slot.set(None);
                    }
                    _ => {}
                }
                let retry = me && slot.get().is_none();
                tokio::select! {
                    changed = leader.changed() => if changed.is_err() { return },
                    _ = tokio::time::sleep(Duration::from_secs(1)), if retry => {}
                }
            }
        });
        (
            Lead {
                leadership,
                tasks: vec![follow],
            },
            fleet,
        )
    }

    /// Serves the requests forwarded to this node, through its HTTP at `addr`.
    pub(crate) async fn serve(
        &mut self,
        node: &Node,
        addr: SocketAddr,
    ) -> Result<(), async_nats::SubscribeError> {
        let client = node.client().clone();
        let mut requests = client
            .subscribe(subject(node.cluster(), node.name()))
            .await?;
        let host = match addr.ip() {
            ip if ip.is_unspecified() => "127.0.0.1".to_owned(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        let base = format!("http://{host}:{}", addr.port());
        self.tasks.push(actix_rt::spawn(async move {
            let http = awc::Client::builder().timeout(FORWARD_TIMEOUT).finish();
            while let Some(msg) = requests.next().await {
                let Some(reply) = msg.reply.clone() else {
                    continue;
                };
                let answer = match serde_json::from_slice::<Forwarded>(&msg.payload) {
                    Ok(f) => answer_locally(&http, &base, f).await,
                    Err(_) => Answer {
                        status: 400,
                        body: r#"{"detail":"a forwarded request that cannot be read"}"#.into(),
                    },
                };
                let payload = serde_json::to_vec(&answer).unwrap_or_default();
                if let Err(error) = client.publish(reply, payload.into()).await {
                    tracing::warn!(%error, "could not answer a forwarded automations request");
                }
            }
        }));
        Ok(())
    }

    /// Stops taking part and gives the lease up, so another node leads at once.
    pub(crate) async fn step_down(self) {
        for t in &self.tasks {
            t.abort();
        }
        self.leadership.step_down().await;
    }
}

async fn answer_locally(http: &awc::Client, base: &str, f: Forwarded) -> Answer {
    let method = awc::http::Method::from_bytes(f.method.as_bytes()).unwrap_or_default();
    let mut request = http
        .request(method, format!("{base}{}", f.path))
        .insert_header((FORWARDED, "1"));
    if let Some(a) = &f.authorization {
        request = request.insert_header((header::AUTHORIZATION, a.as_str()));
    }
    if let Some(c) = &f.content_type {
        request = request.insert_header((header::CONTENT_TYPE, c.as_str()));
    }
    match request.send_body(f.body).await {
        Ok(mut resp) => {
            let status = resp.status().as_u16();
            let body = resp
                .body()
                .limit(16 * 1024 * 1024)
                .await
                .unwrap_or_default();
            Answer {
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
            }
        }
        Err(_) => Answer {
            status: 503,
            body: r#"{"detail":"the leader of the automations could not serve the request"}"#
                .into(),
        },
    }
}
