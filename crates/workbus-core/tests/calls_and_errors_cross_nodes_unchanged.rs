//! What one node sends another (a `Call`) and what comes back (an `Answer`, an
//! `Error`) reads back as it was: a fleet answers as one bus would.

use uuid::Uuid;
use workbus_core::{
    Answer, Call, CreatePool, CreateQueue, Error, HeartbeatInterval, Op, PoolUpdate, QueueUpdate,
};
use workbus_store::StoreError;

fn round_trip<T: serde::Serialize + serde::de::DeserializeOwned>(v: &T) -> T {
    serde_json::from_slice(&serde_json::to_vec(v).unwrap()).unwrap()
}

#[test]
fn calls_keep_absent_apart_from_null() {
    let clear = PoolUpdate {
        description: Some(None),
        concurrency_limit: Some(None),
        ..PoolUpdate::default()
    };
    let keep = PoolUpdate::pause();
    for update in [clear, keep] {
        let call = Call {
            pool: "etl".into(),
            op: Op::UpdatePool(update.clone()),
        };
        assert_eq!(round_trip(&call), call);
    }
    let ops = vec![
        Op::CreatePool(CreatePool::new("etl", "process").paused()),
        Op::Heartbeat {
            worker: "w".into(),
            interval: HeartbeatInterval::from_secs(30).ok(),
        },
        Op::CreateQueue(CreateQueue {
            priority: Some(2),
            ..CreateQueue::new("gpu")
        }),
        Op::UpdateQueueById {
            id: Uuid::now_v7(),
            update: QueueUpdate {
                last_polled: Some(None),
                ..QueueUpdate::new().concurrency_limit(None)
            },
        },
        Op::Poll(vec!["a".into(), "b".into()]),
        Op::DeleteWorker("w".into()),
    ];
    for op in ops {
        let call = Call {
            pool: "ünïcødé pool".into(),
            op,
        };
        assert_eq!(round_trip(&call), call);
    }
    assert_eq!(round_trip(&Answer::Done), Answer::Done);
}

#[test]
fn errors_come_back_as_the_owner_gave_them() {
    let errors = vec![
        Error::PoolNotFound("etl".into()),
        Error::PoolIdNotFound(Uuid::now_v7()),
        Error::QueueNotFound {
            pool: "etl".into(),
            queue: "gpu".into(),
        },
        Error::PoolExists("etl".into()),
        Error::InvalidName {
            name: "a/b".into(),
            reason: "a name must not contain / % & > <".into(),
        },
        Error::LimitReached {
            what: "work pools".into(),
            max: 3,
        },
        Error::InvalidPriority(0),
        Error::DefaultQueueDeletion("etl".into()),
        Error::Busy,
        Error::Timeout,
        Error::Store(StoreError::Fenced {
            scope: "work pool \"etl\"".into(),
        }),
        Error::Store(StoreError::Stopped),
        Error::Store(StoreError::engine(std::io::Error::other("disk full"))),
    ];
    for e in errors {
        let back = round_trip(&e);
        assert_eq!(back, e);
        assert_eq!(back.to_string(), e.to_string());
    }
    // A fence stays a fence: the router tells it from other failures.
    let fenced = round_trip(&Error::Store(StoreError::Fenced { scope: "x".into() }));
    assert!(matches!(fenced, Error::Store(StoreError::Fenced { .. })));
}
