//! The HTTP calls of `call-webhook` and `send-notification`: one request, tried
//! again with backoff while the failure may pass.
//!
//! ## Retries
//!
//! A call that fails to connect, times out, or is answered `408`, `429` or
//! `5xx` is tried again after 100 ms, 200 ms, 400 ms and 800 ms (the schedule
//! of the bus's own refusals, [`ACTION_ATTEMPTS`] tries in all). Any other
//! answer is final: a `2xx` or `3xx` succeeds, a `4xx` fails at once.

use std::time::Duration;

use awc::http::Method;
use serde_json::{Map, Value};
use workbus_subscribers::toolkit::Backoff;

use crate::act::ACTION_ATTEMPTS;
use crate::stats::AutomationStats;

/// The schedule between tries, shared by every action.
pub(crate) const BACKOFF: Backoff =
    Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
/// Bytes of an answer's body read at most (its first 1,000 characters are kept).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// What to send.
pub(crate) struct Call {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
    pub body: Body,
    pub timeout: Duration,
    /// Refuse loopback, private and link-local addresses (the block's
    /// `allow_private_urls: false`).
    pub refuse_private: bool,
}

/// The body of a call.
pub(crate) enum Body {
    None,
    /// As it is, with no content type (httpx's `content=`).
    Text(String),
    /// JSON (httpx's `json=`).
    Json(Value),
    /// Form-encoded (httpx's `data=`).
    Form(Vec<(String, String)>),
}

/// The final answer of a call.
pub(crate) struct Answer {
    pub status: u16,
    pub body: String,
    pub headers: Map<String, Value>,
}

/// Why a call did not succeed.
pub(crate) enum CallError {
    /// No answer (after every try, if it could pass).
    Transport(String),
    /// An answer that is not a success (after every try, if it could pass).
    Status(Answer),
}

impl Answer {
    /// Prefect's result details: the status, the body's first and last 500
    /// characters, and the headers that are neither secret nor noise.
    pub fn details(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("status_code".into(), Value::from(self.status));
        m.insert(
            "response_body".into(),
            Value::from(truncated_to(1000, &self.body)),
        );
        m.insert(
            "response_headers".into(),
            Value::Object(self.headers.clone()),
        );
        m
    }
}

/// Prefect's `truncated_to`: the middle of a long text left out, and said so.
pub(crate) fn truncated_to(length: usize, value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() <= length {
        return value.to_owned();
    }
    let half = length / 2;
    let beginning: String = chars[..half].iter().collect();
    let end: String = chars[chars.len() - half..].iter().collect();
    let omitted = chars.len() - 2 * half;
    let proposed = format!("{beginning}...{omitted} additional characters...{end}");
    if proposed.chars().count() < chars.len() {
        proposed
    } else {
        value.to_owned()
    }
}

/// Prefect's `should_redact_header`.
fn redacted(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(n.as_str(), "authorization" | "traceparent" | "via")
        || [
            "x-forwarded",
            "x-b3",
            "x-cloud-trace",
            "x-envoy",
            "x-prefect",
        ]
        .iter()
        .any(|p| n.starts_with(p))
}

fn passes(status: u16) -> bool {
    status == 408 || status == 429 || status >= 500
}

/// Makes the call, trying again while its failure may pass.
pub(crate) async fn send(stats: &AutomationStats, call: &Call) -> Result<Answer, CallError> {
    let mut attempt = 1;
    loop {
        let outcome = once(call).await;
        let again = match &outcome {
            Ok(a) => passes(a.status),
            Err(_) => true,
        };
        if !again || attempt >= ACTION_ATTEMPTS {
            return match outcome {
                Ok(a) if a.status < 400 => Ok(a),
                Ok(a) => Err(CallError::Status(a)),
                Err(e) => Err(CallError::Transport(e)),
            };
        }
        stats.count_retry();
        tokio::time::sleep(BACKOFF.delay(attempt - 1)).await;
        attempt += 1;
    }
}

fn client(call: &Call) -> awc::Client {
    let builder = awc::Client::builder()
        .timeout(call.timeout)
        .disable_redirects();
    if call.refuse_private {
        let connector =
            awc::Connector::new().connector(workbus_subscribers::ssrf::guarded_connector());
        builder.connector(connector).finish()
    } else {
        builder.finish()
    }
}

async fn once(call: &Call) -> Result<Answer, String> {
    if call.refuse_private {
        let uri: awc::http::Uri = call.url.parse().map_err(|e| format!("{e}"))?;
        if let Some(host) = uri.host() {
            workbus_subscribers::ssrf::check_literal(host).map_err(|e| e.to_string())?;
        }
    }
    let client = client(call);
    // httpx adds `params` to the query the URL has; awc's `query` would replace it.
    let url = match (call.query.is_empty(), call.url.contains('?')) {
        (true, _) => call.url.clone(),
        (false, true) => format!("{}&{}", call.url, form_encode(&call.query)),
        (false, false) => format!("{}?{}", call.url, form_encode(&call.query)),
    };
    let mut request = client.request(call.method.clone(), &url);
    for (k, v) in &call.headers {
        request = request.insert_header((k.as_str(), v.as_str()));
    }
    let sent = match &call.body {
        Body::None => request.send().await,
        Body::Text(text) => request.send_body(text.clone()).await,
        Body::Json(value) => request.send_json(value).await,
        Body::Form(pairs) => request.send_form(pairs).await,
    };
    let mut response = sent.map_err(|e| e.to_string())?;
    let headers = response
        .headers()
        .iter()
        .filter(|(k, _)| !redacted(k.as_str()))
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                Value::from(String::from_utf8_lossy(v.as_bytes()).into_owned()),
            )
        })
        .collect();
    let status = response.status().as_u16();
    // An answer's body that cannot be read whole is kept as far as it was read:
    // the status is the answer.
    let body = response
        .body()
        .limit(MAX_ANSWER_BYTES)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    Ok(Answer {
        status,
        body,
        headers,
    })
}

/// `application/x-www-form-urlencoded`, as a query string.
fn form_encode(pairs: &[(String, String)]) -> String {
    let encode = |s: &str| {
        let mut out = String::with_capacity(s.len());
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                    out.push(b as char)
                }
                b' ' => out.push('+'),
                other => out.push_str(&format!("%{other:02X}")),
            }
        }
        out
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Prefect's `apply_values` for the custom webhook: each `{{ key }}` replaced by
/// its value; a string that is one placeholder becomes the value itself.
pub(crate) fn apply_values(template: &Value, values: &Map<String, Value>) -> Value {
    match template {
        Value::String(s) => apply_to_string(s, values),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| apply_values(v, values)).collect())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), apply_values(v, values)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn placeholder(inner: &str) -> Option<&str> {
    let name = inner.trim();
    let ok = |c: char| c.is_alphanumeric() || "_.-[]$".contains(c);
    (!name.is_empty() && name.chars().all(ok)).then_some(name)
}

fn apply_to_string(s: &str, values: &Map<String, Value>) -> Value {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start + 2..].find("}}") else {
            break;
        };
        let inner = &rest[start + 2..start + 2 + len];
        let end = start + 2 + len + 2;
        match placeholder(inner).and_then(|name| values.get(name)) {
            Some(value) => {
                if start == 0 && end == rest.len() && out.is_empty() {
                    return value.clone();
                }
                out.push_str(&rest[..start]);
                match value {
                    Value::String(v) => out.push_str(v),
                    other => out.push_str(&other.to_string()),
                }
            }
            None => out.push_str(&rest[..end]),
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    Value::String(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn placeholders_take_their_values() {
        let Value::Object(values) = json!({"subject": "S", "body": "B", "n": 3}) else {
            unreachable!()
        };
        let t = json!({"text": "{{subject}}\n{{ body }}", "n": "{{n}}", "keep": "{{other}}", "x": ["{{n}} items"]});
        assert_eq!(
            apply_values(&t, &values),
            json!({"text": "S\nB", "n": 3, "keep": "{{other}}", "x": ["3 items"]})
        );
    }

    #[test]
    fn long_bodies_are_cut_in_the_middle() {
        let long = "a".repeat(600) + &"b".repeat(600);
        let cut = truncated_to(1000, &long);
        assert!(cut.starts_with(&"a".repeat(500)));
        assert!(cut.contains("...200 additional characters..."));
        assert_eq!(truncated_to(1000, "short"), "short");
    }
}
