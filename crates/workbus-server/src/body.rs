//! JSON bodies: read up to the body limit, parsed with serde, every failure a JSON error.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{web, FromRequest, HttpRequest};
use bytes::BytesMut;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

/// The body limit in force, as app data.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimit(pub usize);

/// A JSON body that must be present.
#[derive(Debug)]
pub struct Json<T>(pub T);

/// A JSON body that may be absent: an empty body (or `null`) is `T::default()`.
#[derive(Debug)]
pub struct OptionalJson<T>(pub T);

type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T, ApiError>>>>;

fn check_content_type(req: &HttpRequest) -> Result<(), ApiError> {
    // Prefect's server takes a body without a content type as JSON; so do we.
    let Some(ct) = req.headers().get(CONTENT_TYPE) else {
        return Ok(());
    };
    let ct = ct.to_str().unwrap_or("");
    if is_json(ct) {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(
            ct.chars().take(100).collect(),
        ))
    }
}

/// Whether a `Content-Type` names JSON (`application/json` or a `+json` type, in any
/// case, parameters aside) or nothing. Compared in place: every request with a body
/// asks, and a lowercased copy was an allocation each time.
fn is_json(content_type: &str) -> bool {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .as_bytes();
    mime.is_empty()
        || mime.eq_ignore_ascii_case(b"application/json")
        || mime
            .len()
            .checked_sub(5)
            .is_some_and(|at| mime[at..].eq_ignore_ascii_case(b"+json"))
}

/// The bytes of request bodies all requests together may hold while they are
/// read and parsed, as app data. Counted in KiB, taken before a body's bytes
/// are buffered (all of a declared length at once), given back once the body
/// is parsed; a request that finds it spent is refused with 503 at once.
#[derive(Clone, Debug)]
pub struct BodyBudget {
    kib: Arc<Semaphore>,
    bytes: usize,
}

impl BodyBudget {
    /// A budget of `bytes` (rounded up to whole KiB).
    pub fn new(bytes: usize) -> Self {
        let kib = bytes.div_ceil(1024).min(Semaphore::MAX_PERMITS);
        BodyBudget {
            kib: Arc::new(Semaphore::new(kib)),
            bytes,
        }
    }

    /// KiB of the budget not taken now.
    pub fn available_kib(&self) -> usize {
        self.kib.available_permits()
    }
}

/// A body's bytes, and its share of the [`BodyBudget`] until it is dropped.
struct Body {
    bytes: BytesMut,
    _share: Option<OwnedSemaphorePermit>,
}

/// Takes enough of the budget for a body of `len` bytes, on top of what `share` holds.
fn reserve(
    budget: Option<&BodyBudget>,
    share: &mut Option<OwnedSemaphorePermit>,
    len: usize,
) -> Result<(), ApiError> {
    let Some(budget) = budget else {
        return Ok(());
    };
    let held = share.as_ref().map_or(0, OwnedSemaphorePermit::num_permits);
    let need = len.div_ceil(1024).saturating_sub(held);
    if need == 0 {
        return Ok(());
    }
    let more = u32::try_from(need)
        .ok()
        .and_then(|n| budget.kib.clone().try_acquire_many_owned(n).ok())
        .ok_or(ApiError::Busy(budget.bytes))?;
    match share {
        Some(s) => s.merge(more),
        None => *share = Some(more),
    }
    Ok(())
}

async fn read(req: &HttpRequest, mut payload: Payload) -> Result<Body, ApiError> {
    let limit = req
        .app_data::<BodyLimit>()
        .map_or(crate::config::DEFAULT_BODY_LIMIT, |l| l.0);
    let budget = req.app_data::<BodyBudget>();
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    // Refuse a declared oversize body before reading any of it.
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::TooLarge(limit));
    }
    let mut share = None;
    reserve(budget, &mut share, declared.unwrap_or(0))?;
    let mut buf = BytesMut::with_capacity(declared.unwrap_or(0).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::invalid(format!("cannot read the request body: {e}")))?;
        if buf.len() + chunk.len() > limit {
            return Err(ApiError::TooLarge(limit));
        }
        reserve(budget, &mut share, buf.len() + chunk.len())?;
        buf.extend_from_slice(&chunk);
    }
    Ok(Body {
        bytes: buf,
        _share: share,
    })
}

/// Parses JSON, naming where it failed (serde's message carries line and column).
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::invalid(format!("invalid JSON body: {e}")))
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = BoxFuture<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let payload = payload.take();
        Box::pin(async move {
            check_content_type(&req)?;
            let body = read(&req, payload).await?;
            if body.bytes.iter().all(u8::is_ascii_whitespace) {
                return Err(ApiError::invalid("a JSON body is required"));
            }
            parse(&body.bytes).map(Json)
        })
    }
}

impl<T: DeserializeOwned + Default + 'static> FromRequest for OptionalJson<T> {
    type Error = ApiError;
    type Future = BoxFuture<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let payload = payload.take();
        Box::pin(async move {
            let body = read(&req, payload).await?;
            if body.bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(OptionalJson(T::default()));
            }
            check_content_type(&req)?;
            let value: Option<T> = parse(&body.bytes)?;
            Ok(OptionalJson(value.unwrap_or_default()))
        })
    }
}

/// `actix_web::web::Json` configured like [`Json`], for services added by others.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .content_type_required(false)
        .error_handler(move |err, _| {
            let api = match &err {
                JsonPayloadError::Overflow { .. }
                | JsonPayloadError::OverflowKnownLength { .. } => ApiError::TooLarge(limit),
                JsonPayloadError::ContentType => ApiError::UnsupportedMediaType(String::new()),
                other => ApiError::invalid(format!("invalid JSON body: {other}")),
            };
            api.into()
        })
}

/// Path parameters that fail to parse answer 422, as FastAPI does.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err: PathError, _| ApiError::invalid(err).into())
}

/// Query strings that fail to parse answer 422, as FastAPI does.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default()
        .error_handler(|err: QueryPayloadError, _| ApiError::invalid(err).into())
}

/// A whole number of seconds as pydantic's lax `int` takes it: `30`, `30.0` or
/// `"30"`, but not `30.5`; `null` is `None`.
pub fn lax_seconds<'de, D>(d: D) -> Result<Option<u32>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::de::Error;
    use serde::Deserialize;
    let fail = || D::Error::custom("must be a whole number of seconds from 0 to 4294967295");
    let whole = |f: f64| {
        (f.is_finite() && f.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&f))
            .then_some(f as u32)
    };
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Number(n)) => match n.as_u64() {
            Some(u) => u32::try_from(u).map(Some).map_err(|_| fail()),
            None => n.as_f64().and_then(whole).map(Some).ok_or_else(fail),
        },
        Some(serde_json::Value::String(s)) => match s.trim().parse::<u32>() {
            Ok(u) => Ok(Some(u)),
            Err(_) => s
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(whole)
                .map(Some)
                .ok_or_else(fail),
        },
        Some(_) => Err(fail()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(default, deserialize_with = "lax_seconds")]
        s: Option<u32>,
    }

    fn seconds(json: &str) -> Result<Option<u32>, serde_json::Error> {
        serde_json::from_str::<Body>(json).map(|b| b.s)
    }

    #[test]
    fn json_content_types_in_any_case_with_parameters() {
        for ct in [
            "application/json",
            "Application/JSON; charset=utf-8",
            " application/json ",
            "application/vnd.api+json",
            "APPLICATION/PROBLEM+JSON;x=1",
            "",
            "; charset=utf-8",
        ] {
            assert!(is_json(ct), "{ct:?}");
        }
        for ct in [
            "text/plain",
            "application/jsonx",
            "json",
            "+jsom",
            "application/x-www-form-urlencoded",
            "é+json\u{e9}",
            "ü",
        ] {
            assert!(!is_json(ct), "{ct:?}");
        }
    }

    #[test]
    fn whole_seconds_as_pydantic_takes_them() {
        assert_eq!(seconds(r#"{"s":30}"#).unwrap(), Some(30));
        assert_eq!(seconds(r#"{"s":30.0}"#).unwrap(), Some(30));
        assert_eq!(seconds(r#"{"s":"30"}"#).unwrap(), Some(30));
        assert_eq!(seconds(r#"{"s":null}"#).unwrap(), None);
        assert_eq!(seconds(r#"{}"#).unwrap(), None);
        for bad in [
            r#"{"s":30.5}"#,
            r#"{"s":-1}"#,
            r#"{"s":1e20}"#,
            r#"{"s":"x"}"#,
            r#"{"s":true}"#,
            r#"{"s":[30]}"#,
        ] {
            assert!(seconds(bad).is_err(), "{bad}");
        }
    }
}
