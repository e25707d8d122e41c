//! Embedding the bus in an actix-web application, with a subscriber actor of the application's own.
//!
//! ```text
//! cargo run --example embed_actix_web
//! curl -X POST localhost:8080/pools/etl
//! curl -X POST localhost:8080/pools/etl/workers/w1/heartbeat
//! curl localhost:8080/recent
//! ```
//!
//! The bus runs on the system arbiter; actix-web's workers run on arbiters of
//! their own and reach it through the cloned [`Bus`] handle.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use actix::prelude::*;
use actix_web::{web, App, HttpResponse, HttpServer};
use workbus::{Bus, CreatePool, Deliver, EventFilter, SharedEvent, SubscribeOptions};

/// The application's own subscriber: keeps the last 100 pool events.
struct Recent(Arc<Mutex<VecDeque<SharedEvent>>>);

impl Actor for Recent {
    type Context = Context<Self>;
}

impl Handler<Deliver> for Recent {
    type Result = ();
    fn handle(&mut self, Deliver(event): Deliver, _: &mut Context<Self>) {
        let mut recent = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() == 100 {
            recent.pop_front();
        }
        recent.push_back(event);
    }
}

fn error(e: workbus::Error) -> HttpResponse {
    HttpResponse::BadRequest().json(serde_json::json!({"detail": e.to_string()}))
}

async fn create(bus: web::Data<Bus>, name: web::Path<String>) -> HttpResponse {
    match bus
        .create_pool(CreatePool::new(name.into_inner(), "process"))
        .await
    {
        Ok(pool) => HttpResponse::Created().json(pool),
        Err(e) => error(e),
    }
}

async fn heartbeat(bus: web::Data<Bus>, path: web::Path<(String, String)>) -> HttpResponse {
    let (pool, worker) = path.into_inner();
    match bus.heartbeat(&pool, &worker).await {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(e) => error(e),
    }
}

async fn recent(events: web::Data<Arc<Mutex<VecDeque<SharedEvent>>>>) -> HttpResponse {
    let recent = events.lock().unwrap_or_else(|e| e.into_inner());
    // The events' JSON was encoded once, when first asked for; joining it costs no re-encoding.
    let mut body = b"[".to_vec();
    for (i, e) in recent.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(e.json());
    }
    body.push(b']');
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body)
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let bus = Bus::start();
    let events = Arc::new(Mutex::new(VecDeque::new()));
    let subscriber = Recent(events.clone()).start();
    let options =
        SubscribeOptions::new("recent").filter(EventFilter::prefix(["prefect.work-pool."]));
    bus.subscribe(subscriber.recipient(), options)
        .await
        .map_err(std::io::Error::other)?
        .keep();

    let (bus, events) = (web::Data::new(bus), web::Data::new(events));
    HttpServer::new(move || {
        App::new()
            .app_data(bus.clone())
            .app_data(events.clone())
            .route("/pools/{name}", web::post().to(create))
            .route(
                "/pools/{pool}/workers/{worker}/heartbeat",
                web::post().to(heartbeat),
            )
            .route("/recent", web::get().to(recent))
    })
    .bind(("127.0.0.1", 8080))?
    .run()
    .await
}
