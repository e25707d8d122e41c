//! What [`install`](crate::install) starts, from code or from the environment.
//!
//! ## Environment
//!
//! | variable | meaning |
//! |---|---|
//! | `WORKBUS_LOG_FORMAT` | `pretty` (default): events as `tracing` events; `json`: events as Prefect JSON lines (and the server should use a JSON `tracing` layer) |
//! | `WORKBUS_LOG_FILE` | with `json`: append the lines to this file instead of stdout |
//! | `WORKBUS_WEBHOOK_URL` | one webhook, named `webhook`, sending every event here |
//! | `WORKBUS_WEBHOOK_SECRET` | its Standard Webhooks secret (`whsec_…`) |
//! | `WORKBUS_WEBHOOKS_FILE` | a JSON file defining more webhooks (below) |
//! | `WORKBUS_WEBHOOK_REFUSE_PRIVATE` | `true`: the SSRF guard for every webhook (see [`crate::ssrf`]); default `false` |
//!
//! ## The webhooks file
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
//! names the variable holding it. `filter` is Prefect's event filter JSON.
//! `buffer` and `overflow` (`"block"`, the default, or `"drop_newest"`) set
//! how the registry feeds it. `root_certificates_file` is a PEM file of
//! certificates (a private CA's) that `https://` targets may chain to, besides
//! the web PKI roots.

#[cfg(feature = "webhook")]
use std::path::Path;
use std::path::PathBuf;

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

impl std::str::FromStr for LogFormat {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "pretty" | "" => Ok(LogFormat::Pretty),
            "json" => Ok(LogFormat::Json),
            _ => Err(Error::InvalidSetting {
                name: "WORKBUS_LOG_FORMAT".into(),
                value: s.into(),
                reason: "expected pretty or json".into(),
            }),
        }
    }
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

    /// Reads the process environment (see the [module docs](self)).
    pub fn from_env() -> Result<Self, Error> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// Reads settings through `var` instead of the environment (for tests, or flags).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let var = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        let mut config = SubscribersConfig::default();
        if let Some(f) = var("WORKBUS_LOG_FORMAT") {
            config.log_format = f.parse()?;
        }
        let log_file = var("WORKBUS_LOG_FILE").map(PathBuf::from);
        #[cfg(feature = "logger")]
        {
            use crate::logger::{JsonTarget, LoggerConfig};
            if config.log_format == LogFormat::Json {
                let target = log_file.map_or(JsonTarget::Stdout, JsonTarget::File);
                config.logger = Some(LoggerConfig::json_lines(target));
            }
        }
        #[cfg(not(feature = "logger"))]
        if config.log_format == LogFormat::Json || log_file.is_some() {
            return Err(Error::FeatureDisabled("logger"));
        }

        let url = var("WORKBUS_WEBHOOK_URL");
        let secret = var("WORKBUS_WEBHOOK_SECRET");
        let file = var("WORKBUS_WEBHOOKS_FILE").map(PathBuf::from);
        let refuse_private = match var("WORKBUS_WEBHOOK_REFUSE_PRIVATE") {
            None => false,
            Some(v) => parse_bool(&v).ok_or_else(|| Error::InvalidSetting {
                name: "WORKBUS_WEBHOOK_REFUSE_PRIVATE".into(),
                value: v.clone(),
                reason: "expected true or false".into(),
            })?,
        };
        if url.is_none() && secret.is_some() {
            return Err(Error::InvalidSetting {
                name: "WORKBUS_WEBHOOK_SECRET".into(),
                value: "(set)".into(),
                reason: "WORKBUS_WEBHOOK_URL is not set".into(),
            });
        }
        #[cfg(feature = "webhook")]
        {
            if let Some(url) = url {
                let mut hook = crate::webhook::WebhookConfig::new("webhook", url);
                hook.secret = secret;
                hook.refuse_private_addresses = refuse_private;
                hook.validate()?;
                config.webhooks.push(hook);
            }
            if let Some(path) = file {
                for mut hook in webhooks_file(&path, &var)? {
                    if refuse_private && !hook.refuse_private_addresses {
                        hook.refuse_private_addresses = true;
                        hook.validate()?;
                    }
                    config.webhooks.push(hook);
                }
            }
        }
        #[cfg(not(feature = "webhook"))]
        if url.is_some() || file.is_some() || refuse_private {
            return Err(Error::FeatureDisabled("webhook"));
        }
        Ok(config)
    }
}

/// `true`/`false` as environment variables spell them.
fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
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
