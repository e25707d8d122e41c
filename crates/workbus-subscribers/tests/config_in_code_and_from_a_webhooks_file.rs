//! `SubscribersConfig` built in code, and a file of several webhooks. The crate reads no
//! environment variable: the `workbus` binary parses its flags and `WORKBUS_*` variables
//! once and builds this config (its tests cover that mapping and the refusals of flags).

use std::collections::HashMap;
use std::time::Duration;

use workbus_subscribers::config::webhooks_file;
use workbus_subscribers::logger::{JsonTarget, LogOutput};
use workbus_subscribers::webhook::{DeadLetterSink, WebhookConfig};
use workbus_subscribers::{Error, LogFormat, SubscribersConfig};

fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

fn hook(url: &str, secret: Option<&str>) -> WebhookConfig {
    WebhookConfig {
        secret: secret.map(str::to_owned),
        ..WebhookConfig::new("webhook", url)
    }
}

#[test]
fn the_default_is_the_pretty_logger_and_the_metrics() {
    let c = SubscribersConfig::default();
    assert_eq!(c.log_format, LogFormat::Pretty);
    assert!(matches!(c.logger.unwrap().output, LogOutput::Tracing));
    assert!(c.metrics.is_some());
    assert!(c.webhooks.is_empty());
}

#[test]
fn url_secret_and_json_logs_in_code() {
    let c = SubscribersConfig::default()
        .json_lines(JsonTarget::File("/tmp/events.jsonl".into()))
        .webhook(hook("http://127.0.0.1:9/hook", Some("whsec_c2VjcmV0")));
    c.validate().unwrap();
    assert_eq!(c.log_format, LogFormat::Json);
    match c.logger.unwrap().output {
        LogOutput::JsonLines(JsonTarget::File(p)) => {
            assert_eq!(p.to_str(), Some("/tmp/events.jsonl"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.webhooks.len(), 1);
    assert_eq!(c.webhooks[0].url, "http://127.0.0.1:9/hook");
    assert_eq!(c.webhooks[0].secret.as_deref(), Some("whsec_c2VjcmV0"));
}

#[test]
fn a_file_defines_several_webhooks_each_with_its_own_url_secret_and_filter() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hooks.json");
    std::fs::write(
        &path,
        r#"{"webhooks": [
            {"name": "ops", "url": "http://ops.internal/hook", "secret_env": "OPS_SECRET",
             "filter": {"event": {"prefix": ["prefect.work-pool."]}},
             "timeout_ms": 1500, "concurrency": 2, "retry": {"max_attempts": 3},
             "batch": {"max_events": 10, "max_wait_ms": 250},
             "dead_letter_file": "/tmp/ops-dead.jsonl", "headers": {"x-team": "ops"},
             "buffer": 100, "overflow": "drop_newest"},
            {"url": "http://audit.internal/hook", "secret": "whsec_YXVkaXQ="}
        ]}"#,
    )
    .unwrap();
    let webhooks = webhooks_file(&path, &vars(&[("OPS_SECRET", "whsec_b3Bz")])).unwrap();
    assert_eq!(webhooks.len(), 2);
    let ops = &webhooks[0];
    assert_eq!(ops.name, "ops");
    assert_eq!(ops.secret.as_deref(), Some("whsec_b3Bz"));
    assert_eq!(ops.timeout, Duration::from_millis(1500));
    assert_eq!(ops.concurrency, 2);
    assert_eq!(ops.retry.max_attempts, 3);
    assert_eq!(
        ops.retry.initial_backoff,
        Duration::from_millis(500),
        "unset fields keep their defaults"
    );
    assert_eq!(
        ops.batch.as_ref().unwrap().max_wait,
        Duration::from_millis(250)
    );
    assert!(matches!(&ops.dead_letter, DeadLetterSink::File(p) if p.ends_with("ops-dead.jsonl")));
    assert_eq!(ops.headers, [("x-team".to_owned(), "ops".to_owned())]);
    assert_eq!(ops.feed.buffer, 100);
    assert_eq!(ops.feed.overflow, workbus_core::Overflow::DropNewest);
    assert!(ops.feed.filter.event.is_some());
    assert_eq!(webhooks[1].name, "webhook-2");
    // A `secret_env` that names an unset variable is refused, naming the file's entry.
    assert!(matches!(
        webhooks_file(&path, &vars(&[])).unwrap_err(),
        Error::InvalidSetting { .. }
    ));
}

#[test]
fn a_file_names_a_pem_file_of_roots_to_trust_for_https() {
    let dir = tempfile::tempdir().unwrap();
    let made = rcgen::generate_simple_self_signed(vec!["hooks.internal".into()]).unwrap();
    let ca = dir.path().join("private-ca.pem");
    std::fs::write(&ca, made.cert.pem()).unwrap();
    let path = dir.path().join("hooks.json");
    let hooks = serde_json::json!({"webhooks": [
        {"url": "https://hooks.internal/hook", "root_certificates_file": ca},
        {"url": "https://other.internal/hook", "root_certificates_file": dir.path().join("missing.pem")},
    ]});
    std::fs::write(&path, hooks.to_string()).unwrap();
    let err = webhooks_file(&path, &vars(&[])).unwrap_err();
    assert!(
        matches!(&err, Error::ConfigRead { path, .. } if path.ends_with("missing.pem")),
        "{err:?}"
    );

    let hooks = serde_json::json!({"webhooks": [
        {"url": "https://hooks.internal/hook", "root_certificates_file": ca},
    ]});
    std::fs::write(&path, hooks.to_string()).unwrap();
    let webhooks = webhooks_file(&path, &vars(&[])).unwrap();
    assert_eq!(
        webhooks[0].extra_root_certificates,
        vec![made.cert.der().to_vec()]
    );
}

#[test]
fn bad_settings_are_refused_with_a_reason() {
    // An unknown log format and a secret without a URL are flags' mistakes: the binary
    // refuses them (workbus-server's `binary.rs` and `binary_keeps_secrets_and_fails_clearly.rs`).
    let err = |hook: WebhookConfig| {
        SubscribersConfig::none()
            .webhook(hook)
            .validate()
            .unwrap_err()
    };
    assert!(matches!(
        err(hook("http://x/", Some("whsec_not base64!"))),
        Error::InvalidSecret { .. }
    ));
    assert!(matches!(
        err(hook("ftp://x/", None)),
        Error::InvalidUrl { .. }
    ));
    // awc is built with rustls: https targets are accepted.
    let https = SubscribersConfig::none().webhook(hook("https://hooks.example.com/x", None));
    https.validate().expect("an https URL is accepted");
    assert_eq!(https.webhooks[0].url, "https://hooks.example.com/x");
    assert!(matches!(
        webhooks_file("/nonexistent/hooks.json".as_ref(), &vars(&[])).unwrap_err(),
        Error::ConfigRead { .. }
    ));
}
