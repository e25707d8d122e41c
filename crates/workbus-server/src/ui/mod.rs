//! The dashboard: one page at `/` and `/ui`, its script and its style, embedded
//! in the binary (no build step, nothing fetched from elsewhere). The page reads
//! the REST API once and then follows the events websocket; see
//! `docs/dashboard.md`.
//!
//! The page and its assets hold no data, so they are served without the auth
//! string; the page asks for it when the API answers `401`.

use actix_web::http::header::{CacheControl, CacheDirective, CONTENT_TYPE};
use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::AppState;

const INDEX: &str = include_str!("index.html");
const SCRIPT: &str = include_str!("app.js");
const STYLE: &str = include_str!("style.css");

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, content_type))
        // A new binary may bring a new page: the browser asks again each time.
        .insert_header(CacheControl(vec![CacheDirective::NoCache]))
        .body(body)
}

/// `GET /`, `GET /ui`: the page.
pub(crate) async fn index() -> HttpResponse {
    asset("text/html; charset=utf-8", INDEX)
}

/// `GET /ui/app.js`.
pub(crate) async fn script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// `GET /ui/style.css`.
pub(crate) async fn style() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLE)
}

/// `GET /ui/settings.json`: what the page needs to count down to a worker's
/// going offline as the bus will decide it.
pub(crate) async fn settings(st: web::Data<AppState>) -> HttpResponse {
    let config = st.bus.config();
    HttpResponse::Ok().json(json!({
        "inactivity_multiple": config.worker_inactivity_multiple,
        "fallback_heartbeat_interval_seconds": config.fallback_heartbeat_interval.as_secs_f64(),
    }))
}

/// The routes, at the root.
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(index))
        .route("/ui", web::get().to(index))
        .route("/ui/app.js", web::get().to(script))
        .route("/ui/style.css", web::get().to(style))
        .route("/ui/settings.json", web::get().to(settings));
}
