//! HTTP basic auth, as Prefect's `PREFECT_SERVER_API_AUTH_STRING`.
//!
//! When an auth string is set, every request must carry
//! `Authorization: Basic base64(<auth string>)` (the scheme in any case, as
//! RFC 7235 has it), except `GET` and `HEAD` of `/api/health` and
//! `/api/ready` (probes), the dashboard's page and assets (`/`, `/ui`, `/ui/*`:
//! no data; the page asks for the string) and the websocket routes, which authenticate with
//! their `auth` message instead, as Prefect's do (the worker channel too).
//! Comparisons take constant time.

use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{web, ResponseError};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// The auth string in force, as app data (absent: auth is off).
#[derive(Clone, Debug)]
pub struct AuthString(pub Arc<str>);

/// Compares two secrets in time that depends only on their lengths.
pub fn secret_eq(given: &str, expected: &str) -> bool {
    given.as_bytes().ct_eq(expected.as_bytes()).into()
}

/// Whether an `Authorization` header value carries the auth string.
pub fn header_matches(value: &str, expected: &str) -> bool {
    let Some((scheme, creds)) = value.trim().split_once(' ') else {
        return false;
    };
    // RFC 7235: the scheme is case-insensitive.
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Ok(decoded) = STANDARD.decode(creds.trim()) else {
        return false;
    };
    let Ok(decoded) = String::from_utf8(decoded) else {
        return false;
    };
    secret_eq(&decoded, expected)
}

fn exempt(req: &ServiceRequest) -> bool {
    let path = req.path();
    let get = matches!(*req.method(), Method::GET | Method::HEAD);
    let probe = get && matches!(path, "/api/health" | "/api/ready");
    // The dashboard's page and assets hold no data; the page asks for the string.
    let page = get && (path == "/" || path == "/ui" || path.starts_with("/ui/"));
    // Websockets authenticate by message, as Prefect's do (the worker channel too).
    let ws_path = matches!(path, "/api/events/out" | "/api/events/in")
        || (path.starts_with("/api/work_pools/") && path.ends_with("/workers/connect"));
    let websocket = ws_path
        && req
            .headers()
            .get(header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    probe || page || websocket
}

/// The middleware (use with `actix_web::middleware::from_fn`).
pub async fn require_auth(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let expected = req.app_data::<web::Data<AuthString>>().map(|a| a.0.clone());
    if let Some(expected) = expected {
        let ok = exempt(&req)
            || req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| header_matches(v, &expected));
        if !ok {
            let resp = ApiError::Unauthorized.error_response();
            return Ok(req.into_response(resp).map_into_right_body());
        }
    }
    Ok(next.call(req).await?.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header_carries_the_whole_auth_string() {
        let header = format!("Basic {}", STANDARD.encode("admin:s3cret"));
        assert!(header_matches(&header, "admin:s3cret"));
        assert!(!header_matches(&header, "admin:s3cre"));
        assert!(!header_matches(
            &format!("Bearer {}", STANDARD.encode("admin:s3cret")),
            "admin:s3cret"
        ));
        assert!(!header_matches("Basic !!!", "admin:s3cret"));
        let lower = format!("basic {}", STANDARD.encode("admin:s3cret"));
        assert!(header_matches(&lower, "admin:s3cret"));
        let upper = format!("BASIC {}", STANDARD.encode("admin:s3cret"));
        assert!(header_matches(&upper, "admin:s3cret"));
        assert!(!header_matches("Basic", "admin:s3cret"));
        assert!(!header_matches(
            &format!("Basic {}", STANDARD.encode([0xff, 0xfe])),
            "admin:s3cret"
        ));
        assert!(secret_eq("a", "a") && !secret_eq("a", "ab") && !secret_eq("", "a"));
    }
}
