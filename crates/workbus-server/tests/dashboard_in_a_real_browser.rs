//! The dashboard in Debian's chromium, headless, against a real server on
//! 127.0.0.1: the page lists the seeded pools; a pool paused through the API
//! turns PAUSED on the page, a worker that stops heartbeating goes offline and
//! its pool turns NOT_READY, an automation's firing is counted, all without a
//! reload; with auth on, the page asks for the auth string and then shows the
//! pools. Screenshots go to `target/dashboard/` (and to `docs/img/` with
//! `WORKBUS_UPDATE_SCREENSHOTS=1`).
//!
//! Needs chromium: `.ci/run` installs it (`apt-get install chromium`) and runs
//! this test with `--ignored`.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::browser::Browser;
use common::TestServer;
use serde_json::json;
use workbus_server::ServerConfig;

const LIMIT: Duration = Duration::from_secs(15);

fn save(name: &str, png: &[u8]) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = root.join("target/dashboard");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), png).unwrap();
    if std::env::var("WORKBUS_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
        std::fs::write(root.join("docs/img").join(name), png).unwrap();
    }
}

fn row_status(pool: &str, status: &str) -> String {
    format!(
        r#"[...document.querySelectorAll('#pools .row')].some(r => r.dataset.pool === "{pool}" && r.querySelector('.status').textContent === "{status}")"#
    )
}

#[actix_rt::test]
#[ignore = "needs Debian's chromium: .ci/run installs it and runs this test"]
async fn the_page_follows_the_fleet_live() {
    let t = TestServer::start().await;
    for (name, kind) in [
        ("etl", "process"),
        ("ml", "docker"),
        ("reports", "kubernetes"),
    ] {
        let (s, _) = t
            .post("/api/work_pools/", json!({"name": name, "type": kind}))
            .await;
        assert_eq!(s.as_u16(), 201);
    }
    t.post(
        "/api/work_pools/etl/queues",
        json!({"name": "high", "priority": 1}),
    )
    .await;
    let (s, _) = t
        .post(
            "/api/work_pools/etl/workers/heartbeat",
            json!({"name": "worker-1", "heartbeat_interval_seconds": 1}),
        )
        .await;
    assert_eq!(s.as_u16(), 204);
    t.post("/api/work_pools/etl/get_scheduled_flow_runs", json!({}))
        .await;
    let (s, _) = t
        .post(
            "/api/automations/",
            json!({"name": "pause on not ready", "trigger": {"posture": "Reactive", "expect": ["prefect.work-pool.not-ready"], "threshold": 1, "within": 0},
                   "actions": [{"type": "do-nothing"}]}),
        )
        .await;
    assert_eq!(s.as_u16(), 201);

    let mut b = Browser::start().await;
    let page = b.open(&t.url("/")).await;
    b.wait_for(
        &page,
        "the seeded pools",
        &row_status("etl", "READY"),
        LIMIT,
    )
    .await;
    b.wait_for(
        &page,
        "every pool",
        &row_status("reports", "NOT_READY"),
        LIMIT,
    )
    .await;
    b.eval(&page, "window.__same_page = true").await;
    b.eval(
        &page,
        r#"document.querySelector('#pools .row[data-pool="etl"]').click()"#,
    )
    .await;
    b.wait_for(
        &page,
        "the pool's queue and worker",
        "!!document.querySelector('#queues') && document.querySelector('#workers').textContent.includes('worker-1')",
        LIMIT,
    )
    .await;
    save("dashboard.png", &b.screenshot(&page).await);

    // A change through the API reaches the page through the events websocket.
    let (s, _) = t
        .patch("/api/work_pools/ml", json!({"is_paused": true}))
        .await;
    assert_eq!(s.as_u16(), 204);
    b.wait_for(&page, "ml paused", &row_status("ml", "PAUSED"), LIMIT)
        .await;

    // worker-1 heartbeats every second: silent for 3, it is offline and etl is not ready.
    b.wait_for(
        &page,
        "etl not ready",
        &row_status("etl", "NOT_READY"),
        LIMIT,
    )
    .await;
    b.wait_for(
        &page,
        "worker-1 offline",
        "document.querySelector('#workers').textContent.includes('OFFLINE')",
        LIMIT,
    )
    .await;
    b.wait_for(
        &page,
        "the automation's firing",
        "document.querySelector('#automations tbody').textContent.includes('ago')",
        LIMIT,
    )
    .await;
    assert_eq!(
        b.eval(&page, "window.__same_page === true").await,
        json!(true),
        "no reload: the page's own state is still there"
    );
    b.eval(&page, "document.querySelectorAll('#events li')[0].click()")
        .await;
    save("dashboard-live.png", &b.screenshot(&page).await);
}

#[actix_rt::test]
#[ignore = "needs Debian's chromium: .ci/run installs it and runs this test"]
async fn with_auth_on_the_page_asks_for_the_string() {
    let mut cfg = ServerConfig::loopback();
    cfg.api_auth_string = Some("admin:s3cret".into());
    let t = TestServer::with(cfg).await.login("admin", "s3cret");
    let (s, _) = t
        .post(
            "/api/work_pools/",
            json!({"name": "guarded", "type": "process"}),
        )
        .await;
    assert_eq!(s.as_u16(), 201);

    let mut b = Browser::start().await;
    let page = b.open(&t.url("/ui")).await;
    b.wait_for(
        &page,
        "the sign-in prompt",
        "document.querySelector('#login').open",
        LIMIT,
    )
    .await;
    save("dashboard-login.png", &b.screenshot(&page).await);
    b.eval(
        &page,
        r#"document.querySelector('#token').value = 'wrong'; document.querySelector('#login-button').click()"#,
    )
    .await;
    b.wait_for(&page, "the refusal", "document.querySelector('#login').open && document.querySelector('#login-error').textContent.includes('refused')", LIMIT)
        .await;
    b.eval(
        &page,
        r#"document.querySelector('#token').value = 'admin:s3cret'; document.querySelector('#login-button').click()"#,
    )
    .await;
    b.wait_for(
        &page,
        "the pools",
        &row_status("guarded", "NOT_READY"),
        LIMIT,
    )
    .await;
    b.wait_for(
        &page,
        "the live stream",
        "document.querySelector('#live').textContent === 'live'",
        LIMIT,
    )
    .await;
}

#[actix_rt::test]
#[ignore = "needs Debian's chromium: .ci/run installs it and runs this test"]
async fn thousands_of_pools_scroll_without_a_freeze() {
    const POOLS: usize = 5_000;
    let t = TestServer::start().await;
    let bus = t.server.bus().clone();
    for i in 0..POOLS {
        bus.create_pool(workbus_core::CreatePool::new(
            format!("pool-{i:05}"),
            "process",
        ))
        .await
        .unwrap();
    }
    let mut b = Browser::start().await;
    let page = b.open(&t.url("/")).await;
    b.wait_for(
        &page,
        "every pool counted",
        &format!("document.querySelector('#counts').textContent === '{POOLS} pools'"),
        LIMIT,
    )
    .await;
    let rows = b
        .eval(&page, "document.querySelectorAll('#pools .row').length")
        .await;
    assert!(
        rows.as_u64().unwrap() < 100,
        "only the rows in view are in the page: {rows}"
    );
    b.eval(
        &page,
        "const s = document.querySelector('#pools'); s.scrollTop = s.scrollHeight; s.dispatchEvent(new Event('scroll'))",
    )
    .await;
    b.wait_for(
        &page,
        "the last pool after a scroll",
        &row_status(&format!("pool-{:05}", POOLS - 1), "NOT_READY"),
        LIMIT,
    )
    .await;
    // The page answers at once while it holds them all.
    let start = std::time::Instant::now();
    b.eval(&page, "document.querySelector('#pool-search').value = 'pool-0424'; document.querySelector('#pool-search').dispatchEvent(new Event('input'))")
        .await;
    b.wait_for(
        &page,
        "the search",
        "document.querySelectorAll('#pools .row').length === 10",
        LIMIT,
    )
    .await;
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}
