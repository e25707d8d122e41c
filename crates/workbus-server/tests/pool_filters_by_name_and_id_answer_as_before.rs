//! `POST /api/work_pools/filter` looks exact names and ids up in the tables
//! (so such a filter costs what it names, see `benches/pool_filter.rs`) and
//! answers exactly what a scan of every pool would: sorted by name, filtered
//! with `and_` or `or_`, paged by offset and limit.

mod common;

use actix_web::http::StatusCode;
use common::TestServer;
use serde_json::{json, Value};

async fn names(t: &TestServer, body: Value) -> Vec<String> {
    let (status, pools) = t.post("/api/work_pools/filter", body).await;
    assert_eq!(status, StatusCode::OK, "{pools}");
    pools
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

#[actix_rt::test]
async fn names_ids_types_and_pages() {
    let t = TestServer::start().await;
    let mut ids = std::collections::HashMap::new();
    for (name, kind) in [
        ("d", "docker"),
        ("b", "process"),
        ("a", "process"),
        ("c", "docker"),
    ] {
        let (status, pool) = t
            .post("/api/work_pools/", json!({"name": name, "type": kind}))
            .await;
        assert_eq!(status, StatusCode::CREATED);
        ids.insert(name, pool["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(names(&t, json!({})).await, ["a", "b", "c", "d"]);
    assert_eq!(names(&t, json!({"limit": 1})).await, ["a"]);
    assert_eq!(
        names(&t, json!({"limit": 2, "offset": 1})).await,
        ["b", "c"]
    );
    let by_name = json!({"work_pools": {"name": {"any_": ["d", "nope", "a", "a"]}}});
    assert_eq!(names(&t, by_name).await, ["a", "d"]);
    let by_id = json!({"work_pools": {"id": {"any_": [ids["c"], ids["b"]]}}});
    assert_eq!(names(&t, by_id).await, ["b", "c"]);
    let name_and_type = json!({"work_pools": {
        "name": {"any_": ["a", "c"]}, "type": {"any_": ["docker"]}}});
    assert_eq!(names(&t, name_and_type).await, ["c"]);
    let name_and_id = json!({"work_pools": {
        "name": {"any_": ["a", "c"]}, "id": {"any_": [ids["a"]]}}});
    assert_eq!(names(&t, name_and_id).await, ["a"]);
    let name_or_id = json!({"work_pools": {"operator": "or_",
        "name": {"any_": ["a"]}, "id": {"any_": [ids["d"]]}}});
    assert_eq!(names(&t, name_or_id).await, ["a", "d"]);
    let name_or_type = json!({"work_pools": {"operator": "or_",
        "name": {"any_": ["a"]}, "type": {"any_": ["docker"]}}});
    assert_eq!(names(&t, name_or_type).await, ["a", "c", "d"]);
    let by_type_paged = json!({"work_pools": {"type": {"any_": ["process"]}}, "offset": 1});
    assert_eq!(names(&t, by_type_paged).await, ["b"]);
    let (status, _) = t
        .post("/api/work_pools/filter", json!({"limit": 201}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}
