//! One request and its retries: the HTTP client, how an attempt ends
//! ([`Outcome`]), and the retry loop.

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use awc::error::SendRequestError;
use awc::http::header::{HttpDate, CONTENT_TYPE, RETRY_AFTER};
use awc::http::StatusCode;
use bytes::Bytes;
use workbus_core::Clock;

use super::config::{Headers, RetryPolicy};
use super::sign::Signer;
use crate::telemetry::Telemetry;
use crate::Error;

/// How one HTTP attempt ended: the `outcome` label of
/// `workbus_webhook_requests_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// A `2xx`.
    Success,
    /// A `4xx` other than `408` and `429`; not retried.
    ClientError,
    /// A `5xx`; retried.
    ServerError,
    /// A `429`; retried.
    RateLimited,
    /// A `408`; retried.
    RequestTimeout,
    /// A `3xx` (redirects are not followed); not retried.
    Redirect,
    /// No response head within the timeout; retried.
    Timeout,
    /// The connection failed; retried.
    ConnectError,
    /// The request could not be sent, or the connection dropped.
    SendError,
    /// The SSRF guard refused every address of the host; not retried.
    RefusedAddress,
}

impl Outcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::ClientError => "client_error",
            Outcome::ServerError => "server_error",
            Outcome::RateLimited => "rate_limited",
            Outcome::RequestTimeout => "request_timeout",
            Outcome::Redirect => "redirect",
            Outcome::Timeout => "timeout",
            Outcome::ConnectError => "connect_error",
            Outcome::SendError => "send_error",
            Outcome::RefusedAddress => "refused_address",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The HTTP client of one webhook: at most `concurrency` connections, no
/// redirects, the SSRF guard's resolver when asked, and TLS for `https://`.
pub(super) fn client(
    concurrency: usize,
    timeout: Duration,
    refuse_private: bool,
    tls: Option<&Arc<rustls::ClientConfig>>,
) -> awc::Client {
    let mut connector = awc::Connector::new().limit(concurrency);
    if let Some(tls) = tls {
        connector = connector.rustls_0_23(tls.clone());
    }
    let builder = awc::Client::builder().timeout(timeout).disable_redirects();
    if refuse_private {
        builder
            .connector(connector.connector(crate::ssrf::guarded_connector()))
            .finish()
    } else {
        builder.connector(connector).finish()
    }
}

/// The TLS settings of a webhook that trusts certificates of its own
/// besides the web PKI roots; `None` when it trusts only those (awc's default).
pub(super) fn tls_config(
    webhook: &str,
    extra_roots: &[Vec<u8>],
) -> Result<Option<Arc<rustls::ClientConfig>>, Error> {
    if extra_roots.is_empty() {
        return Ok(None);
    }
    let bad = |reason: String| Error::InvalidSetting {
        name: format!("webhook {webhook:?} root certificate"),
        value: "(DER)".into(),
        reason,
    };
    let mut roots = actix_tls::connect::rustls_0_23::webpki_roots_cert_store();
    for der in extra_roots {
        roots
            .add(rustls::pki_types::CertificateDer::from(der.clone()))
            .map_err(|e| bad(e.to_string()))?;
    }
    // The provider is named, not taken from the process default, which may be unset.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Some(Arc::new(config)))
}

/// Everything one attempt needs, shared by the lanes' futures.
pub(super) struct Target {
    pub(super) name: Arc<str>,
    pub(super) url: String,
    pub(super) signer: Option<Signer>,
    pub(super) headers: Headers,
    pub(super) timeout: Duration,
    pub(super) retry: RetryPolicy,
    pub(super) client: awc::Client,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) telemetry: Telemetry,
}

/// How one attempt ended.
enum Attempt {
    Delivered,
    Retry {
        outcome: Outcome,
        reason: String,
        retry_after: Option<Duration>,
    },
    GiveUp {
        outcome: Outcome,
        reason: String,
    },
}

/// Why a unit was given up.
#[derive(Debug)]
pub(super) struct Failure {
    pub(super) reason: Arc<str>,
    pub(super) attempts: u32,
}

fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let date: HttpDate = value.parse().ok()?;
    let at: SystemTime = date.into();
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

fn classify(status: StatusCode, retry_after: Option<Duration>) -> Attempt {
    let reason = status.to_string();
    let retry = |outcome| Attempt::Retry {
        outcome,
        reason: reason.clone(),
        retry_after,
    };
    if status.is_success() {
        Attempt::Delivered
    } else if status == StatusCode::TOO_MANY_REQUESTS {
        retry(Outcome::RateLimited)
    } else if status == StatusCode::REQUEST_TIMEOUT {
        retry(Outcome::RequestTimeout)
    } else if status.is_server_error() {
        retry(Outcome::ServerError)
    } else if status.is_redirection() {
        Attempt::GiveUp {
            outcome: Outcome::Redirect,
            reason,
        }
    } else {
        Attempt::GiveUp {
            outcome: Outcome::ClientError,
            reason,
        }
    }
}

impl Target {
    async fn attempt(&self, body: &Bytes, msg_id: &str) -> Attempt {
        let ts = (self.clock.now().as_micros().div_euclid(1_000_000)).to_string();
        let mut req = self
            .client
            .post(self.url.as_str())
            .timeout(self.timeout)
            .insert_header((CONTENT_TYPE, "application/json"))
            .insert_header(("webhook-id", msg_id))
            .insert_header(("webhook-timestamp", ts.as_str()));
        if let Some(signer) = &self.signer {
            req = req.insert_header(("webhook-signature", signer.sign(msg_id, &ts, body)));
        }
        for (k, v) in &self.headers {
            req = req.insert_header((k.clone(), v.clone()));
        }
        match req.send_body(body.clone()).await {
            Ok(mut resp) => {
                let status = resp.status();
                let retry_after = resp
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after);
                // Read the answer so the connection can be reused; what it says does not matter.
                let _ = tokio::time::timeout(self.timeout, resp.body().limit(64 * 1024)).await;
                classify(status, retry_after)
            }
            Err(SendRequestError::Timeout) => Attempt::Retry {
                outcome: Outcome::Timeout,
                reason: format!("no response within {:?}", self.timeout),
                retry_after: None,
            },
            Err(SendRequestError::Connect(awc::error::ConnectError::Resolver(e)))
                if e.is::<crate::ssrf::RefusedAddress>() =>
            {
                Attempt::GiveUp {
                    outcome: Outcome::RefusedAddress,
                    reason: e.to_string(),
                }
            }
            Err(SendRequestError::Connect(e)) => Attempt::Retry {
                outcome: Outcome::ConnectError,
                reason: e.to_string(),
                retry_after: None,
            },
            Err(
                e @ (SendRequestError::Url(_)
                | SendRequestError::Http(_)
                | SendRequestError::TunnelNotSupported),
            ) => Attempt::GiveUp {
                outcome: Outcome::SendError,
                reason: e.to_string(),
            },
            Err(e) => Attempt::Retry {
                outcome: Outcome::SendError,
                reason: e.to_string(),
                retry_after: None,
            },
        }
    }

    /// Sends one body until it is delivered, refused for good, or the budget is spent.
    pub(super) async fn deliver(
        self: Rc<Self>,
        body: Bytes,
        msg_id: String,
    ) -> Result<u32, Failure> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let (outcome, reason, retry_after) = match self.attempt(&body, &msg_id).await {
                Attempt::Delivered => {
                    self.telemetry.request(&self.name, Outcome::Success);
                    return Ok(attempt);
                }
                Attempt::GiveUp { outcome, reason } => {
                    self.telemetry.request(&self.name, outcome);
                    return Err(Failure {
                        reason: format!("{outcome}: {reason} (not retried)").into(),
                        attempts: attempt,
                    });
                }
                Attempt::Retry {
                    outcome,
                    reason,
                    retry_after,
                } => (outcome, reason, retry_after),
            };
            self.telemetry.request(&self.name, outcome);
            if attempt >= self.retry.max_attempts {
                return Err(Failure {
                    reason: format!("{outcome}: {reason} (after {attempt} attempts)").into(),
                    attempts: attempt,
                });
            }
            let delay = self.retry.delay(attempt, retry_after);
            tracing::debug!(webhook = %self.name, webhook_id = %msg_id, attempt, %outcome, reason,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), "webhook attempt failed: retrying");
            self.telemetry.retry(&self.name);
            tokio::time::sleep(delay).await;
        }
    }
}
