//! With a data directory, an automation the server answered for outlives `kill -9`:
//! after a restart it reads the same (ids, trigger ids, enabled, owner) and acts.

mod common;

use std::time::Duration;

use common::child::{self, call};
use serde_json::{json, Value};

async fn all(s: &child::Running, c: &awc::Client) -> Value {
    let (status, list) = call(c, "POST", s.url("/api/automations/filter"), Some(json!({}))).await;
    assert_eq!(status, 200, "{list}");
    list
}

#[actix_rt::test]
async fn automations_outlive_kill_9_and_still_act() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let c = awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish();
    let s = child::start(&[("WORKBUS_DATA_DIR", data)]);
    let (status, pool) = call(
        &c,
        "POST",
        s.url("/api/work_pools"),
        Some(json!({"name": "etl", "type": "process"})),
    )
    .await;
    assert_eq!(status, 201);
    let on_alarm = json!({
        "name": "pause on alarm",
        "trigger": {"posture": "Reactive", "expect": ["acme.alarm"]},
        "actions": [{"type": "pause-work-pool", "source": "inferred"}],
        "owner_resource": "acme.owner"
    });
    let (status, kept) = call(&c, "POST", s.url("/api/automations"), Some(on_alarm)).await;
    assert_eq!(status, 201, "{kept}");
    let mut disabled = json!({
        "name": "disabled",
        "trigger": {"posture": "Proactive", "expect": ["x"], "within": 60},
        "actions": []
    });
    let (_, off) = call(
        &c,
        "POST",
        s.url("/api/automations"),
        Some(disabled.clone()),
    )
    .await;
    let off_id = off["id"].as_str().unwrap();
    let (status, _) = call(
        &c,
        "PATCH",
        s.url(&format!("/api/automations/{off_id}")),
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!(status, 204);
    disabled["name"] = json!("deleted");
    let (_, gone) = call(&c, "POST", s.url("/api/automations"), Some(disabled)).await;
    let (status, _) = call(
        &c,
        "DELETE",
        s.url(&format!(
            "/api/automations/{}",
            gone["id"].as_str().unwrap()
        )),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let before = all(&s, &c).await;
    assert_eq!(before.as_array().unwrap().len(), 2);
    drop(s); // SIGKILL

    let s = child::start(&[("WORKBUS_DATA_DIR", data)]);
    assert_eq!(all(&s, &c).await, before);
    let (_, related) = call(
        &c,
        "GET",
        s.url("/api/automations/related-to/acme.owner"),
        None,
    )
    .await;
    assert_eq!(related[0]["id"], kept["id"]);

    // It is evaluated again: an alarm about the pool pauses it.
    let (status, _) = call(
        &c,
        "POST",
        s.url("/api/events"),
        Some(json!([{
            "occurred": "2026-12-01T00:00:00Z",
            "event": "acme.alarm",
            "resource": {"prefect.resource.id": "acme.alarm.1"},
            "related": [{"prefect.resource.id": format!("prefect.work-pool.{}", pool["id"].as_str().unwrap()),
                         "prefect.resource.role": "work-pool"}],
            "id": uuid::Uuid::now_v7().to_string()
        }])),
    )
    .await;
    assert!((200..300).contains(&status));
    let mut paused = Value::Null;
    for _ in 0..200 {
        paused = call(&c, "GET", s.url("/api/work_pools/etl"), None).await.1["is_paused"].clone();
        if paused == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(paused, true);
}
