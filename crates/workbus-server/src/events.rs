//! `POST /api/events/filter` and `GET /api/events/filter/next` over the recent history.
//!
//! Pages follow Prefect's shape, `{"events":[...],"total":N,"next_page":url|null}`.
//! The page token carries the filter as sent, the page size, the first page's
//! total, and a cursor of sequence numbers, so later pages are stable while new
//! events arrive (they are not in the query) and old ones leave the ring (the
//! cursor does not shift).

use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use workbus_core::EventFilter;

use crate::body::OptionalJson;
use crate::error::ApiError;
use crate::hub::{Cursor, Page, Query};
use crate::AppState;

/// The most events one page holds (Prefect's `INTERACTIVE_PAGE_SIZE`).
pub const MAX_PAGE_SIZE: usize = 50;

/// The body of `POST /api/events/filter`; like Prefect's embedded parameters, other keys are ignored.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct FilterBody {
    #[serde(default)]
    filter: Option<Value>,
    #[serde(default)]
    limit: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Token {
    filter: Option<Value>,
    limit: usize,
    total: usize,
    #[serde(flatten)]
    cursor: Cursor,
}

fn parse_filter(raw: Option<&Value>) -> Result<EventFilter, ApiError> {
    match raw {
        None | Some(Value::Null) => Ok(EventFilter::all()),
        Some(v) => EventFilter::deserialize(v)
            .map_err(|e| ApiError::invalid(format!("invalid filter: {e}"))),
    }
}

fn page_response(
    req: &HttpRequest,
    page: Page,
    total: usize,
    token: Option<Token>,
) -> HttpResponse {
    let next = token.and_then(|t| serde_json::to_vec(&t).ok()).map(|json| {
        let info = req.connection_info();
        format!(
            "{}://{}/api/events/filter/next?page-token={}",
            info.scheme(),
            info.host(),
            URL_SAFE_NO_PAD.encode(json)
        )
    });
    // The events are written as their shared JSON bytes, not re-encoded.
    let len: usize = page.events.iter().map(|e| e.json().len() + 1).sum();
    let mut body = Vec::with_capacity(len + 96);
    body.extend_from_slice(b"{\"events\":[");
    for (i, e) in page.events.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(e.json());
    }
    body.extend_from_slice(b"],\"total\":");
    body.extend_from_slice(total.to_string().as_bytes());
    body.extend_from_slice(b",\"next_page\":");
    match next {
        Some(url) => body.extend_from_slice(Value::String(url).to_string().as_bytes()),
        None => body.extend_from_slice(b"null"),
    }
    body.push(b'}');
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body)
}

pub(crate) async fn filter(
    st: web::Data<AppState>,
    req: HttpRequest,
    OptionalJson(body): OptionalJson<FilterBody>,
) -> Result<HttpResponse, ApiError> {
    let limit = body.limit.unwrap_or(MAX_PAGE_SIZE as i64);
    let limit = usize::try_from(limit)
        .ok()
        .filter(|l| *l <= MAX_PAGE_SIZE)
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "limit must be between 0 and {MAX_PAGE_SIZE}, got {limit}"
            ))
        })?;
    let filter = parse_filter(body.filter.as_ref())?;
    let page = st
        .history
        .send(Query {
            filter,
            limit,
            cursor: None,
        })
        .await
        .map_err(|_| ApiError::Unavailable)?;
    let total = page.total;
    let token = page.next.map(|cursor| Token {
        filter: body.filter,
        limit,
        total,
        cursor,
    });
    Ok(page_response(&req, page, total, token))
}

#[derive(Debug, Deserialize)]
pub(crate) struct NextQuery {
    #[serde(rename = "page-token")]
    page_token: String,
}

fn decode_token(s: &str) -> Result<Token, ApiError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .or_else(|_| STANDARD.decode(s))
        .map_err(|_| ApiError::InvalidPageToken)?;
    serde_json::from_slice(&bytes).map_err(|_| ApiError::InvalidPageToken)
}

pub(crate) async fn next(
    st: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<NextQuery>,
) -> Result<HttpResponse, ApiError> {
    let token = decode_token(&q.page_token)?;
    if token.limit == 0 || token.limit > MAX_PAGE_SIZE {
        return Err(ApiError::InvalidPageToken);
    }
    let filter = parse_filter(token.filter.as_ref()).map_err(|_| ApiError::InvalidPageToken)?;
    let page = st
        .history
        .send(Query {
            filter,
            limit: token.limit,
            cursor: Some(token.cursor),
        })
        .await
        .map_err(|_| ApiError::Unavailable)?;
    let next = page.next.map(|cursor| Token {
        filter: token.filter.clone(),
        limit: token.limit,
        total: token.total,
        cursor,
    });
    Ok(page_response(&req, page, token.total, next))
}
