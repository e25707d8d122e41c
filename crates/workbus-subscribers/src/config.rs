//! What [`install`](crate::install) starts: a plain struct, built in code.
//!
//! This crate reads no environment variable. The `workbus` binary parses its
//! flags and their `WORKBUS_*` variables once (clap) and builds a
//! [`SubscribersConfig`] from them; an embedding program builds one the same way:
//!
//! ```
//! use workbus_subscribers::logger::JsonTarget;
//! use workbus_subscribers::webhook::WebhookConfig;
//! use workbus_subscribers::SubscribersConfig;
//!
//! let config = SubscribersConfig::default()
//!     .json_lines(JsonTarget::Stdout)
//!     .webhook(WebhookConfig::new("ops", "https://ops.example.com/hooks/workbus"))
//!     .refuse_private_addresses();
//! assert_eq!(config.webhooks.len(), 1);
//! assert!(config.webhooks[0].refuse_private_addresses);
//! ```
//!
//! ## The webhooks file
//!
//! [`webhooks_file`] reads more webhooks from a JSON file:
//!
//! ```json
//! {"webhooks": [
//!   {"name": "ops", "url": "http://ops.internal/hooks/workbus",
//!    "secret_env": "OPS_WEBHOOK_SECRET",
//!    "filter": {"event": {"prefix": ["prefect.work-pool."]}},
//!    "timeout_ms": 5000, "concurrency": 4,
//!    "retry": {"max_attempts": 5, "initial_backoff_ms": 200},
//!    "batch": {"max_events": 100, "max_wait_ms": 1000},
//!    "dead_letter_file": "/var/lib/workbus/ops-dead.jsonl",
//!    "dead_letter_max_bytes": 67108864, "refuse_private_addresses": true,
//!    "root_certificates_file": "/etc/workbus/private-ca.pem",
//!    "headers": {"x-team": "ops"}}
//! ]}
//! ```
//!
//! Only `url` is required. `secret` may be given inline, or `secret_env`
//! names the variable holding it (looked up through the function the caller
//! passes). `filter` is Prefect's event filter JSON. `buffer` and `overflow`
//! (`"block"`, the default, or `"drop_newest"`) set how the registry feeds it.
//! `root_certificates_file` is a PEM file of certificates (a private CA's)
//! that `https://` targets may chain to, besides the web PKI roots.

#[cfg(feature = "webhook")]
use std::path::Path;

use crate::Error;

/// How the server should log, and what the logger subscriber writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable logs; events as `tracing` events.
    #[default]
    Pretty,
    /// JSON logs; events as Prefect JSON lines.
    Json,
}

/// Which subscribers [`install`](crate::install) starts, and how.
///
/// The default starts the logger (tracing events) and the metrics, and no webhook.
#[derive(Clone, Debug)]
pub struct SubscribersConfig {
    /// How the server should format its own logs.
    pub log_format: LogFormat,
    /// The logger; `None`: none.
    #[cfg(feature = "logger")]
    pub logger: Option<crate::logger::LoggerConfig>,
    /// The metrics; `None`: none.
    #[cfg(feature = "metrics")]
    pub metrics: Option<crate::metrics::MetricsConfig>,
    /// The webhooks, each with its own URL, secret and filter.
    #[cfg(feature = "webhook")]
    pub webhooks: Vec<crate::webhook::WebhookConfig>,
}

impl Default for SubscribersConfig {
    fn default() -> Self {
        SubscribersConfig {
            log_format: LogFormat::Pretty,
            #[cfg(feature = "logger")]
            logger: Some(crate::logger::LoggerConfig::default()),
            #[cfg(feature = "metrics")]
            metrics: Some(crate::metrics::MetricsConfig::default()),
            #[cfg(feature = "webhook")]
            webhooks: Vec::new(),
        }
    }
}

impl SubscribersConfig {
    /// No subscriber at all; add the ones you want.
    pub fn none() -> Self {
        SubscribersConfig {
            log_format: LogFormat::Pretty,
            #[cfg(feature = "logger")]
            logger: None,
            #[cfg(feature = "metrics")]
            metrics: None,
            #[cfg(feature = "webhook")]
            webhooks: Vec::new(),
        }
    }

    /// Logs events as Prefect JSON lines to `target` (and tells the server, through
    /// [`log_format`](Self::log_format), to write its own logs as JSON).
    #[cfg(feature = "logger")]
    pub fn json_lines(mut self, target: crate::logger::JsonTarget) -> Self {
        self.log_format = LogFormat::Json;
        self.logger = Some(crate::logger::LoggerConfig::json_lines(target));
        self
    }

    /// Adds a webhook. It is checked when [`install`](crate::install) starts it, or
    /// earlier by [`WebhookConfig::validate`](crate::webhook::WebhookConfig::validate).
    #[cfg(feature = "webhook")]
    pub fn webhook(mut self, hook: crate::webhook::WebhookConfig) -> Self {
        self.webhooks.push(hook);
        self
    }

    /// Turns the SSRF guard (see [`crate::ssrf`]) on for every webhook added so far.
    #[cfg(feature = "webhook")]
    pub fn refuse_private_addresses(mut self) -> Self {
        for hook in &mut self.webhooks {
            hook.refuse_private_addresses = true;
        }
        self
    }

    /// Checks every webhook (its URL, its secret, its SSRF guard), as
    /// [`install`](crate::install) would when it starts them.
    pub fn validate(&self) -> Result<(), Error> {
        #[cfg(feature = "webhook")]
        for hook in &self.webhooks {
            hook.validate()?;
        }
        Ok(())
    }
}

/// Reads the webhooks of a JSON file (see the [module docs](self)).
#[cfg(feature = "webhook")]
pub fn webhooks_file(
    path: &Path,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<crate::webhook::WebhookConfig>, Error> {
    let text = std::fs::read(path).map_err(|source| Error::ConfigRead {
        path: path.to_owned(),
        source,
    })?;
    let file: file::File = serde_json::from_slice(&text).map_err(|source| Error::ConfigParse {
        path: path.to_owned(),
        source,
    })?;
    let mut out = Vec::with_capacity(file.webhooks.len());
    for (i, w) in file.webhooks.into_iter().enumerate() {
        let name = w.name.unwrap_or_else(|| format!("webhook-{}", i + 1));
        let mut hook = crate::webhook::WebhookConfig::new(name, w.url);
        hook.secret = match (w.secret, w.secret_env) {
            (Some(s), _) => Some(s),
            (None, Some(env)) => Some(var(&env).ok_or_else(|| Error::InvalidSetting {
                name: format!("{}: webhooks[{i}].secret_env", path.display()),
                value: env.clone(),
                reason: "that variable is not set".into(),
            })?),
            (None, None) => None,
        };
        if let Some(f) = w.filter {
            hook.feed.filter = f;
        }
        if let Some(b) = w.buffer {
            hook.feed.buffer = b;
        }
        if let Some(o) = w.overflow {
            hook.feed.overflow = match o {
                file::Overflow::Block => workbus_core::Overflow::Block,
                file::Overflow::DropNewest => workbus_core::Overflow::DropNewest,
            };
        }
        hook.headers = w.headers.into_iter().collect();
        if let Some(ms) = w.timeout_ms {
            hook.timeout = std::time::Duration::from_millis(ms);
        }
        if let Some(r) = w.retry {
            hook.retry = r;
        }
        if let Some(c) = w.concurrency {
            hook.concurrency = c;
        }
        hook.batch = w.batch;
        if let Some(p) = w.dead_letter_file {
            hook.dead_letter = crate::webhook::DeadLetterSink::File(p);
        }
        if let Some(max) = w.dead_letter_max_bytes {
            hook.dead_letter_max_bytes = max;
        }
        hook.refuse_private_addresses = w.refuse_private_addresses;
        if let Some(p) = w.root_certificates_file {
            let pem = std::fs::read(&p).map_err(|source| Error::ConfigRead {
                path: p.clone(),
                source,
            })?;
            hook = hook.root_certificates_pem(pem)?;
        }
        hook.validate()?;
        out.push(hook);
    }
    Ok(out)
}

#[cfg(feature = "webhook")]
mod file {
    use std::path::PathBuf;

    use serde::Deserialize;
    use workbus_core::EventFilter;

    use crate::webhook::{BatchConfig, RetryPolicy};

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct File {
        pub(super) webhooks: Vec<Hook>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Hook {
        pub(super) name: Option<String>,
        pub(super) url: String,
        pub(super) secret: Option<String>,
        pub(super) secret_env: Option<String>,
        pub(super) filter: Option<EventFilter>,
        #[serde(default)]
        pub(super) headers: std::collections::BTreeMap<String, String>,
        pub(super) timeout_ms: Option<u64>,
        pub(super) retry: Option<RetryPolicy>,
        pub(super) concurrency: Option<usize>,
        pub(super) batch: Option<BatchConfig>,
        pub(super) dead_letter_file: Option<PathBuf>,
        pub(super) dead_letter_max_bytes: Option<u64>,
        #[serde(default)]
        pub(super) refuse_private_addresses: bool,
        pub(super) buffer: Option<usize>,
        pub(super) overflow: Option<Overflow>,
        pub(super) root_certificates_file: Option<PathBuf>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub(super) enum Overflow {
        Block,
        DropNewest,
    }
}
