//! `prefect.work-pool.updated` and `prefect.work-queue.updated`: one event per request, covering
//! every field that really changed, in Prefect's field order, before any status event.

mod support;

use serde_json::json;
use support::*;
use workbus_core::{
    BusConfig, CreatePool, CreateQueue, EventFilter, PoolUpdate, QueueUpdate, StorageConfiguration,
};

#[test]
fn pool_update_covers_every_changed_field_in_prefects_order() {
    paused(|| async {
        let bus = bus_at_t0(BusConfig::default());
        let pool = bus
            .create_pool(CreatePool::new("etl", "process"))
            .await
            .unwrap();
        let seen = collect(&bus, EventFilter::all()).await;
        // Given in another order than Prefect's field order.
        let update: PoolUpdate = PoolUpdate {
            storage_configuration: Some(StorageConfiguration {
                default_result_storage_block_id: Some(uuid::Uuid::from_u128(1)),
                ..StorageConfiguration::default()
            }),
            ..PoolUpdate::new()
                .concurrency_limit(Some(5))
                .base_job_template(object(json!({"job_configuration": {"command": "{{ command }}"}, "variables": {"type": "object"}})))
                .description("d1")
        };
        let info = bus.update_pool("etl", update).await.unwrap();
        settle(&bus).await;
        let events = seen.events();
        assert_eq!(events.len(), 1);
        assert_json(
            &events[0],
            json!({
                "occurred": T0, "event": "prefect.work-pool.updated",
                "resource": pool_labels(pool.id, "etl", "process", true),
                "payload": {
                    "updated_fields": ["description", "base_job_template", "concurrency_limit", "storage_configuration"],
                    "updates": {
                        "description": {"from": null, "to": "d1"},
                        "base_job_template": {"from": {}, "to": {"job_configuration": {"command": "{{ command }}"}, "variables": {"type": "object"}}},
                        "concurrency_limit": {"from": null, "to": 5},
                        "storage_configuration": {
                            "from": {"bundle_upload_step": null, "bundle_execution_step": null, "default_result_storage_block_id": null},
                            "to": {"bundle_upload_step": null, "bundle_execution_step": null, "default_result_storage_block_id": "00000000-0000-0000-0000-000000000001"}
                        }
                    }
                }
            }),
        );
        assert_eq!(info.description.as_deref(), Some("d1"));
        assert_eq!(info.concurrency_limit, Some(5));
    });
}

#[test]
fn pool_update_lists_only_fields_that_changed() {
    paused(|| async {
        let bus = bus_at_t0(BusConfig::default());
        bus.create_pool(CreatePool {
            description: Some("same".into()),
            ..CreatePool::new("etl", "process")
        })
        .await
        .unwrap();
        let seen = collect(&bus, EventFilter::all()).await;
        let update: PoolUpdate = PoolUpdate::new()
            .description("same")
            .concurrency_limit(Some(2));
        bus.update_pool("etl", update).await.unwrap();
        settle(&bus).await;
        assert_eq!(
            seen.json()[0]["payload"]["updated_fields"],
            json!(["concurrency_limit"])
        );
    });
}

#[test]
fn pool_update_that_changes_nothing_emits_nothing() {
    paused(|| async {
        let bus = bus_at_t0(BusConfig::default());
        bus.create_pool(CreatePool {
            description: Some("d".into()),
            ..CreatePool::new("etl", "process")
        })
        .await
        .unwrap();
        let seen = collect(&bus, EventFilter::all()).await;
        let update: PoolUpdate = PoolUpdate::new()
            .description("d")
            .base_job_template(Default::default())
            .concurrency_limit(None);
        bus.update_pool("etl", update).await.unwrap();
        settle(&bus).await;
        assert!(seen.names().is_empty());
    });
}

#[test]
fn clearing_a_field_reports_null_as_its_new_value() {
    paused(|| async {
        let bus = bus_at_t0(BusConfig::default());
        bus.create_pool(CreatePool {
            concurrency_limit: Some(3),
            ..CreatePool::new("etl", "process")
        })
        .await
        .unwrap();
        let seen = collect(&bus, EventFilter::all()).await;
        let update: PoolUpdate = PoolUpdate::new().concurrency_limit(None);
        let info = bus.update_pool("etl", update).await.unwrap();
        settle(&bus).await;
        assert_eq!(
            seen.json()[0]["payload"]["updates"],
            json!({"concurrency_limit": {"from": 3, "to": null}})
        );
        assert_eq!(info.concurrency_limit, None);
    });
}

#[test]
fn pool_updated_comes_before_the_status_event_of_the_same_request() {
    paused(|| async {
        let (bus, seen) = watched_etl().await;
        let update: PoolUpdate = PoolUpdate::new().paused(true).description("d2");
        bus.update_pool("etl", update).await.unwrap();
        settle(&bus).await;
        assert_eq!(
            seen.names(),
            ["prefect.work-pool.updated", "prefect.work-pool.paused"]
        );
        assert_eq!(
            seen.json()[0]["payload"]["updated_fields"],
            json!(["description"])
        );
    });
}

#[test]
fn queue_update_covers_every_changed_field_in_prefects_order() {
    paused(|| async {
        let bus = bus_at_t0(BusConfig::default());
        let pool = bus
            .create_pool(CreatePool::new("etl", "process"))
            .await
            .unwrap();
        let q = bus
            .create_queue("etl", CreateQueue::new("q2"))
            .await
            .unwrap();
        let seen = collect(&bus, EventFilter::all()).await;
        let update: QueueUpdate = QueueUpdate::new()
            .priority(5)
            .concurrency_limit(Some(4))
            .description("x")
            .name("q3");
        let info = bus.update_queue("etl", "q2", update).await.unwrap();
        settle(&bus).await;
        let events = seen.events();
        assert_eq!(events.len(), 1);
        assert_json(
            &events[0],
            json!({
                "occurred": T0, "event": "prefect.work-queue.updated",
                "resource": queue_labels(q.id, "q3"),
                "related": [pool_labels(pool.id, "etl", "process", true)],
                "payload": {
                    "updated_fields": ["name", "description", "concurrency_limit", "priority"],
                    "updates": {
                        "name": {"from": "q2", "to": "q3"},
                        "description": {"from": "", "to": "x"},
                        "concurrency_limit": {"from": null, "to": 4},
                        "priority": {"from": 2, "to": 5}
                    }
                }
            }),
        );
        assert_eq!((info.name.as_str(), info.priority), ("q3", 5));
    });
}

#[test]
fn a_renamed_queue_is_found_and_announced_under_its_new_name() {
    paused(|| async {
        let bus = bus_at_t0(BusConfig::default());
        bus.create_pool(CreatePool::new("etl", "process"))
            .await
            .unwrap();
        let q = bus
            .create_queue("etl", CreateQueue::new("old"))
            .await
            .unwrap();
        bus.update_queue(
            "etl",
            "old",
            QueueUpdate {
                name: Some("new".into()),
                ..QueueUpdate::default()
            },
        )
        .await
        .unwrap();
        assert!(matches!(
            bus.queue("etl", "old").await,
            Err(workbus_core::Error::QueueNotFound { .. })
        ));
        assert_eq!(bus.queue("etl", "new").await.unwrap().id, q.id);
        let seen = collect(&bus, EventFilter::all()).await;
        bus.poll("etl", &["new".to_owned()]).await.unwrap();
        settle(&bus).await;
        assert_eq!(seen.json()[0]["resource"]["prefect.resource.name"], "new");
        // The old name is free again.
        bus.create_queue("etl", CreateQueue::new("old"))
            .await
            .unwrap();
    });
}

#[test]
fn queue_updated_comes_before_the_status_event_of_the_same_request() {
    paused(|| async {
        let bus = bus_at_t0(BusConfig::default());
        bus.create_pool(CreatePool::new("etl", "process"))
            .await
            .unwrap();
        bus.create_queue("etl", CreateQueue::new("q"))
            .await
            .unwrap();
        let seen = collect(&bus, EventFilter::all()).await;
        let update: QueueUpdate = QueueUpdate::new().paused(true).priority(9);
        bus.update_queue("etl", "q", update).await.unwrap();
        settle(&bus).await;
        assert_eq!(
            seen.names(),
            ["prefect.work-queue.updated", "prefect.work-queue.paused"]
        );
    });
}

#[test]
fn queue_update_that_changes_nothing_emits_nothing() {
    paused(|| async {
        let bus = bus_at_t0(BusConfig::default());
        bus.create_pool(CreatePool::new("etl", "process"))
            .await
            .unwrap();
        bus.create_queue("etl", CreateQueue::new("q"))
            .await
            .unwrap();
        let seen = collect(&bus, EventFilter::all()).await;
        let update: QueueUpdate = QueueUpdate::new()
            .name("q")
            .description("")
            .priority(2)
            .concurrency_limit(None);
        bus.update_queue("etl", "q", update).await.unwrap();
        settle(&bus).await;
        assert!(seen.names().is_empty());
    });
}

#[test]
fn legacy_update_by_id_behaves_the_same() {
    paused(|| async {
        let bus = bus_at_t0(BusConfig::default());
        bus.create_pool(CreatePool::new("etl", "process"))
            .await
            .unwrap();
        let q = bus
            .create_queue("etl", CreateQueue::new("q"))
            .await
            .unwrap();
        let seen = collect(&bus, EventFilter::all()).await;
        bus.update_queue_by_id(
            q.id,
            QueueUpdate {
                description: Some("by id".into()),
                is_paused: Some(true),
                ..QueueUpdate::default()
            },
        )
        .await
        .unwrap();
        settle(&bus).await;
        assert_eq!(
            seen.names(),
            ["prefect.work-queue.updated", "prefect.work-queue.paused"]
        );
    });
}

/// A JSON object as a map (a job template).
fn object(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match v {
        serde_json::Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}
