//! The block routes answer as Prefect 3.9.1's, in the order its client calls
//! them to save a `Webhook` block: the type by slug (404, then made: 201; a
//! second with the slug: 409), the schema by checksum (404, then made: 201,
//! then found by the checksum Prefect's client computes), the document (201; the
//! same name again: 409), read by id and by name with secrets hidden unless
//! asked for, patched (204, data merged), filtered, deleted (204, then 404).
//! Bad input is refused with 422 and changes nothing.

mod common;

use actix_web::http::StatusCode;
use common::TestServer;
use serde_json::{json, Value};

/// The fields Prefect 3.9.1's `Webhook` block sends, trimmed: what matters is
/// that the checksum is computed over them without `secret_fields`.
fn webhook_fields() -> Value {
    json!({
        "title": "Webhook",
        "type": "object",
        "properties": {
            "method": {"default": "POST", "enum": ["GET", "POST", "PUT", "PATCH", "DELETE"], "type": "string"},
            "url": {"format": "password", "title": "Webhook URL", "type": "string", "writeOnly": true},
            "headers": {"title": "Webhook Headers", "type": "object"}
        },
        "required": ["url"],
        "block_type_slug": "webhook",
        "secret_fields": ["url", "headers.*"],
        "block_schema_references": {}
    })
}

#[actix_rt::test]
async fn save_load_update_and_delete_a_webhook_block() {
    let t = TestServer::start().await;
    let (status, _) = t.get("/api/block_types/slug/webhook").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, block_type) = t
        .post(
            "/api/block_types/",
            json!({"name": "Webhook", "slug": "webhook", "logo_url": null, "documentation_url": null, "description": "calls", "code_example": ""}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{block_type}");
    let type_id = block_type["id"].as_str().unwrap().to_owned();
    let (status, body) = t
        .post(
            "/api/block_types/",
            json!({"name": "Again", "slug": "webhook"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, _) = t
        .patch(
            &format!("/api/block_types/{type_id}"),
            json!({"description": "calls webhooks"}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, read) = t.get("/api/block_types/slug/webhook").await;
    assert_eq!(read["description"], "calls webhooks");

    // That this is the checksum Prefect's own client computes is checked against
    // the client in tests/interop/prefect_blocks.sh.
    let (status, schema) = t
        .post(
            "/api/block_schemas/",
            json!({"fields": webhook_fields(), "block_type_id": type_id, "capabilities": [], "version": "3.9.1"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{schema}");
    let checksum = schema["checksum"].as_str().unwrap().to_owned();
    assert!(checksum.starts_with("sha256:"));
    assert_eq!(schema["block_type"]["slug"], "webhook");
    let (status, found) = t
        .get(&format!(
            "/api/block_schemas/checksum/{checksum}?version=3.9.1"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found["id"], schema["id"]);
    let (status, _) = t
        .get(&format!(
            "/api/block_schemas/checksum/{checksum}?version=0.1"
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The same fields again make no second schema.
    let (_, again) = t
        .post(
            "/api/block_schemas/",
            json!({"fields": webhook_fields(), "block_type_id": type_id, "capabilities": [], "version": "3.9.1"}),
        )
        .await;
    assert_eq!(again["id"], schema["id"]);

    let doc = json!({
        "name": "ops-hook",
        "data": {"method": "POST", "url": "http://127.0.0.1:9/hook", "headers": {"x-token": "t0k"}},
        "block_schema_id": schema["id"],
        "block_type_id": type_id,
        "is_anonymous": false
    });
    let (status, created) = t.post("/api/block_documents/", doc.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        created["data"]["url"], "********",
        "secrets hidden in the answer"
    );
    assert_eq!(created["block_type_name"], "Webhook");
    let id = created["id"].as_str().unwrap().to_owned();
    let (status, body) = t.post("/api/block_documents/", doc).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["detail"], "Block already exists");

    let (_, hidden) = t.get(&format!("/api/block_documents/{id}")).await;
    assert_eq!(hidden["data"]["headers"]["x-token"], "********");
    assert_eq!(hidden["data"]["method"], "POST");
    let (_, shown) = t
        .get(&format!("/api/block_documents/{id}?include_secrets=true"))
        .await;
    assert_eq!(shown["data"]["url"], "http://127.0.0.1:9/hook");
    let (status, by_name) = t
        .get("/api/block_types/slug/webhook/block_documents/name/ops-hook?include_secrets=true")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_name, shown);

    let (status, _) = t
        .patch(
            &format!("/api/block_documents/{id}"),
            json!({"data": {"method": "PUT"}, "merge_existing_data": true}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, patched) = t
        .get(&format!("/api/block_documents/{id}?include_secrets=true"))
        .await;
    assert_eq!(patched["data"]["method"], "PUT");
    assert_eq!(patched["data"]["url"], "http://127.0.0.1:9/hook", "merged");

    let (_, listed) = t.post("/api/block_documents/filter", json!({})).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let (_, of_type) = t.get("/api/block_types/slug/webhook/block_documents").await;
    assert_eq!(of_type.as_array().unwrap().len(), 1);
    let (_, schemas) = t
        .post(
            "/api/block_schemas/filter",
            json!({"block_schemas": {"block_type_id": {"any_": [type_id]}}, "limit": 1}),
        )
        .await;
    assert_eq!(schemas[0]["id"], schema["id"]);

    let (status, _) = t.delete(&format!("/api/block_documents/{id}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = t.get(&format!("/api/block_documents/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["detail"], "Block document not found");
}

#[actix_rt::test]
async fn bad_blocks_are_refused_and_change_nothing() {
    let t = TestServer::start().await;
    let (_, block_type) = t
        .post(
            "/api/block_types/",
            json!({"name": "Webhook", "slug": "webhook"}),
        )
        .await;
    let (_, schema) = t
        .post(
            "/api/block_schemas/",
            json!({"fields": webhook_fields(), "block_type_id": block_type["id"]}),
        )
        .await;
    for (bad, path) in [
        (
            json!({"name": "x", "slug": "Not A Slug"}),
            "/api/block_types/",
        ),
        (
            json!({"name": "x", "slug": "ok", "colour": 1}),
            "/api/block_types/",
        ),
        (
            json!({"name": "Has Spaces", "data": {}, "block_schema_id": schema["id"], "block_type_id": block_type["id"]}),
            "/api/block_documents/",
        ),
        (
            json!({"data": {}, "block_schema_id": schema["id"], "block_type_id": block_type["id"]}),
            "/api/block_documents/",
        ),
        (
            json!({"name": "big", "data": {"x": "y".repeat(300_000)}, "block_schema_id": schema["id"], "block_type_id": block_type["id"]}),
            "/api/block_documents/",
        ),
    ] {
        let (status, body) = t.post(path, bad.clone()).await;
        assert!(
            status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::PAYLOAD_TOO_LARGE,
            "{bad} -> {status} {body}"
        );
        assert!(body["detail"].is_string(), "{body}");
    }
    let (_, listed) = t.post("/api/block_documents/filter", json!({})).await;
    assert_eq!(listed, json!([]));
    let (_, types) = t.post("/api/block_types/filter", json!({})).await;
    assert_eq!(types.as_array().unwrap().len(), 1);
    let (status, _) = t
        .get("/api/block_documents/00000000-0000-0000-0000-000000000000")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
