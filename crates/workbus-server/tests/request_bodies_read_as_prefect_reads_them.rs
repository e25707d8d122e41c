//! Prefect's request bodies, read as Prefect reads them: unknown fields and wrong
//! types are refused (its `extra="forbid"`), `null` only where Prefect allows it,
//! and a pool created without a type is a `prefect-agent` pool.

use workbus_core::CreatePool;
use workbus_server::request::{CreatePoolBody, CreateQueueBody, PoolUpdateBody, QueueUpdateBody};

#[test]
fn request_bodies_refuse_unknown_fields_and_wrong_types() {
    for body in [
        r#"{"name": "x", "status": "READY"}"#,
        r#"{"name": 5}"#,
        r#"{"type": "process"}"#,
        r#"{"name": "x", "concurrency_limit": "many"}"#,
    ] {
        assert!(
            serde_json::from_str::<CreatePoolBody>(body).is_err(),
            "{body}"
        );
    }
    for body in [
        r#"{"name": "x"}"#,
        r#"{"type": "docker"}"#,
        r#"{"is_paused": null}"#,
    ] {
        assert!(
            serde_json::from_str::<PoolUpdateBody>(body).is_err(),
            "{body}"
        );
    }
    for body in [
        r#"{"filter": {}}"#,
        r#"{"priority": 1.5}"#,
        r#"{"name": null}"#,
        r#"{"priority": null}"#,
    ] {
        assert!(
            serde_json::from_str::<QueueUpdateBody>(body).is_err(),
            "{body}"
        );
    }
    assert!(serde_json::from_str::<CreateQueueBody>(r#"{"name": "q", "extra": 1}"#).is_err());
}

#[test]
fn the_default_pool_type_is_prefect_agent() {
    let body: CreatePoolBody = serde_json::from_str(r#"{"name": "x"}"#).unwrap();
    assert_eq!(CreatePool::from(body).pool_type, "prefect-agent");
}
