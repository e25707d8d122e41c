//! Real https delivery: a target serving TLS on 127.0.0.1 with a certificate
//! made at test time (rcgen, self-signed, so no web PKI root vouches for it)
//! gets every event, signed, once the webhook trusts that certificate through
//! `WebhookConfig::root_certificates_pem`; a webhook that does not trust it
//! never reaches the handler: the handshake fails and the events go to the
//! dead-letter sink. The SSRF guard is off (the default), as for every
//! loopback target of these tests.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use prometheus_parse::{Scrape, Value};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use support::{signature_verifies, Recorder, Reply, Target};
use workbus_core::{Bus, CreatePool};
use workbus_subscribers::webhook::{DeadLetter, DeadLetterSink, RetryPolicy, WebhookConfig};
use workbus_subscribers::{install, Feed, Guarded, SubscribersConfig};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A self-signed certificate for 127.0.0.1 and localhost, as PEM, and the
/// server's TLS settings with it (ring, as the webhook client uses).
fn tls_target() -> (String, rustls::ServerConfig) {
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
        .expect("a self-signed certificate");
    let cert: CertificateDer<'static> = made.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("the certificate and its key");
    (made.cert.pem(), config)
}

#[derive(Default)]
struct Letters(Arc<Mutex<Vec<DeadLetter>>>);

impl Actor for Letters {
    type Context = Context<Self>;
}

impl Handler<DeadLetter> for Letters {
    type Result = ();
    fn handle(&mut self, letter: DeadLetter, _: &mut Context<Self>) {
        self.0.lock().unwrap().push(letter);
    }
}

#[actix_rt::test]
async fn events_arrive_over_https_signed_when_the_webhook_trusts_the_certificate() {
    let (pem, tls) = tls_target();
    let target = Target::start_https(tls, |_, _| Reply::Status(200));
    assert!(
        target.url.starts_with("https://127.0.0.1:"),
        "{}",
        target.url
    );
    // A second target with a certificate of its own, for a webhook that trusts only the first.
    let (_, other_tls) = tls_target();
    let untrusted_target = Target::start_https(other_tls, |_, _| Reply::Status(200));
    let letters = Arc::new(Mutex::new(Vec::new()));
    let letters_actor = Letters(letters.clone()).start();

    let bus = Bus::start();
    let recorder = Recorder::default();
    let rec = Guarded::subscribe(&bus, "recorder", recorder.clone(), Feed::default())
        .await
        .unwrap();
    let mut config = SubscribersConfig::none();
    config.metrics = Some(Default::default());
    config.webhooks = vec![
        WebhookConfig::new("trusting", &target.url)
            .secret(SECRET)
            .root_certificates_pem(&pem)
            .expect("the PEM parses"),
        // It trusts a certificate, but not the one its target serves.
        WebhookConfig::new("untrusting", &untrusted_target.url)
            .root_certificates_pem(&pem)
            .expect("the PEM parses")
            .timeout(Duration::from_secs(2))
            .retry(RetryPolicy {
                max_attempts: 2,
                initial_backoff: Duration::from_millis(5),
                max_backoff: Duration::from_millis(20),
                ..RetryPolicy::default()
            })
            .dead_letter(DeadLetterSink::Recipient(letters_actor.recipient())),
    ];
    let subscribers = install(&bus, config).await.unwrap();
    let metrics = subscribers.metrics().unwrap().clone();

    bus.create_pool(CreatePool::new("tls", "process"))
        .await
        .unwrap();
    subscribers.shutdown().await;
    rec.shutdown().await;
    let events = recorder.events();
    assert!(!events.is_empty(), "creating a pool emits events");

    // Trusted: every event arrived on its first attempt, its JSON intact, its signature valid.
    let accepted = target.accepted();
    assert_eq!(accepted.len(), events.len(), "{accepted:?}");
    assert_eq!(target.requests().len(), events.len(), "no retries");
    for (event, got) in events.iter().zip(&accepted) {
        assert_eq!(got.id, event.id.to_string());
        assert_eq!(got.attempt, 1);
        assert_eq!(&got.body[..], event.json());
        assert!(signature_verifies(SECRET, got), "{got:?}");
    }

    // Not trusted: the handshake fails, no request reaches the handler, the events are dead letters.
    assert!(untrusted_target.requests().is_empty());
    tokio::time::sleep(Duration::from_millis(20)).await;
    let got = letters.lock().unwrap().clone();
    assert_eq!(got.len(), events.len());
    for letter in &got {
        assert_eq!(&*letter.webhook, "untrusting");
        assert_eq!(letter.attempts, 2);
    }

    let scrape = Scrape::parse(metrics.render().lines().map(|l| Ok(l.to_owned()))).unwrap();
    let requests = |webhook: &str, outcome: &str| {
        scrape
            .samples
            .iter()
            .find(|s| {
                s.metric == "workbus_webhook_requests_total"
                    && s.labels.get("webhook") == Some(webhook)
                    && s.labels.get("outcome") == Some(outcome)
            })
            .map(|s| match s.value {
                Value::Counter(v) => v,
                _ => panic!("requests is a counter"),
            })
    };
    assert_eq!(requests("trusting", "success"), Some(events.len() as f64));
    assert_eq!(
        requests("untrusting", "connect_error"),
        Some(2.0 * events.len() as f64)
    );

    target.stop().await;
    untrusted_target.stop().await;
}
