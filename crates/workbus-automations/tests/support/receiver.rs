//! A real HTTP server on 127.0.0.1 that records each request and answers with
//! the statuses it is given, in turn (the last one for ever after); and the
//! blocks that point at it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};
use uuid::Uuid;
use workbus_automations::blocks::{BlockDocumentCreate, BlockSchemaCreate, BlockTypeCreate};
use workbus_automations::Blocks;
use workbus_core::testing::Events;

/// One request as it arrived.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path_and_query: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Shared {
    statuses: Vec<u16>,
    requests: Vec<Request>,
}

/// The receiver: its address and what it has seen.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    shared: Arc<Mutex<Shared>>,
}

impl Receiver {
    /// Starts one answering `statuses` in turn.
    pub fn start(statuses: &[u16]) -> Receiver {
        let shared = Arc::new(Mutex::new(Shared {
            statuses: statuses.to_vec(),
            requests: Vec::new(),
        }));
        let state = shared.clone();
        let server = HttpServer::new(move || {
            let state = state.clone();
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let state = state.clone();
                async move {
                    let mut s = state.lock().unwrap();
                    let n = s.requests.len();
                    let status = s
                        .statuses
                        .get(n)
                        .or(s.statuses.last())
                        .copied()
                        .unwrap_or(200);
                    s.requests.push(Request {
                        method: req.method().to_string(),
                        path_and_query: req.uri().to_string(),
                        headers: req
                            .headers()
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                            .collect(),
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
                        .insert_header(("x-answer", n.to_string()))
                        .insert_header(("authorization", "not for events"))
                        .body(format!("answer {n}"))
                }
            }))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .unwrap();
        let port = server.addrs()[0].port();
        actix_rt::spawn(server.run());
        Receiver {
            url: format!("http://127.0.0.1:{port}/hook"),
            shared,
        }
    }

    pub fn requests(&self) -> Vec<Request> {
        self.shared.lock().unwrap().requests.clone()
    }
}

/// An event of this name, now, about a resource with these labels.
pub fn event_now(name: &str, labels: &[(&str, &str)]) -> workbus_events::SharedEvent {
    let mut resource = workbus_events::Resource::builder();
    for (k, v) in labels {
        resource = resource.label(k.to_string(), v.to_string());
    }
    workbus_events::SharedEvent::new(workbus_events::Event {
        occurred: workbus_events::Timestamp::now(),
        event: name.to_owned().into(),
        resource: resource.build().unwrap(),
        related: Arc::from(vec![]),
        payload: Default::default(),
        id: Uuid::now_v7(),
        follows: None,
        received: None,
    })
}

/// Waits (real time, up to 10 s) until `n` events have this name.
pub async fn wait_for(seen: &Events, name: &str, n: usize) {
    for _ in 0..1000 {
        if seen.names().iter().filter(|e| *e == name).count() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no {n} {name} events in 10 s: {:?}", seen.names());
}

/// Waits for an action's `action.triggered` and the event after it (the
/// collector hears `prefect.automation.action.*` only), and answers the latter's JSON.
pub async fn outcome(seen: &Events) -> Value {
    wait_for(seen, "prefect.automation.action.triggered", 1).await;
    for _ in 0..1000 {
        if seen.names().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    seen.json().pop().expect("an outcome")
}

/// Saves a block of this slug with these capabilities and data, as Prefect's
/// client does (type, schema, document), and answers its document's id.
pub async fn save_block(blocks: &Blocks, slug: &str, capabilities: &[&str], data: Value) -> Uuid {
    let block_type = match blocks.type_by_slug(slug) {
        Ok(t) => t,
        Err(_) => blocks
            .create_type(BlockTypeCreate {
                name: slug.to_owned(),
                slug: slug.to_owned(),
                logo_url: None,
                documentation_url: None,
                description: None,
                code_example: None,
            })
            .await
            .unwrap(),
    };
    let schema = blocks
        .create_schema(BlockSchemaCreate {
            fields: serde_json::from_value(json!({
                "title": slug, "type": "object", "secret_fields": ["url", "headers.*", "secrets.*"]
            }))
            .unwrap(),
            block_type_id: block_type.id,
            capabilities: capabilities.iter().map(|c| c.to_string()).collect(),
            version: "3.9.1".into(),
        })
        .await
        .unwrap();
    let Value::Object(data) = data else {
        panic!("block data is an object")
    };
    blocks
        .create_document(BlockDocumentCreate {
            name: Some(format!("{slug}-{}", Uuid::new_v4().simple())),
            data,
            block_schema_id: schema.schema.id,
            block_type_id: block_type.id,
            is_anonymous: false,
            block_document_references: Default::default(),
        })
        .await
        .unwrap()
        .document
        .id
}
