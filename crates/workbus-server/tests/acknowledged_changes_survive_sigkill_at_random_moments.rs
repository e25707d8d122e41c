//! Clients write while the server is killed with SIGKILL at a random moment,
//! round after round on the same data directory. After each restart every
//! change a client was answered for is there, and the history holds no event
//! without its change, nor a change without its event.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::child;
use serde_json::{json, Value};

async fn post(c: &awc::Client, url: String, body: Value) -> Option<u16> {
    let resp = c.post(url).send_json(&body).await.ok()?;
    Some(resp.status().as_u16())
}

async fn get_json(c: &awc::Client, url: String, body: Option<Value>) -> Value {
    let mut resp = match body {
        Some(b) => c.post(url).send_json(&b).await,
        None => c.get(url).send().await,
    }
    .expect("request");
    let bytes = resp.body().limit(1 << 24).await.expect("body");
    serde_json::from_slice(&bytes).expect("JSON")
}

/// Every event of the history with this name, through the pages.
async fn events_named(s: &child::Running, c: &awc::Client, name: &str) -> Vec<Value> {
    let mut page = get_json(
        c,
        s.url("/api/events/filter"),
        Some(json!({"filter": {"event": {"name": [name]}}, "limit": 50})),
    )
    .await;
    let mut out = Vec::new();
    loop {
        out.extend(page["events"].as_array().unwrap().iter().cloned());
        let Some(next) = page["next_page"].as_str() else {
            return out;
        };
        let next = next.split("/api").nth(1).unwrap().to_owned();
        page = get_json(c, s.url(&format!("/api{next}")), None).await;
    }
}

#[derive(Default)]
struct Acked {
    pools: BTreeSet<String>,
    queues: BTreeSet<String>,
    workers: BTreeSet<String>,
}

#[actix_rt::test]
async fn nothing_acknowledged_is_lost_and_nothing_is_half_written() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let c = awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish();
    let acked = Arc::new(Mutex::new(Acked::default()));
    let mut rng = fastrand::Rng::with_seed(13);
    let rounds = 8;
    // The history the check reads must hold every round's events: eight rounds on a
    // fast run pass the default 10,000 (about six events a pool), and the oldest leave it.
    let env = [
        ("WORKBUS_DATA_DIR", data.as_str()),
        ("WORKBUS_EVENT_HISTORY", "1000000"),
    ];
    for round in 0..rounds {
        let s = child::start(&env);
        let base = s.url("");
        let writers: Vec<_> = (0..6)
            .map(|t| {
                let (base, c, acked) = (base.clone(), c.clone(), acked.clone());
                let url = move |path: &str| format!("{base}{path}");
                actix_rt::spawn(async move {
                    for i in 0.. {
                        let pool = format!("p{round}-{t}-{i}");
                        let body = json!({"name": pool, "type": "process",
                                          "base_job_template": {"n": i}});
                        if post(&c, url("/api/work_pools"), body).await != Some(201) {
                            return;
                        }
                        acked.lock().unwrap().pools.insert(pool.clone());
                        let queues = url(&format!("/api/work_pools/{pool}/queues"));
                        if post(&c, queues, json!({"name": "q", "priority": 1})).await != Some(201)
                        {
                            return;
                        }
                        acked.lock().unwrap().queues.insert(pool.clone());
                        let beat = url(&format!("/api/work_pools/{pool}/workers/heartbeat"));
                        if post(&c, beat, json!({"name": "w"})).await != Some(204) {
                            return;
                        }
                        acked.lock().unwrap().workers.insert(pool.clone());
                    }
                })
            })
            .collect();
        actix_rt::time::sleep(Duration::from_millis(rng.u64(150..700))).await;
        // SIGKILL, mid-write.
        drop(s);
        for w in writers {
            let _ = w.await;
        }
        let s = child::start(&env);
        let a = std::mem::take(&mut *acked.lock().unwrap());
        // Every pool, 200 a page.
        let mut pools = Vec::new();
        loop {
            let body = json!({"limit": 200, "offset": pools.len()});
            let page = get_json(&c, s.url("/api/work_pools/filter"), Some(body)).await;
            let page = page.as_array().unwrap().clone();
            if page.is_empty() {
                break;
            }
            pools.extend(page);
        }
        let names: BTreeSet<String> = pools
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect();
        let lost: Vec<_> = a.pools.difference(&names).collect();
        assert!(
            lost.is_empty(),
            "round {round}: pools acknowledged and lost: {lost:?}"
        );
        for pool in &a.queues {
            let q = get_json(&c, s.url(&format!("/api/work_pools/{pool}/queues/q")), None).await;
            assert_eq!(q["name"], "q", "round {round}: queue of {pool} lost: {q}");
            assert_eq!(q["priority"], 1);
        }
        for pool in &a.workers {
            let url = s.url(&format!("/api/work_pools/{pool}/workers/filter"));
            let w = get_json(&c, url, Some(json!({}))).await;
            assert_eq!(w[0]["name"], "w", "round {round}: worker of {pool} lost");
        }
        // The history and the state agree, both ways.
        let created: BTreeSet<String> = events_named(&s, &c, "prefect.work-pool.created")
            .await
            .iter()
            .map(|e| {
                e["resource"]["prefect.resource.name"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(
            created, names,
            "round {round}: pools and their created events differ"
        );
        let ready: BTreeSet<String> = events_named(&s, &c, "prefect.work-pool.ready")
            .await
            .iter()
            .map(|e| {
                e["resource"]["prefect.resource.name"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        for p in &pools {
            let name = p["name"].as_str().unwrap();
            assert_eq!(
                p["status"] == "READY",
                ready.contains(name),
                "round {round}: {name} is {} but its ready event is {}",
                p["status"],
                if ready.contains(name) {
                    "there"
                } else {
                    "missing"
                }
            );
        }
        eprintln!(
            "round {round}: {} pools, {} queues, {} workers acknowledged; {} pools stored",
            a.pools.len(),
            a.queues.len(),
            a.workers.len(),
            names.len()
        );
    }
}
