//! Three `workbus` processes in one fleet (WORKBUS_CLUSTER, the real NATS at
//! 127.0.0.1:4222): every node serves every pool; a node killed with SIGKILL,
//! or paused with SIGSTOP past its lease, loses its pools to the others
//! within 10 s with everything acknowledged intact, and events are seen once
//! per node, without a contradictory status event.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use common::child;
use serde_json::{json, Value};

const POOLS: usize = 12;

struct Fleet {
    tag: String,
    nodes: Vec<Option<child::Running>>,
    http: awc::Client,
}

impl Fleet {
    fn start(names: &[&str]) -> Fleet {
        let (tag, nodes) = child::start_fleet(names);
        Fleet {
            tag,
            nodes,
            http: awc::Client::builder()
                .timeout(Duration::from_secs(15))
                .finish(),
        }
    }

    fn node(&self, i: usize) -> &child::Running {
        self.nodes[i].as_ref().expect("a live node")
    }

    fn live(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|i| self.nodes[*i].is_some())
            .collect()
    }

    async fn call(&self, i: usize, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        child::call(&self.http, method, self.node(i).url(path), body).await
    }

    async fn wait_metric(&self, what: &str, ok: impl Fn(&[f64]) -> bool, name: &str) -> Duration {
        let start = Instant::now();
        loop {
            let mut values = Vec::new();
            for i in self.live() {
                values.push(self.node(i).metric(name).await);
            }
            if ok(&values) {
                return start.elapsed();
            }
            if start.elapsed() >= Duration::from_secs(10) {
                for i in self.live() {
                    for l in self.node(i).lines.lock().unwrap().iter() {
                        if l.contains("fleet")
                            || l.contains("lease")
                            || l.contains("member")
                            || l.contains("WARN")
                            || l.contains("panic")
                            || l.contains("ERROR")
                        {
                            eprintln!("node {i}: {l}");
                        }
                    }
                }
                panic!("{what}: {name} {values:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every pool as each live node reads it: pool, queue names, worker names and statuses.
    async fn read_all(&self, i: usize) -> Vec<Value> {
        let mut out = Vec::new();
        for p in 0..POOLS {
            let name = format!("pool-{p}");
            let (s, pool) = self
                .call(i, "GET", &format!("/api/work_pools/{name}"), None)
                .await;
            assert_eq!(s, 200, "{name} on node {i}: {pool}");
            let (_, queues) = self
                .call(
                    i,
                    "POST",
                    &format!("/api/work_pools/{name}/queues/filter"),
                    Some(json!({})),
                )
                .await;
            let (_, workers) = self
                .call(
                    i,
                    "POST",
                    &format!("/api/work_pools/{name}/workers/filter"),
                    Some(json!({})),
                )
                .await;
            let names = |v: &Value, f: &str| -> Vec<Value> {
                v.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| json!([x["name"], x[f]]))
                    .collect()
            };
            out.push(json!({"pool": pool, "queues": names(&queues, "priority"),
                            "workers": names(&workers, "status")}));
        }
        out
    }

    /// The status events of every pool in node `i`'s history, by pool, in order.
    async fn status_events(&self, i: usize) -> HashMap<String, Vec<String>> {
        let filter = json!({"event": {"prefix": ["prefect.work-pool.ready", "prefect.work-pool.not-ready", "prefect.work-pool.paused"]},
                            "order": "ASC"});
        let (s, mut page) = self
            .call(
                i,
                "POST",
                "/api/events/filter",
                Some(json!({"filter": filter, "limit": 50})),
            )
            .await;
        assert_eq!(s, 200, "{page}");
        let mut events: Vec<Value> = page["events"].as_array().cloned().unwrap_or_default();
        while let Some(next) = page["next_page"].as_str().map(str::to_owned) {
            let path = next
                .split_once("/api/")
                .map(|(_, p)| format!("/api/{p}"))
                .unwrap();
            page = self.call(i, "GET", &path, None).await.1;
            events.extend(page["events"].as_array().cloned().unwrap_or_default());
        }
        let ids: HashSet<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), events.len(), "node {i} holds an event twice");
        let mut by_pool: HashMap<String, Vec<String>> = HashMap::new();
        for e in &events {
            by_pool
                .entry(
                    e["resource"]["prefect.resource.name"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                )
                .or_default()
                .push(e["event"].as_str().unwrap().to_owned());
        }
        by_pool
    }

    /// Starts the nodes, waits until they meet, and populates the fleet.
    async fn populated(names: &[&str]) -> Fleet {
        let fleet = Fleet::start(names);
        fleet
            .wait_metric(
                "the nodes to meet",
                |v| v.iter().all(|m| *m == names.len() as f64),
                "workbus_cluster_members",
            )
            .await;
        fleet.populate().await;
        fleet
    }

    /// Creates the pools through node 0, a worker each through node 1, a queue each through node 2.
    async fn populate(&self) {
        for p in 0..POOLS {
            let name = format!("pool-{p}");
            let steps = [
                (
                    0,
                    "/api/work_pools".to_owned(),
                    json!({"name": name, "type": "process"}),
                    201,
                ),
                (
                    1,
                    format!("/api/work_pools/{name}/workers/heartbeat"),
                    json!({"name": "w", "heartbeat_interval_seconds": 60}),
                    204,
                ),
                (
                    2,
                    format!("/api/work_pools/{name}/queues"),
                    json!({"name": "high", "priority": 1}),
                    201,
                ),
            ];
            for (node, path, body, want) in steps {
                let (s, body) = self.call(node, "POST", &path, Some(body)).await;
                assert_eq!(s, want, "{path}: {body}");
            }
        }
    }

    async fn the_busiest(&self) -> usize {
        let mut held = Vec::new();
        for i in 0..self.nodes.len() {
            held.push(self.node(i).metric("workbus_cluster_pools_held").await);
        }
        assert_eq!(held.iter().sum::<f64>(), POOLS as f64, "{held:?}");
        (0..held.len())
            .max_by(|a, b| held[*a].total_cmp(&held[*b]))
            .unwrap()
    }

    async fn clean(&self) {
        child::clean_fleet(&self.tag).await;
    }
}

fn signal(node: &child::Running, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &node.child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

/// Each pool's status events: created not ready, then ready once its worker
/// came; nothing more (a takeover is silent).
fn assert_one_story(by_pool: &HashMap<String, Vec<String>>) {
    assert_eq!(by_pool.len(), POOLS, "{by_pool:?}");
    for (pool, events) in by_pool {
        assert_eq!(
            events,
            &["prefect.work-pool.not-ready", "prefect.work-pool.ready"],
            "{pool}"
        );
    }
}

#[actix_rt::test]
async fn any_node_serves_any_pool_and_a_killed_nodes_pools_move() {
    let mut fleet = Fleet::populated(&["a", "b", "c"]).await;
    let seen = fleet.read_all(0).await;
    for i in 1..3 {
        assert_eq!(fleet.read_all(i).await, seen, "node {i} answers otherwise");
    }
    assert!(seen.iter().all(|p| p["pool"]["status"] == "READY"));

    let victim = fleet.the_busiest().await;
    fleet.nodes[victim] = None; // SIGKILL, and reaped
    let moved = fleet
        .wait_metric(
            "the survivors to hold every pool",
            |v| v.iter().sum::<f64>() == POOLS as f64,
            "workbus_cluster_pools_held",
        )
        .await;
    eprintln!("every pool held by the survivors {moved:?} after SIGKILL");
    for i in fleet.live() {
        assert_eq!(fleet.read_all(i).await, seen, "node {i} lost something");
        assert_one_story(&fleet.status_events(i).await);
    }
    fleet.clean().await;
}

#[actix_rt::test]
async fn a_node_paused_past_its_lease_cannot_write_its_old_pools() {
    let mut fleet = Fleet::populated(&["a", "b", "c"]).await;
    let victim = fleet.the_busiest().await;
    eprintln!("pausing node {victim}");
    let paused = fleet.nodes[victim].take().unwrap();
    signal(&paused, "-STOP");
    fleet
        .wait_metric(
            "the others to hold every pool",
            |v| v.iter().sum::<f64>() == POOLS as f64,
            "workbus_cluster_pools_held",
        )
        .await;
    // The fleet moves on without it: every pool paused through a survivor.
    let other = fleet.live()[0];
    for p in 0..POOLS {
        let (s, body) = fleet
            .call(
                other,
                "PATCH",
                &format!("/api/work_pools/pool-{p}"),
                Some(json!({"is_paused": true})),
            )
            .await;
        assert_eq!(s, 204, "{body}");
    }
    signal(&paused, "-CONT");
    fleet.nodes[victim] = Some(paused);
    // It wakes, finds its lease lapsed, lets its pools go and joins again;
    // the pools it owns come back to it, and nothing it held is written back.
    fleet
        .wait_metric(
            "the woken node to lapse",
            |v| v[victim] >= 1.0,
            "workbus_cluster_leases_lapsed_total",
        )
        .await;
    fleet
        .wait_metric(
            "the nodes to meet again",
            |v| v.iter().all(|m| *m == 3.0),
            "workbus_cluster_members",
        )
        .await;
    fleet
        .wait_metric(
            "every pool held once",
            |v| v.iter().sum::<f64>() == POOLS as f64,
            "workbus_cluster_pools_held",
        )
        .await;
    for i in 0..3 {
        for p in fleet.read_all(i).await {
            assert_eq!(p["pool"]["status"], "PAUSED", "node {i}: {p}");
            assert_eq!(p["pool"]["is_paused"], true, "node {i}: {p}");
        }
        // Its bridge reads what the others emitted while it slept: once each, in order.
        let want = [
            "prefect.work-pool.not-ready",
            "prefect.work-pool.ready",
            "prefect.work-pool.paused",
        ];
        let start = Instant::now();
        loop {
            let by_pool = fleet.status_events(i).await;
            let done = by_pool.len() == POOLS && by_pool.values().all(|e| e.len() >= want.len());
            if done || start.elapsed() > Duration::from_secs(10) {
                assert_eq!(by_pool.len(), POOLS, "node {i}: {by_pool:?}");
                for (pool, events) in &by_pool {
                    assert_eq!(events, &want, "node {i}, {pool}");
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    fleet.clean().await;
}
