//! A name the server accepts can be reached by every route, and reads as what
//! it is: too long, blank, hidden or reordering characters, and look-alikes of
//! the reserved `prefect` are refused, and a refusal never echoes a huge name.

mod common;

use actix_web::http::StatusCode;
use common::TestServer;
use serde_json::json;

#[actix_rt::test]
async fn a_name_too_long_for_a_path_is_refused_with_422() {
    let t = TestServer::start().await;
    let huge = "a".repeat(1_000_000);
    let (status, body) = t
        .post("/api/work_pools/", json!({"name": huge, "type": "process"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body:.200}");
    assert!(body.to_string().len() < 4096, "the refusal is short");
    for (what, path, body) in [
        (
            "pool",
            "/api/work_pools/",
            json!({"name": "b".repeat(256), "type": "process"}),
        ),
        (
            "type",
            "/api/work_pools/",
            json!({"name": "ok", "type": "t".repeat(256)}),
        ),
    ] {
        let (status, _) = t.post(path, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}");
    }
    t.pool("etl").await;
    let (status, _) = t
        .post(
            "/api/work_pools/etl/queues",
            json!({"name": "q".repeat(256)}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = t
        .post(
            "/api/work_pools/etl/workers/heartbeat",
            json!({"name": "w".repeat(256)}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = t.get("/api/work_pools/etl").await;
    assert_eq!(status, StatusCode::OK, "nothing changed");
}

#[actix_rt::test]
async fn the_longest_name_is_reachable_on_every_route() {
    let t = TestServer::start().await;
    // 255 characters of four bytes each: the worst a path can carry.
    let name = "\u{1F680}".repeat(255);
    let enc: String = name.bytes().map(|b| format!("%{b:02X}")).collect();
    t.pool(&name).await;
    let (status, body) = t.get(&format!("/api/work_pools/{enc}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = t
        .post(
            &format!("/api/work_pools/{enc}/queues"),
            json!({"name": name}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = t
        .post(
            &format!("/api/work_pools/{enc}/workers/heartbeat"),
            json!({"name": name}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = t.get(&format!("/api/work_pools/{enc}/queues/{enc}")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = t
        .delete(&format!("/api/work_pools/{enc}/workers/{enc}"))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = t.delete(&format!("/api/work_pools/{enc}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[actix_rt::test]
async fn hidden_and_blank_names_are_refused_with_422() {
    let t = TestServer::start().await;
    t.pool("etl").await;
    for bad in [
        "  ",
        "\t",
        "a\u{0}b",
        "a\rb",
        "a\nb",
        "a\tb",
        "a\u{202E}b",
        "a\u{2066}b",
        "a\u{200D}b",
        "a\u{200B}b",
        "\u{FEFF}a",
        "a\u{85}b",
    ] {
        let (status, _) = t
            .post("/api/work_pools/", json!({"name": bad, "type": "process"}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "pool {bad:?}");
        let (status, _) = t
            .post("/api/work_pools/etl/queues", json!({"name": bad}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "queue {bad:?}");
        let (status, _) = t
            .post(
                "/api/work_pools/etl/workers/heartbeat",
                json!({"name": bad}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "worker {bad:?}");
    }
    let (status, _) = t
        .patch(
            "/api/work_pools/etl/queues/default",
            json!({"name": "x\u{202E}y"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "rename");
    let (status, queues) = t.post("/api/work_pools/etl/queues/filter", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        queues.as_array().map(Vec::len),
        Some(1),
        "nothing was created"
    );
}

#[actix_rt::test]
async fn look_alikes_of_prefect_are_reserved() {
    let t = TestServer::start().await;
    for name in [
        "prefect-x",
        "PREFECT",
        "\u{440}refect",                                                 // Cyrillic р
        "\u{FF50}\u{FF52}\u{FF45}\u{FF46}\u{FF45}\u{FF43}\u{FF54}-pool", // fullwidth
        "pr\u{435}fect",                                                 // Cyrillic е
    ] {
        let (status, _) = t
            .post("/api/work_pools/", json!({"name": name, "type": "process"}))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name:?}");
    }
    for name in ["perfect", "my-prefect"] {
        t.pool(name).await;
    }
}

#[actix_rt::test]
async fn a_404_does_not_repeat_a_huge_name() {
    let t = TestServer::start().await;
    let name = "n".repeat(10_000);
    for path in [
        format!("/api/work_pools/{name}"),
        format!("/api/work_pools/{name}/queues/{name}"),
    ] {
        let (status, body) = t.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(
            body.to_string().len() < 512,
            "{} bytes",
            body.to_string().len()
        );
    }
}
