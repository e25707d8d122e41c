//! The work-pool state machine, one test per row of the spec's table, asserting whole events.

mod support;

use std::time::Duration;

use serde_json::json;
use support::*;
use workbus_core::{BusConfig, CreatePool, EventFilter, PoolUpdate, Status};

fn cfg() -> BusConfig {
    BusConfig::default()
}

#[test]
fn create_emits_default_queue_created_then_pool_created_then_not_ready() {
    paused(|| async {
        let bus = bus_at_t0(cfg());
        let seen = collect(&bus, EventFilter::all()).await;
        let pool = bus
            .create_pool(CreatePool::new("etl", "process"))
            .await
            .unwrap();
        settle(&bus).await;
        let events = seen.events();
        assert_eq!(events.len(), 3);
        let q = pool.default_queue_id;
        assert_json(
            &events[0],
            json!({
                "occurred": T0, "event": "prefect.work-queue.created",
                "resource": queue_labels(q, "default"),
                "related": [pool_labels(pool.id, "etl", "process", true)],
            }),
        );
        assert_json(
            &events[1],
            json!({
                "occurred": T0, "event": "prefect.work-pool.created",
                "resource": pool_labels(pool.id, "etl", "process", true),
                "related": [{"prefect.resource.id": format!("prefect.work-queue.{q}"),
                             "prefect.resource.role": "default-queue"}],
            }),
        );
        assert_json(
            &events[2],
            json!({"occurred": T0, "event": "prefect.work-pool.not-ready",
                   "resource": pool_labels(pool.id, "etl", "process", false)}),
        );
        assert_eq!(pool.status, Some(Status::NotReady));
    });
}

#[test]
fn create_paused_emits_paused() {
    paused(|| async {
        let bus = bus_at_t0(cfg());
        let seen = collect(&bus, EventFilter::prefix(["prefect.work-pool."])).await;
        let pool = bus
            .create_pool(CreatePool::new("etl", "process").paused())
            .await
            .unwrap();
        settle(&bus).await;
        assert_eq!(
            seen.names(),
            ["prefect.work-pool.created", "prefect.work-pool.paused"]
        );
        assert_eq!(pool.status, Some(Status::Paused));
        assert!(pool.is_paused);
    });
}

#[test]
fn create_with_result_storage_relates_the_block() {
    paused(|| async {
        let bus = bus_at_t0(cfg());
        let seen = collect(&bus, EventFilter::prefix(["prefect.work-pool.created"])).await;
        let block = uuid::Uuid::new_v4();
        let mut req = CreatePool::new("etl", "process");
        req.storage_configuration.default_result_storage_block_id = Some(block);
        let pool = bus.create_pool(req).await.unwrap();
        settle(&bus).await;
        let related = seen.json()[0]["related"].clone();
        assert_eq!(
            related,
            json!([
                {"prefect.resource.id": format!("prefect.work-queue.{}", pool.default_queue_id),
                 "prefect.resource.role": "default-queue"},
                {"prefect.resource.id": format!("prefect.block-document.{block}"),
                 "prefect.resource.role": "result-storage"},
            ])
        );
    });
}

#[test]
fn heartbeat_makes_not_ready_pool_ready_following_the_creation_status() {
    paused(|| async {
        let bus = bus_at_t0(cfg());
        let seen = collect(&bus, EventFilter::prefix(["prefect.work-pool."])).await;
        let pool = bus
            .create_pool(CreatePool::new("etl", "process"))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
        bus.heartbeat("etl", "w1").await.unwrap();
        settle(&bus).await;
        let events = seen.events();
        assert_eq!(events.len(), 3);
        assert_json(
            &events[2],
            json!({"occurred": at(5.0), "event": "prefect.work-pool.ready",
                   "resource": pool_labels(pool.id, "etl", "process", false),
                   "follows": events[1].id.to_string()}),
        );
        assert_eq!(bus.pool("etl").await.unwrap().status, Some(Status::Ready));
    });
}

#[test]
fn heartbeat_on_ready_pool_emits_nothing() {
    paused(|| async {
        let bus = bus_at_t0(cfg());
        bus.create_pool(CreatePool::new("etl", "process"))
            .await
            .unwrap();
        bus.heartbeat("etl", "w1").await.unwrap();
        let seen = collect(&bus, EventFilter::all()).await;
        bus.heartbeat("etl", "w1").await.unwrap();
        bus.heartbeat("etl", "w2").await.unwrap();
        settle(&bus).await;
        assert!(seen.names().is_empty());
    });
}

#[test]
fn heartbeat_on_paused_pool_emits_nothing_but_the_worker_is_online() {
    paused(|| async {
        let bus = bus_at_t0(cfg());
        bus.create_pool(CreatePool::new("etl", "process").paused())
            .await
            .unwrap();
        let seen = collect(&bus, EventFilter::all()).await;
        bus.heartbeat("etl", "w1").await.unwrap();
        settle(&bus).await;
        assert!(seen.names().is_empty());
        let workers = bus.workers("etl").await.unwrap();
        assert_eq!(workers[0].status, workbus_core::WorkerStatus::Online);
        assert_eq!(bus.pool("etl").await.unwrap().status, Some(Status::Paused));
    });
}

#[test]
fn last_worker_offline_makes_ready_pool_not_ready_at_the_deadline() {
    paused(|| async {
        let bus = bus_at_t0(cfg());
        let pool = bus
            .create_pool(CreatePool::new("etl", "process"))
            .await
            .unwrap();
        bus.heartbeat("etl", every("w1", 10)).await.unwrap();
        settle(&bus).await;
        let seen = collect(&bus, EventFilter::all()).await;
        // 10 s × 3: offline at 30 s exactly, not in a later sweep.
        tokio::time::sleep(Duration::from_millis(29_999)).await;
        settle(&bus).await;
        assert!(seen.names().is_empty());
        tokio::time::sleep(Duration::from_millis(1)).await;
        settle(&bus).await;
        let events = seen.events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event, "prefect.work-pool.not-ready");
        assert_eq!(events[0].occurred.to_string(), at(30.0));
        assert_eq!(
            events[0].resource.id(),
            format!("prefect.work-pool.{}", pool.id)
        );
        let workers = bus.workers("etl").await.unwrap();
        assert_eq!(workers[0].status, workbus_core::WorkerStatus::Offline);
        assert_eq!(bus.stats().workers_online(), 0);
    });
}

#[test]
fn pool_stays_ready_while_any_worker_is_online() {
    paused(|| async {
        let bus = bus_at_t0(cfg());
        bus.create_pool(CreatePool::new("etl", "process"))
            .await
            .unwrap();
        bus.heartbeat("etl", every("short", 1)).await.unwrap();
        bus.heartbeat("etl", every("long", 10)).await.unwrap();
        let seen = collect(&bus, EventFilter::all()).await;
        tokio::time::sleep(Duration::from_secs(29)).await;
        settle(&bus).await;
        assert!(seen.names().is_empty(), "long is still online");
        tokio::time::sleep(Duration::from_secs(1)).await;
        settle(&bus).await;
        assert_eq!(seen.names(), ["prefect.work-pool.not-ready"]);
        assert_eq!(seen.events()[0].occurred.to_string(), at(30.0));
    });
}

#[test]
fn fallback_interval_and_multiple_come_from_the_config() {
    paused(|| async {
        let bus = bus_at_t0(BusConfig {
            worker_inactivity_multiple: 2,
            fallback_heartbeat_interval: Duration::from_secs(5),
            ..cfg()
        });
        bus.create_pool(CreatePool::new("etl", "process"))
            .await
            .unwrap();
        bus.heartbeat("etl", "w1").await.unwrap();
        let seen = collect(&bus, EventFilter::all()).await;
        tokio::time::sleep(Duration::from_secs(11)).await;
        settle(&bus).await;
        assert_eq!(seen.events()[0].occurred.to_string(), at(10.0));
    });
}

#[test]
fn heartbeats_keep_the_worker_online() {
    paused(|| async {
        let bus = bus_at_t0(cfg());
        bus.create_pool(CreatePool::new("etl", "process"))
            .await
            .unwrap();
        let seen = collect(&bus, EventFilter::prefix(["prefect.work-pool.not-ready"])).await;
        for _ in 0..100 {
            bus.heartbeat("etl", every("w1", 1)).await.unwrap();
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        settle(&bus).await;
        assert!(seen.names().is_empty());
        tokio::time::sleep(Duration::from_secs(2)).await;
        settle(&bus).await;
        assert_eq!(seen.names().len(), 1);
    });
}

#[test]
fn deleting_the_last_online_worker_makes_ready_pool_not_ready() {
    paused(|| async {
        let bus = bus_at_t0(cfg());
        bus.create_pool(CreatePool::new("etl", "process"))
            .await
            .unwrap();
        bus.heartbeat("etl", "w1").await.unwrap();
        bus.heartbeat("etl", "w2").await.unwrap();
        let seen = collect(&bus, EventFilter::all()).await;
        bus.delete_worker("etl", "w1").await.unwrap();
        settle(&bus).await;
        assert!(seen.names().is_empty());
        bus.delete_worker("etl", "w2").await.unwrap();
        settle(&bus).await;
        assert_eq!(seen.names(), ["prefect.work-pool.not-ready"]);
        assert!(bus.workers("etl").await.unwrap().is_empty());
    });
}

#[test]
fn workers_timing_out_on_not_ready_or_paused_pools_emit_nothing() {
    paused(|| async {
        let bus = bus_at_t0(cfg());
        bus.create_pool(CreatePool::new("paused", "process").paused())
            .await
            .unwrap();
        bus.create_pool(CreatePool::new("idle", "process"))
            .await
            .unwrap();
        bus.heartbeat("paused", every("w1", 1)).await.unwrap();
        let seen = collect(&bus, EventFilter::all()).await;
        tokio::time::sleep(Duration::from_secs(10)).await;
        settle(&bus).await;
        assert!(seen.names().is_empty());
    });
}

#[test]
fn pause_from_ready_or_not_ready_emits_paused() {
    paused(|| async {
        let bus = bus_at_t0(cfg());
        bus.create_pool(CreatePool::new("a", "process"))
            .await
            .unwrap();
        bus.create_pool(CreatePool::new("b", "process"))
            .await
            .unwrap();
        bus.heartbeat("a", "w1").await.unwrap();
        let seen = collect(&bus, EventFilter::all()).await;
        let a = bus.update_pool("a", PoolUpdate::pause()).await.unwrap();
        let b = bus.update_pool("b", PoolUpdate::pause()).await.unwrap();
        settle(&bus).await;
        assert_eq!(
            seen.names(),
            ["prefect.work-pool.paused", "prefect.work-pool.paused"]
        );
        assert_eq!((a.status, a.is_paused), (Some(Status::Paused), true));
        assert_eq!((b.status, b.is_paused), (Some(Status::Paused), true));
    });
}

#[test]
fn pausing_a_paused_pool_emits_nothing() {
    paused(|| async {
        let bus = bus_at_t0(cfg());
        bus.create_pool(CreatePool::new("a", "process").paused())
            .await
            .unwrap();
        let seen = collect(&bus, EventFilter::all()).await;
        bus.update_pool("a", PoolUpdate::pause()).await.unwrap();
        settle(&bus).await;
        assert!(seen.names().is_empty(), "status events mark transitions");
    });
}

#[test]
fn resume_with_an_online_worker_emits_ready() {
    paused(|| async {
        let bus = bus_at_t0(cfg());
        bus.create_pool(CreatePool::new("a", "process").paused())
            .await
            .unwrap();
        bus.heartbeat("a", "w1").await.unwrap();
        let seen = collect(&bus, EventFilter::all()).await;
        let a = bus.update_pool("a", PoolUpdate::resume()).await.unwrap();
        settle(&bus).await;
        assert_eq!(seen.names(), ["prefect.work-pool.ready"]);
        assert_eq!((a.status, a.is_paused), (Some(Status::Ready), false));
    });
}

#[test]
fn resume_without_an_online_worker_emits_not_ready() {
    paused(|| async {
        let bus = bus_at_t0(cfg());
        bus.create_pool(CreatePool::new("a", "process").paused())
            .await
            .unwrap();
        bus.heartbeat("a", every("w1", 1)).await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
        let seen = collect(&bus, EventFilter::all()).await;
        let a = bus.update_pool("a", PoolUpdate::resume()).await.unwrap();
        settle(&bus).await;
        assert_eq!(seen.names(), ["prefect.work-pool.not-ready"]);
        assert_eq!(a.status, Some(Status::NotReady));
    });
}

#[test]
fn resuming_a_running_pool_emits_nothing() {
    paused(|| async {
        let bus = bus_at_t0(cfg());
        bus.create_pool(CreatePool::new("a", "process"))
            .await
            .unwrap();
        bus.create_pool(CreatePool::new("b", "process"))
            .await
            .unwrap();
        bus.heartbeat("b", "w1").await.unwrap();
        let seen = collect(&bus, EventFilter::all()).await;
        bus.update_pool("a", PoolUpdate::resume()).await.unwrap();
        bus.update_pool("b", PoolUpdate::resume()).await.unwrap();
        settle(&bus).await;
        assert!(seen.names().is_empty(), "status events mark transitions");
    });
}

#[test]
fn status_events_follow_the_previous_one_only_within_ten_minutes() {
    paused(|| async {
        let bus = bus_at_t0(cfg());
        bus.create_pool(CreatePool::new("a", "process"))
            .await
            .unwrap();
        let seen = collect(&bus, EventFilter::prefix(["prefect.work-pool."])).await;
        bus.heartbeat("a", every("w1", 1)).await.unwrap(); // ready at 0 s
        tokio::time::sleep(Duration::from_secs(3)).await; // not-ready at 3 s
        tokio::time::sleep(Duration::from_secs(600)).await;
        bus.heartbeat("a", every("w1", 1)).await.unwrap(); // ready at 603 s: over 10 min later
        settle(&bus).await;
        let e = seen.events();
        assert_eq!(
            seen.names(),
            [
                "prefect.work-pool.ready",
                "prefect.work-pool.not-ready",
                "prefect.work-pool.ready"
            ]
        );
        assert_eq!(e[1].follows, Some(e[0].id));
        assert_eq!(e[2].follows, None);
    });
}

#[test]
fn agent_pools_keep_prefects_rule_that_pause_never_changes_status() {
    paused(|| async {
        let bus = bus_at_t0(cfg());
        let seen = collect(&bus, EventFilter::prefix(["prefect.work-pool."])).await;
        let req = CreatePool::new("agents", "prefect-agent").paused();
        let pool = bus.create_pool(req).await.unwrap();
        assert_eq!(
            pool.status, None,
            "Prefect shows agent pools with a null status"
        );
        bus.heartbeat("agents", "w1").await.unwrap();
        bus.update_pool("agents", PoolUpdate::resume())
            .await
            .unwrap();
        bus.update_pool("agents", PoolUpdate::pause())
            .await
            .unwrap();
        settle(&bus).await;
        assert_eq!(
            seen.names(),
            [
                "prefect.work-pool.created",
                "prefect.work-pool.not-ready",
                "prefect.work-pool.ready"
            ]
        );
    });
}

/// A heartbeat from `worker` that says it beats every `secs` seconds.
fn every(worker: &str, secs: u32) -> workbus_core::Heartbeat<'_> {
    workbus_core::Heartbeat::new(worker)
        .every(workbus_core::HeartbeatInterval::from_secs(secs).unwrap())
}
