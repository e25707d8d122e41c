//! Every bad-input rule: a typed error, nothing changed, nothing emitted.

mod support;

use support::*;
use workbus_core::{
    Bus, BusConfig, CreatePool, CreateQueue, Error, EventFilter, HeartbeatInterval, PoolUpdate,
    QueueUpdate,
};

/// Runs `f` against a bus with one pool `etl` and one queue `q`, then checks that
/// nothing was emitted and the pool and queue are as they were.
fn refused<F, Fut>(f: F)
where
    F: FnOnce(Bus) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    paused(|| async {
        let bus = bus_at_t0(BusConfig::default());
        bus.create_pool(CreatePool::new("etl", "process"))
            .await
            .unwrap();
        bus.create_queue("etl", CreateQueue::new("q"))
            .await
            .unwrap();
        let pool_before = bus.pool("etl").await.unwrap();
        let queues_before = bus.queues("etl").await.unwrap();
        let seen = collect(&bus, EventFilter::all()).await;
        f(bus.clone()).await;
        settle(&bus).await;
        assert!(seen.names().is_empty(), "emitted {:?}", seen.names());
        assert_eq!(bus.pool("etl").await.unwrap(), pool_before);
        assert_eq!(bus.queues("etl").await.unwrap(), queues_before);
        assert_eq!(bus.pool_names(), ["etl"]);
    });
}

#[test]
fn pool_names_must_be_non_empty_and_free_of_banned_characters() {
    refused(|bus| async move {
        for name in ["", "a/b", "a%b", "a&b", "a>b", "a<b"] {
            let err = bus
                .create_pool(CreatePool::new(name, "process"))
                .await
                .unwrap_err();
            assert!(matches!(err, Error::InvalidName { .. }), "{name:?}: {err}");
        }
    });
}

#[test]
fn pool_names_starting_with_prefect_are_reserved_in_any_case() {
    refused(|bus| async move {
        for name in ["prefect", "Prefect-pool", "PREFECTx"] {
            let err = bus
                .create_pool(CreatePool::new(name, "process"))
                .await
                .unwrap_err();
            assert_eq!(err, Error::ReservedName(name.into()));
        }
    });
}

#[test]
fn only_the_prefix_prefect_is_reserved() {
    paused(|| async {
        let bus = bus_at_t0(BusConfig::default());
        assert!(bus
            .create_pool(CreatePool::new("my-prefect", "process"))
            .await
            .is_ok());
    });
}

#[test]
fn pool_types_must_be_valid_names() {
    refused(|bus| async move {
        let err = bus.create_pool(CreatePool::new("x", "")).await.unwrap_err();
        assert!(matches!(err, Error::InvalidName { .. }));
    });
}

#[test]
fn duplicate_pool_names_are_refused() {
    refused(|bus| async move {
        let err = bus
            .create_pool(CreatePool::new("etl", "docker"))
            .await
            .unwrap_err();
        assert_eq!(err, Error::PoolExists("etl".into()));
    });
}

#[test]
fn negative_concurrency_limits_are_refused_everywhere() {
    refused(|bus| async move {
        let create = CreatePool {
            concurrency_limit: Some(-1),
            ..CreatePool::new("x", "process")
        };
        assert_eq!(
            bus.create_pool(create).await.unwrap_err(),
            Error::NegativeConcurrencyLimit(-1)
        );
        let update = PoolUpdate {
            concurrency_limit: Some(Some(-2)),
            description: Some(Some("changed".into())),
            ..PoolUpdate::default()
        };
        assert_eq!(
            bus.update_pool("etl", update).await.unwrap_err(),
            Error::NegativeConcurrencyLimit(-2)
        );
        let q = CreateQueue {
            concurrency_limit: Some(-3),
            ..CreateQueue::new("q2")
        };
        assert_eq!(
            bus.create_queue("etl", q).await.unwrap_err(),
            Error::NegativeConcurrencyLimit(-3)
        );
        let u = QueueUpdate {
            concurrency_limit: Some(Some(-4)),
            name: Some("renamed".into()),
            ..QueueUpdate::default()
        };
        assert_eq!(
            bus.update_queue("etl", "q", u).await.unwrap_err(),
            Error::NegativeConcurrencyLimit(-4)
        );
    });
}

#[test]
fn priorities_below_one_are_refused() {
    refused(|bus| async move {
        let q = CreateQueue {
            priority: Some(0),
            ..CreateQueue::new("q2")
        };
        assert_eq!(
            bus.create_queue("etl", q).await.unwrap_err(),
            Error::InvalidPriority(0)
        );
        let u = QueueUpdate {
            priority: Some(-5),
            description: Some("changed".into()),
            ..QueueUpdate::default()
        };
        assert_eq!(
            bus.update_queue("etl", "q", u).await.unwrap_err(),
            Error::InvalidPriority(-5)
        );
    });
}

#[test]
fn queue_names_follow_the_same_rules_and_are_unique_in_their_pool() {
    refused(|bus| async move {
        for name in ["", "a/b", "x<y"] {
            let err = bus
                .create_queue("etl", CreateQueue::new(name))
                .await
                .unwrap_err();
            assert!(matches!(err, Error::InvalidName { .. }), "{name:?}");
        }
        let err = bus
            .create_queue("etl", CreateQueue::new("q"))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            Error::QueueExists {
                pool: "etl".into(),
                queue: "q".into()
            }
        );
        let rename = QueueUpdate {
            name: Some("default".into()),
            ..QueueUpdate::default()
        };
        let err = bus.update_queue("etl", "q", rename).await.unwrap_err();
        assert_eq!(
            err,
            Error::QueueExists {
                pool: "etl".into(),
                queue: "default".into()
            }
        );
        let rename = QueueUpdate {
            name: Some("a%b".into()),
            ..QueueUpdate::default()
        };
        assert!(matches!(
            bus.update_queue("etl", "q", rename).await,
            Err(Error::InvalidName { .. })
        ));
    });
}

#[test]
fn unknown_pools_queues_and_workers_are_errors() {
    refused(|bus| async move {
        let nope = || Error::PoolNotFound("nope".into());
        assert_eq!(bus.pool("nope").await.unwrap_err(), nope());
        assert_eq!(
            bus.update_pool("nope", PoolUpdate::pause())
                .await
                .unwrap_err(),
            nope()
        );
        assert_eq!(bus.delete_pool("nope").await.unwrap_err(), nope());
        assert_eq!(bus.heartbeat("nope", "w").await.unwrap_err(), nope());
        assert_eq!(bus.workers("nope").await.unwrap_err(), nope());
        assert_eq!(
            bus.create_queue("nope", CreateQueue::new("q"))
                .await
                .unwrap_err(),
            nope()
        );
        assert_eq!(bus.poll_all("nope").await.unwrap_err(), nope());
        let missing = Error::QueueNotFound {
            pool: "etl".into(),
            queue: "missing".into(),
        };
        assert_eq!(bus.queue("etl", "missing").await.unwrap_err(), missing);
        assert_eq!(
            bus.update_queue("etl", "missing", QueueUpdate::pause())
                .await
                .unwrap_err(),
            missing
        );
        assert_eq!(
            bus.delete_queue("etl", "missing").await.unwrap_err(),
            missing
        );
        // One unknown name fails the whole poll before any queue is marked.
        let names = ["q".to_owned(), "missing".to_owned()];
        assert_eq!(bus.poll("etl", &names).await.unwrap_err(), missing);
        let id = uuid::Uuid::now_v7();
        assert_eq!(
            bus.queue_by_id(id).await.unwrap_err(),
            Error::QueueIdNotFound(id)
        );
        assert_eq!(
            bus.poll_queue(id).await.unwrap_err(),
            Error::QueueIdNotFound(id)
        );
        assert_eq!(
            bus.update_queue_by_id(id, QueueUpdate::pause())
                .await
                .unwrap_err(),
            Error::QueueIdNotFound(id)
        );
        assert_eq!(
            bus.delete_queue_by_id(id).await.unwrap_err(),
            Error::QueueIdNotFound(id)
        );
        assert_eq!(
            bus.pool_by_id(id).await.unwrap_err(),
            Error::PoolIdNotFound(id)
        );
        assert_eq!(
            bus.delete_worker("etl", "ghost").await.unwrap_err(),
            Error::WorkerNotFound {
                pool: "etl".into(),
                worker: "ghost".into()
            }
        );
    });
}

#[test]
fn heartbeats_need_a_worker_name_and_a_positive_interval() {
    refused(|bus| async move {
        assert!(matches!(
            bus.heartbeat("etl", "").await,
            Err(Error::InvalidName { .. })
        ));
        // A zero interval cannot be written: the type refuses it before the bus sees it.
        assert_eq!(
            HeartbeatInterval::from_secs(0),
            Err(Error::InvalidHeartbeatInterval)
        );
        assert_eq!(
            HeartbeatInterval::try_from(std::time::Duration::ZERO),
            Err(Error::InvalidHeartbeatInterval)
        );
        assert!(bus.workers("etl").await.unwrap().is_empty());
    });
}

#[test]
fn error_messages_say_what_is_wrong() {
    let e = Error::InvalidName {
        name: "a/b".into(),
        reason: "a name must not contain / % & > <".into(),
    };
    assert_eq!(
        e.to_string(),
        r#"invalid name "a/b": a name must not contain / % & > <"#
    );
    assert_eq!(
        Error::InvalidPriority(0).to_string(),
        "priority must be at least 1, got 0"
    );
}
