//! What a webhook is: [`WebhookConfig`], its [`RetryPolicy`] and [`BatchConfig`],
//! and the checks that turn it into what the actor runs.

use std::fmt;
use std::time::Duration;

use awc::http::header::{HeaderName, HeaderValue};
use awc::http::Uri;
use serde::Deserialize;
use workbus_core::{EventFilter, Overflow};

use super::dead_letter::DeadLetterSink;
use super::sign::Signer;
use crate::toolkit::{Backoff, Feed};
use crate::{Error, UrlError};

/// How a webhook retries.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1; default 8).
    pub max_attempts: u32,
    /// The wait before the second attempt (default 500 ms).
    #[serde(
        deserialize_with = "millis::deserialize",
        rename = "initial_backoff_ms"
    )]
    pub initial_backoff: Duration,
    /// The longest wait between attempts (default 60 s).
    #[serde(deserialize_with = "millis::deserialize", rename = "max_backoff_ms")]
    pub max_backoff: Duration,
    /// How much each wait grows (default 2).
    pub multiplier: f64,
    /// The random part of each wait, from 0 to 1: a wait of `d` becomes one
    /// between `d × (1 − jitter)` and `d` (default 0.2).
    pub jitter: f64,
    /// The longest `Retry-After` honoured (default 300 s); a longer one waits this long.
    #[serde(
        deserialize_with = "millis::deserialize",
        rename = "max_retry_after_ms"
    )]
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
            multiplier: 2.0,
            jitter: 0.2,
            max_retry_after: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// The schedule of the waits, the toolkit's one [`Backoff`].
    pub fn backoff(&self) -> Backoff {
        Backoff::new(self.initial_backoff, self.max_backoff)
            .multiplier(self.multiplier)
            .jitter(self.jitter)
    }

    /// The wait after failed attempt number `attempt` (1-based), at least
    /// `retry_after` (capped at [`max_retry_after`](Self::max_retry_after)) when the server sent one.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use workbus_subscribers::webhook::RetryPolicy;
    ///
    /// let p = RetryPolicy { jitter: 0.0, ..RetryPolicy::default() };
    /// assert_eq!(p.delay(1, None), Duration::from_millis(500));
    /// assert_eq!(p.delay(3, None), Duration::from_secs(2));
    /// assert_eq!(p.delay(30, None), Duration::from_secs(60));
    /// assert_eq!(p.delay(1, Some(Duration::from_secs(7))), Duration::from_secs(7));
    /// ```
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let waited = self.backoff().delay(attempt.saturating_sub(1));
        match retry_after {
            Some(ra) => waited.max(ra.min(self.max_retry_after)),
            None => waited,
        }
    }
}

/// When a batch is sent.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    /// Send once this many events wait (at least 1).
    pub max_events: usize,
    /// Send once the oldest waiting event has waited this long.
    #[serde(deserialize_with = "millis::deserialize", rename = "max_wait_ms")]
    pub max_wait: Duration,
}

/// One webhook: where, how it is signed, which events, and how it retries.
#[derive(Clone)]
pub struct WebhookConfig {
    /// Its name in logs and metrics.
    pub name: String,
    /// An absolute `http://` or `https://` URL.
    pub url: String,
    /// A Standard Webhooks secret, `whsec_` and base64; `None`: unsigned.
    pub secret: Option<String>,
    /// Extra headers on every request.
    pub headers: Vec<(String, String)>,
    /// Which events it sends, and what happens when it falls behind (default
    /// every event, losing none).
    pub feed: Feed,
    /// The timeout of one attempt, until the response's head (default 10 s).
    pub timeout: Duration,
    /// How it retries.
    pub retry: RetryPolicy,
    /// Requests in flight at once, over all resources (default 8).
    pub concurrency: usize,
    /// Batching; `None` (the default) sends one event per request.
    pub batch: Option<BatchConfig>,
    /// Where events go after the retry budget.
    pub dead_letter: DeadLetterSink,
    /// The largest a [`DeadLetterSink::File`] may grow, in bytes (default
    /// [`DEFAULT_DEAD_LETTER_MAX_BYTES`], 64 MiB). A dead letter that would
    /// take the file past it is not written: it is counted in
    /// `workbus_events_dropped_total{reason="dead_letter_full"}` and logged
    /// (without its body). Rotate or empty the file to make room.
    pub dead_letter_max_bytes: u64,
    /// The SSRF guard: refuse targets that are not globally routable (see
    /// [`crate::ssrf`]). Off by default.
    pub refuse_private_addresses: bool,
    /// Certificates (DER) trusted for `https://` targets besides the
    /// built-in web PKI roots: a private CA, or a test's own. Add them with
    /// [`root_certificate`](Self::root_certificate) (DER) or
    /// [`root_certificates_pem`](Self::root_certificates_pem) (PEM).
    pub extra_root_certificates: Vec<Vec<u8>>,
}

/// The default cap of a dead-letter file: 64 MiB.
pub const DEFAULT_DEAD_LETTER_MAX_BYTES: u64 = 64 * 1024 * 1024;

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("secret", &self.secret.as_ref().map(|_| "(set)"))
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("feed", &self.feed)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("concurrency", &self.concurrency)
            .field("batch", &self.batch)
            .field("dead_letter", &self.dead_letter)
            .field("dead_letter_max_bytes", &self.dead_letter_max_bytes)
            .field("refuse_private_addresses", &self.refuse_private_addresses)
            .field(
                "extra_root_certificates",
                &self.extra_root_certificates.len(),
            )
            .finish()
    }
}

impl WebhookConfig {
    /// A webhook named `name` that POSTs every event to `url`, unsigned, with the defaults.
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> Self {
        WebhookConfig {
            name: name.into(),
            url: url.into(),
            secret: None,
            headers: Vec::new(),
            feed: Feed::default(),
            timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            concurrency: 8,
            batch: None,
            dead_letter: DeadLetterSink::Log,
            dead_letter_max_bytes: DEFAULT_DEAD_LETTER_MAX_BYTES,
            refuse_private_addresses: false,
            extra_root_certificates: Vec::new(),
        }
    }

    /// Turns the SSRF guard on or off (see [`crate::ssrf`]).
    pub fn refuse_private_addresses(mut self, on: bool) -> Self {
        self.refuse_private_addresses = on;
        self
    }

    /// Caps a dead-letter file at this many bytes.
    pub fn dead_letter_max_bytes(mut self, max: u64) -> Self {
        self.dead_letter_max_bytes = max;
        self
    }

    /// Signs requests with this secret (`whsec_` and base64).
    pub fn secret(mut self, secret: impl Into<String>) -> Self {
        self.secret = Some(secret.into());
        self
    }

    /// Sends only the events this filter matches.
    pub fn filter(mut self, filter: EventFilter) -> Self {
        self.feed.filter = filter;
        self
    }

    /// The registry's buffer for it and what happens when it is full.
    pub fn buffer(mut self, buffer: usize, overflow: Overflow) -> Self {
        self.feed.buffer = buffer;
        self.feed.overflow = overflow;
        self
    }

    /// The timeout of one attempt.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The retry policy.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Requests in flight at once.
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency;
        self
    }

    /// Sends JSON arrays of up to `max_events`, or after `max_wait`.
    pub fn batch(mut self, max_events: usize, max_wait: Duration) -> Self {
        self.batch = Some(BatchConfig {
            max_events,
            max_wait,
        });
        self
    }

    /// Where events go after the retry budget.
    pub fn dead_letter(mut self, sink: DeadLetterSink) -> Self {
        self.dead_letter = sink;
        self
    }

    /// Adds a header to every request.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Trusts this certificate (DER) for `https://` targets, besides the
    /// built-in web PKI roots. It is checked when the webhook starts: one
    /// that does not parse is refused with [`Error::InvalidSetting`].
    pub fn root_certificate(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.extra_root_certificates.push(der.into());
        self
    }

    /// Trusts every certificate of this PEM text for `https://` targets,
    /// besides the built-in web PKI roots: a private CA's bundle, one or more
    /// `-----BEGIN CERTIFICATE-----` blocks (other blocks, such as keys, are
    /// skipped). The webhooks file takes the same as `root_certificates_file`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSetting`] when a block is not valid PEM, or the text
    /// holds no certificate.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use workbus_subscribers::webhook::WebhookConfig;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let ca = std::fs::read("/etc/workbus/private-ca.pem")?;
    /// let hook = WebhookConfig::new("ops", "https://ops.internal/hooks/workbus")
    ///     .root_certificates_pem(ca)?;
    /// # let _ = hook;
    /// # Ok(())
    /// # }
    /// ```
    pub fn root_certificates_pem(mut self, pem: impl AsRef<[u8]>) -> Result<Self, Error> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::CertificateDer;

        let bad = |reason: String| Error::InvalidSetting {
            name: format!("webhook {:?} root certificate", self.name),
            value: "(PEM)".into(),
            reason,
        };
        let certs = CertificateDer::pem_slice_iter(pem.as_ref())
            .map(|cert| cert.map(|c| c.to_vec()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(e.to_string()))?;
        if certs.is_empty() {
            return Err(bad("no CERTIFICATE block in the PEM text".into()));
        }
        self.extra_root_certificates.extend(certs);
        Ok(self)
    }

    /// Checks the URL, the secret, the headers and the numbers.
    pub fn validate(&self) -> Result<(), Error> {
        self.checked().map(|_| ())
    }

    pub(super) fn checked(&self) -> Result<(Option<Signer>, Headers), Error> {
        let bad_url = |reason: UrlError| Error::InvalidUrl {
            url: self.url.clone(),
            reason,
        };
        let uri: Uri = self
            .url
            .parse()
            .map_err(|e| bad_url(UrlError::Unparsable(e)))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(bad_url(UrlError::NotHttp));
        }
        let host = uri.host().unwrap_or_default();
        if host.is_empty() {
            return Err(bad_url(UrlError::NoHost));
        }
        if self.refuse_private_addresses {
            crate::ssrf::check_literal(host).map_err(bad_url)?;
        }
        let signer = match &self.secret {
            Some(s) => Some(Signer::new(s).map_err(|reason| Error::InvalidSecret {
                webhook: self.name.clone(),
                reason,
            })?),
            None => None,
        };
        let bad = |name: &str, value: &str, reason: String| Error::InvalidSetting {
            name: format!("webhook {:?} {name}", self.name),
            value: value.to_owned(),
            reason,
        };
        let mut headers = Vec::with_capacity(self.headers.len());
        for (k, v) in &self.headers {
            let name = HeaderName::try_from(k.as_str())
                .map_err(|e| bad("header name", k, e.to_string()))?;
            let value = HeaderValue::try_from(v.as_str())
                .map_err(|e| bad("header value", v, e.to_string()))?;
            headers.push((name, value));
        }
        if self.concurrency == 0 {
            return Err(bad("concurrency", "0", "at least 1".into()));
        }
        if self.retry.max_attempts == 0 {
            return Err(bad("max_attempts", "0", "at least 1".into()));
        }
        if self.timeout.is_zero() {
            return Err(bad("timeout", "0", "must be positive".into()));
        }
        if self.dead_letter_max_bytes == 0 {
            return Err(bad("dead_letter_max_bytes", "0", "at least 1".into()));
        }
        if let Some(b) = &self.batch {
            if b.max_events == 0 {
                return Err(bad("batch.max_events", "0", "at least 1".into()));
            }
        }
        Ok((signer, headers))
    }
}

/// Extra headers, checked.
pub(super) type Headers = Vec<(HeaderName, HeaderValue)>;

/// Durations as whole milliseconds in configuration files.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_roots_are_read_as_der_and_text_without_a_certificate_is_refused() {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let bundle = format!("{}{}", made.cert.pem(), made.signing_key.serialize_pem());
        let hook = WebhookConfig::new("hook", "https://example.com/hook")
            .root_certificates_pem(bundle)
            .unwrap();
        assert_eq!(hook.extra_root_certificates, vec![made.cert.der().to_vec()]);

        let err = WebhookConfig::new("hook", "https://example.com/hook")
            .root_certificates_pem("not a certificate")
            .unwrap_err();
        assert!(matches!(err, Error::InvalidSetting { .. }), "{err:?}");
    }
}
