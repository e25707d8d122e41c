//! The automation routes answer as Prefect 3.9.1's: create (201, trigger ids made
//! anew), read, replace and patch (204), delete (204, then 404), filter (by name
//! unless sorted otherwise, paged), count, related-to an owner; Prefect's rules
//! refuse bad triggers and actions with 422; and an automation made over HTTP acts.

mod common;

use std::time::Duration;

use actix_web::http::StatusCode;
use common::TestServer;
use serde_json::{json, Value};

fn proactive(name: &str) -> Value {
    json!({
        "name": name,
        "description": "stays not ready",
        "tags": ["ops"],
        "trigger": {
            "type": "event",
            "id": "00000000-0000-0000-0000-000000000001",
            "match": {"prefect.resource.id": "prefect.work-pool.*"},
            "after": ["prefect.work-pool.not-ready"],
            "expect": ["prefect.work-pool.ready"],
            "for_each": ["prefect.resource.id"],
            "posture": "Proactive",
            "within": 300
        },
        "actions": [{"type": "pause-work-pool", "source": "inferred"}]
    })
}

#[actix_rt::test]
async fn crud_filter_count_and_errors() {
    let t = TestServer::start().await;
    let (status, created) = t.post("/api/automations/", proactive("b")).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let keys: Vec<&str> = created
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "name",
            "description",
            "enabled",
            "tags",
            "trigger",
            "actions",
            "actions_on_trigger",
            "actions_on_resolve",
            "id",
            "created",
            "updated"
        ],
        "Prefect's fields in Prefect's order"
    );
    assert_ne!(
        created["trigger"]["id"],
        "00000000-0000-0000-0000-000000000001"
    );
    assert_eq!(created["trigger"]["within"], 300.0);
    assert_eq!(created["trigger"]["threshold"], 1);
    assert_eq!(created["trigger"]["match_related"], json!({}));
    assert_eq!(
        created["actions"],
        json!([{"type": "pause-work-pool", "source": "inferred", "work_pool_id": null}])
    );
    let id = created["id"].as_str().unwrap().to_owned();
    let (status, read) = t.get(&format!("/api/automations/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read, created);

    let mut owned = proactive("a");
    owned["owner_resource"] = json!("prefect.deployment.x");
    let (status, a) = t.post("/api/automations/", owned).await;
    assert_eq!(status, StatusCode::CREATED, "{a}");

    let (status, list) = t.post("/api/automations/filter", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "b"]);
    let (_, list) = t
        .post(
            "/api/automations/filter",
            json!({"sort": "NAME_DESC", "limit": 1}),
        )
        .await;
    assert_eq!(list[0]["name"], "b");
    let (_, list) = t
        .post(
            "/api/automations/filter",
            json!({"automations": {"name": {"any_": ["a"]}}}),
        )
        .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (_, n) = t.post("/api/automations/count", json!({})).await;
    assert_eq!(n, 2);
    let (_, n) = t
        .post(
            "/api/automations/count",
            json!({"automations": {"tags": {"all_": ["nope"]}}}),
        )
        .await;
    assert_eq!(n, 0);
    let (status, related) = t
        .get("/api/automations/related-to/prefect.deployment.x")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(related.as_array().unwrap().len(), 1);
    assert_eq!(related[0]["name"], "a");

    // Replace and patch answer 204 and change what is read.
    let mut replaced = proactive("b2");
    replaced["enabled"] = json!(false);
    let (status, _) = t.put(&format!("/api/automations/{id}"), replaced).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, read) = t.get(&format!("/api/automations/{id}")).await;
    assert_eq!(
        (read["name"].clone(), read["enabled"].clone()),
        (json!("b2"), json!(false))
    );
    let (status, _) = t
        .patch(&format!("/api/automations/{id}"), json!({"enabled": true}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, read) = t.get(&format!("/api/automations/{id}")).await;
    assert_eq!(read["enabled"], true);

    // Prefect's rules.
    for (bad, why) in [
        (
            json!({"name": "x", "trigger": {"posture": "Proactive", "within": 5}, "actions": []}),
            "10 seconds",
        ),
        (
            json!({"name": "x", "trigger": {"posture": "Sideways"}, "actions": []}),
            "Reactive",
        ),
        (
            json!({"name": "x", "trigger": {"posture": "Reactive"}, "actions": [{"type": "pause-work-pool"}]}),
            "work_pool_id is required",
        ),
        (
            json!({"name": "x", "trigger": {"posture": "Reactive"}, "actions": [{"type": "run-deployment", "source": "inferred"}]}),
            "not served",
        ),
        (
            json!({"name": "x", "trigger": {"type": "compound", "require": 3, "triggers": [{"posture": "Reactive"}], "within": 10}, "actions": []}),
            "require",
        ),
        (
            json!({"name": "x", "trigger": {"posture": "Reactive"}, "actions": [], "colour": "red"}),
            "Extra inputs",
        ),
        (
            json!({"trigger": {"posture": "Reactive"}, "actions": []}),
            "name",
        ),
        // Bounded: one automation's JSON at most 64 KiB (all of them within 10,000 times that).
        (
            json!({"name": "x".repeat(70_000), "trigger": {"posture": "Reactive"}, "actions": []}),
            "at most 65536 bytes",
        ),
    ] {
        let (status, body) = t.post("/api/automations/", bad.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad} -> {body}");
        assert!(
            body["detail"].as_str().unwrap().contains(why),
            "{bad} -> {body}"
        );
    }
    let (status, body) = t
        .patch(&format!("/api/automations/{id}"), json!({"name": "x"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // Delete, then it is gone.
    let (status, _) = t.delete(&format!("/api/automations/{id}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = t.get(&format!("/api/automations/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["detail"], "Automation not found");
    let (status, _) = t.delete(&format!("/api/automations/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = t.get("/api/automations/not-a-uuid").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = t
        .delete("/api/automations/owned-by/prefect.deployment.x")
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (_, n) = t.post("/api/automations/count", json!(null)).await;
    assert_eq!(n, 0);
}

#[actix_rt::test]
async fn an_automation_made_over_http_pauses_the_pool_its_event_names() {
    let t = TestServer::start().await;
    let (_, pool) = t
        .post(
            "/api/work_pools/",
            json!({"name": "etl", "type": "process"}),
        )
        .await;
    let pool_id = pool["id"].as_str().unwrap();
    let (status, _) = t
        .post(
            "/api/automations/",
            json!({
                "name": "pause on alarm",
                "trigger": {"posture": "Reactive", "expect": ["acme.alarm"]},
                "actions": [{"type": "pause-work-pool", "source": "inferred"}]
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = t
        .post(
            "/api/events",
            json!([{
                "occurred": "2026-12-01T00:00:00Z",
                "event": "acme.alarm",
                "resource": {"prefect.resource.id": "acme.alarm.1"},
                "related": [{
                    "prefect.resource.id": format!("prefect.work-pool.{pool_id}"),
                    "prefect.resource.role": "work-pool"
                }],
                "id": uuid::Uuid::now_v7().to_string()
            }]),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let mut paused = false;
    for _ in 0..200 {
        if t.get("/api/work_pools/etl").await.1["is_paused"] == true {
            paused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(paused, "the action paused the pool");
    let mut names = Vec::new();
    for _ in 0..200 {
        names = t.event_names().await;
        if names
            .iter()
            .any(|n| n == "prefect.automation.action.executed")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let ours: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with("prefect.automation."))
        .collect();
    assert_eq!(
        ours,
        [
            "prefect.automation.created",
            "prefect.automation.triggered",
            "prefect.automation.action.triggered",
            "prefect.automation.action.executed"
        ]
    );
    // Counted at /metrics.
    let (_, metrics) = t.get("/metrics").await;
    let text = metrics.as_str().unwrap();
    assert!(
        text.contains("workbus_automations_firings_total 1"),
        "{text}"
    );
    assert!(
        text.contains("workbus_automations_actions_executed_total 1"),
        "{text}"
    );
    assert!(
        text.contains("workbus_automations_actions_failed_total 0"),
        "{text}"
    );
}
