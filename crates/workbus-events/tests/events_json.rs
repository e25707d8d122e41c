//! Prefect's JSON for these events parses into the model and writes back identically;
//! Prefect's validation rules refuse what Prefect refuses.

use serde_json::json;
use workbus_events::{Event, EventError, MAX_EVENT_SIZE};

/// The two events of `prefect-semantics.md`, exactly as Prefect 3.9.1 streamed them.
const POOL_READY: &str = r#"{"occurred":"2026-12-01T06:27:27.028685Z","event":"prefect.work-pool.ready","resource":{"prefect.resource.id":"prefect.work-pool.dd18f2e4-7889-416c-a057-1e0867d1f37d","prefect.resource.name":"rs-pool","prefect.work-pool.type":"process"},"related":[],"payload":{},"id":"01a23049-68b4-7c86-b895-d7a4794175e9","follows":"01a23049-5cc4-7650-bac8-4a58f9795360","received":"2026-12-01T06:27:27.032262Z"}"#;
const QUEUE_UPDATED: &str = r#"{"occurred":"2026-12-01T06:27:49.768505Z","event":"prefect.work-queue.updated","resource":{"prefect.resource.id":"prefect.work-queue.1f8c7147-849f-45d3-a4eb-48b5e25c00e3","prefect.resource.name":"q2","prefect.resource.role":"work-queue"},"related":[{"prefect.resource.id":"prefect.work-pool.dd18f2e4-7889-416c-a057-1e0867d1f37d","prefect.resource.name":"rs-pool","prefect.work-pool.type":"process","prefect.resource.role":"work-pool"}],"payload":{"updated_fields":["description","priority"],"updates":{"description":{"from":"","to":"x"},"priority":{"from":2,"to":5}}},"id":"01a23049-c189-7c5b-a5d1-ea326457d9ea","follows":null,"received":"2026-12-01T06:27:49.769914Z"}"#;

#[test]
fn prefects_events_round_trip_byte_for_byte() {
    for json in [POOL_READY, QUEUE_UPDATED] {
        let event: Event = serde_json::from_str(json).unwrap();
        assert_eq!(serde_json::to_string(&event).unwrap(), json);
        assert_eq!(String::from_utf8(event.to_json()).unwrap(), json);
    }
}

#[test]
fn the_websocket_frame_wraps_the_same_event() {
    let frame = format!(r#"{{"type":"event","event":{POOL_READY}}}"#);
    let v: serde_json::Value = serde_json::from_str(&frame).unwrap();
    let event: Event = serde_json::from_value(v["event"].clone()).unwrap();
    assert_eq!(
        event.follows.unwrap().to_string(),
        "01a23049-5cc4-7650-bac8-4a58f9795360"
    );
    assert_eq!(
        event.resource.get("prefect.work-pool.type"),
        Some("process")
    );
}

#[test]
fn defaults_and_ignored_fields_follow_prefect() {
    let e: Event = serde_json::from_value(json!({
        "occurred": "2026-12-01T06:27:27Z", "event": "x",
        "resource": {"prefect.resource.id": "r"}, "id": "01a23049-68b4-7c86-b895-d7a4794175e9",
        "account": "ignored", "workspace": null
    }))
    .unwrap();
    assert!(
        e.related.is_empty() && e.payload.is_empty() && e.follows.is_none() && e.received.is_none()
    );
    assert_eq!(
        serde_json::to_string(&e).unwrap(),
        r#"{"occurred":"2026-12-01T06:27:27.000000Z","event":"x","resource":{"prefect.resource.id":"r"},"related":[],"payload":{},"id":"01a23049-68b4-7c86-b895-d7a4794175e9","follows":null}"#
    );
}

fn base() -> serde_json::Value {
    json!({"occurred": "2026-12-01T06:27:27Z", "event": "e", "resource": {"prefect.resource.id": "r"},
           "id": "01a23049-68b4-7c86-b895-d7a4794175e9"})
}

fn refused(v: serde_json::Value) -> String {
    serde_json::from_value::<Event>(v).unwrap_err().to_string()
}

#[test]
fn names_are_limited_to_1024_characters() {
    let mut v = base();
    v["event"] = "é".repeat(1024).into();
    assert!(
        serde_json::from_value::<Event>(v.clone()).is_ok(),
        "characters, not bytes"
    );
    v["event"] = "e".repeat(1025).into();
    assert!(refused(v).contains("1025 characters long, the limit is 1024"));
}

#[test]
fn resources_need_a_non_empty_id_and_at_most_500_labels() {
    let mut v = base();
    v["resource"] = json!({"prefect.resource.name": "no id"});
    assert!(refused(v.clone()).contains("prefect.resource.id"));
    v["resource"] = json!({"prefect.resource.id": ""});
    assert!(refused(v.clone()).contains("prefect.resource.id"));
    let mut labels = serde_json::Map::new();
    labels.insert("prefect.resource.id".into(), "r".into());
    for i in 0..499 {
        labels.insert(format!("l{i}"), "v".into());
    }
    v["resource"] = labels.clone().into();
    assert!(
        serde_json::from_value::<Event>(v.clone()).is_ok(),
        "500 labels is the limit"
    );
    labels.insert("one-more".into(), "v".into());
    v["resource"] = labels.into();
    assert!(refused(v).contains("the limit is 500"));
}

#[test]
fn related_resources_need_a_role_and_are_at_most_100() {
    let mut v = base();
    v["related"] = json!([{"prefect.resource.id": "x"}]);
    assert!(refused(v.clone()).contains("prefect.resource.role"));
    v["related"] = json!([{"prefect.resource.id": "x", "prefect.resource.role": ""}]);
    assert!(refused(v.clone()).contains("prefect.resource.role"));
    let one = json!({"prefect.resource.id": "x", "prefect.resource.role": "r"});
    v["related"] = serde_json::Value::Array(vec![one.clone(); 100]);
    assert!(serde_json::from_value::<Event>(v.clone()).is_ok());
    v["related"] = serde_json::Value::Array(vec![one; 101]);
    assert!(refused(v).contains("the limit is 100"));
}

#[test]
fn wrong_types_and_bad_timestamps_are_refused() {
    for (field, value) in [
        ("occurred", json!("yesterday")),
        ("occurred", json!(12)),
        ("id", json!("not-a-uuid")),
        ("resource", json!({"prefect.resource.id": 5})),
        ("payload", json!([1])),
        ("follows", json!("nope")),
    ] {
        let mut v = base();
        v[field] = value;
        assert!(serde_json::from_value::<Event>(v).is_err(), "{field}");
    }
}

#[test]
fn oversized_json_is_refused_before_it_is_parsed() {
    let big = vec![b' '; MAX_EVENT_SIZE + 1];
    match Event::from_json(&big) {
        Err(workbus_events::EventJsonError::Invalid(EventError::TooLarge { len, max })) => {
            assert_eq!((len, max), (MAX_EVENT_SIZE + 1, MAX_EVENT_SIZE));
        }
        other => panic!("{other:?}"),
    }
    assert!(Event::from_json(POOL_READY.as_bytes()).is_ok());
}

#[test]
fn duplicate_labels_keep_their_first_place_and_last_value() {
    let e = Event::from_json(
        br#"{"occurred":"2026-12-01T06:27:27Z","event":"e","resource":{"prefect.resource.id":"a","k":"1","prefect.resource.id":"b"},"id":"01a23049-68b4-7c86-b895-d7a4794175e9"}"#,
    )
    .unwrap();
    let labels: Vec<(&str, &str)> = e.resource.iter().collect();
    assert_eq!(labels, [("prefect.resource.id", "b"), ("k", "1")]);
}
