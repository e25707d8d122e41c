//! `SubscribersConfig::from_vars`: the environment variables the server
//! passes on, and a file of several webhooks.

use std::collections::HashMap;
use std::time::Duration;

use workbus_subscribers::logger::{JsonTarget, LogOutput};
use workbus_subscribers::webhook::DeadLetterSink;
use workbus_subscribers::{Error, LogFormat, SubscribersConfig};

fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

#[test]
fn nothing_set_gives_the_pretty_logger_and_the_metrics() {
    let c = SubscribersConfig::from_vars(vars(&[])).unwrap();
    assert_eq!(c.log_format, LogFormat::Pretty);
    assert!(matches!(c.logger.unwrap().output, LogOutput::Tracing));
    assert!(c.metrics.is_some());
    assert!(c.webhooks.is_empty());
}

#[test]
fn url_secret_and_json_logs_from_the_environment() {
    let c = SubscribersConfig::from_vars(vars(&[
        ("WORKBUS_WEBHOOK_URL", "http://127.0.0.1:9/hook"),
        ("WORKBUS_WEBHOOK_SECRET", "whsec_c2VjcmV0"),
        ("WORKBUS_LOG_FORMAT", "JSON"),
        ("WORKBUS_LOG_FILE", "/tmp/events.jsonl"),
    ]))
    .unwrap();
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
    let c = SubscribersConfig::from_vars(vars(&[
        ("WORKBUS_WEBHOOKS_FILE", path.to_str().unwrap()),
        ("OPS_SECRET", "whsec_b3Bz"),
    ]))
    .unwrap();
    assert_eq!(c.webhooks.len(), 2);
    let ops = &c.webhooks[0];
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
    assert_eq!(c.webhooks[1].name, "webhook-2");
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
    let err =
        SubscribersConfig::from_vars(vars(&[("WORKBUS_WEBHOOKS_FILE", path.to_str().unwrap())]))
            .unwrap_err();
    assert!(
        matches!(&err, Error::ConfigRead { path, .. } if path.ends_with("missing.pem")),
        "{err:?}"
    );

    let hooks = serde_json::json!({"webhooks": [
        {"url": "https://hooks.internal/hook", "root_certificates_file": ca},
    ]});
    std::fs::write(&path, hooks.to_string()).unwrap();
    let c =
        SubscribersConfig::from_vars(vars(&[("WORKBUS_WEBHOOKS_FILE", path.to_str().unwrap())]))
            .unwrap();
    assert_eq!(
        c.webhooks[0].extra_root_certificates,
        vec![made.cert.der().to_vec()]
    );
}

#[test]
fn bad_settings_are_refused_with_a_reason() {
    let err = |pairs: &[(&str, &str)]| SubscribersConfig::from_vars(vars(pairs)).unwrap_err();
    assert!(matches!(
        err(&[("WORKBUS_LOG_FORMAT", "xml")]),
        Error::InvalidSetting { .. }
    ));
    assert!(matches!(
        err(&[("WORKBUS_WEBHOOK_SECRET", "whsec_c2VjcmV0")]),
        Error::InvalidSetting { .. }
    ));
    assert!(matches!(
        err(&[
            ("WORKBUS_WEBHOOK_URL", "http://x/"),
            ("WORKBUS_WEBHOOK_SECRET", "whsec_not base64!")
        ]),
        Error::InvalidSecret { .. }
    ));
    assert!(matches!(
        err(&[("WORKBUS_WEBHOOK_URL", "ftp://x/")]),
        Error::InvalidUrl { .. }
    ));
    // awc is built with rustls: https targets are accepted.
    let https = SubscribersConfig::from_vars(vars(&[(
        "WORKBUS_WEBHOOK_URL",
        "https://hooks.example.com/x",
    )]))
    .expect("an https URL is accepted");
    assert_eq!(https.webhooks[0].url, "https://hooks.example.com/x");
    assert!(matches!(
        err(&[("WORKBUS_WEBHOOKS_FILE", "/nonexistent/hooks.json")]),
        Error::ConfigRead { .. }
    ));
}
