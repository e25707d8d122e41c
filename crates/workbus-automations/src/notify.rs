//! The `call-webhook` and `send-notification` actions, as Prefect's
//! `CallWebhook` and `SendNotification` act: the block document they name
//! (added to the action's related resources), their templates rendered, then
//! the call.

use std::time::Duration;

use awc::http::Method;
use serde_json::{Map, Value};
use workbus_events::{Payload, Resource};

use crate::act::{inferred, Env, Failure, Scene};
use crate::blocks::DocumentView;
use crate::call::{self, Body, Call, CallError};
use crate::model::{CallWebhook, SendNotification};
use crate::template;

/// A webhook's timeout, where its block does not give one (httpx's default is 5 s).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The block document an action names, with its resources added to the action's
/// related ones.
fn block(
    env: &Env,
    id: uuid::Uuid,
    kind: &str,
    targets: &mut Vec<Resource>,
) -> Result<DocumentView, Failure> {
    let doc = env.blocks.document(id, true).map_err(|_| {
        let mut details = Map::new();
        details.insert("status_code".into(), Value::from(404));
        Failure {
            reason: format!("Unexpected status from '{kind}' action: 404"),
            details,
        }
    })?;
    targets.push(
        Resource::builder()
            .label(
                "prefect.resource.id",
                format!("prefect.block-document.{id}"),
            )
            .label("prefect.resource.role", "block")
            .label("prefect.resource.name", doc.document.name.clone())
            .build_unchecked(),
    );
    targets.push(
        Resource::builder()
            .label(
                "prefect.resource.id",
                format!("prefect.block-type.{}", doc.block_type.slug),
            )
            .label("prefect.resource.role", "block-type")
            .build_unchecked(),
    );
    Ok(doc)
}

/// An event as templates see it: Prefect's JSON, with `id`, `name` and `role`
/// on each resource as Prefect's `Resource` has them.
fn event_value(scene: &Scene<'_>) -> Value {
    let Some(event) = scene.event else {
        return Value::Null;
    };
    let mut value = serde_json::to_value(&**event).unwrap_or(Value::Null);
    let enrich = |r: &mut Value| {
        if let Value::Object(m) = r {
            for (short, label) in [
                ("id", "prefect.resource.id"),
                ("name", "prefect.resource.name"),
                ("role", "prefect.resource.role"),
            ] {
                if let Some(v) = m.get(label).cloned() {
                    m.entry(short).or_insert(v);
                }
            }
        }
    };
    if let Value::Object(m) = &mut value {
        if let Some(r) = m.get_mut("resource") {
            enrich(r);
        }
        if let Some(Value::Array(related)) = m.get_mut("related") {
            related.iter_mut().for_each(enrich);
        }
    }
    value
}

/// Prefect's template context: `automation`, `event`, `labels`, and the
/// `work_pool` or `work_queue` of the event when a template names them.
async fn context(env: &Env, templates: &[&str], scene: &Scene<'_>) -> Value {
    let mut ctx = Map::new();
    ctx.insert(
        "automation".into(),
        serde_json::to_value(scene.automation).unwrap_or(Value::Null),
    );
    ctx.insert("event".into(), event_value(scene));
    ctx.insert(
        "labels".into(),
        Value::Object(
            scene
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), Value::from(v.clone())))
                .collect(),
        ),
    );
    let named = |word: &str| templates.iter().any(|t| t.contains(word));
    if named("work_pool") {
        if let Ok(id) = inferred(scene.event, "prefect.work-pool") {
            if let Ok(pool) = env.bus.pool_by_id(id).await {
                ctx.insert(
                    "work_pool".into(),
                    serde_json::to_value(pool).unwrap_or(Value::Null),
                );
            }
        }
    }
    if named("work_queue") {
        if let Ok(id) = inferred(scene.event, "prefect.work-queue") {
            if let Ok(queue) = env.bus.queue_by_id(id).await {
                ctx.insert(
                    "work_queue".into(),
                    serde_json::to_value(queue).unwrap_or(Value::Null),
                );
            }
        }
    }
    Value::Object(ctx)
}

async fn render(env: &Env, templates: &[&str], scene: &Scene<'_>) -> Result<Vec<String>, Failure> {
    let ctx = context(env, templates, scene).await;
    templates
        .iter()
        .map(|t| {
            template::render(t, &ctx).map_err(|e| {
                let mut details = Map::new();
                details.insert("template_error".into(), Value::from(e.to_string()));
                details.insert("template_source".into(), Value::from(t.to_string()));
                Failure {
                    reason: format!("Template rendering failed: {e}"),
                    details,
                }
            })
        })
        .collect()
}

fn method(data: &Map<String, Value>) -> Result<Method, String> {
    match data.get("method").and_then(Value::as_str).unwrap_or("POST") {
        m @ ("GET" | "POST" | "PUT" | "PATCH" | "DELETE") => {
            Method::from_bytes(m.as_bytes()).map_err(|e| e.to_string())
        }
        other => Err(format!(
            "method {other:?} is not one of GET, POST, PUT, PATCH, DELETE"
        )),
    }
}

fn strings(value: Option<&Value>) -> Vec<(String, String)> {
    match value {
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), v)
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn private_allowed(data: &Map<String, Value>) -> bool {
    data.get("allow_private_urls")
        .and_then(Value::as_bool)
        .unwrap_or(true)
}

/// The call a `webhook` block makes with this payload (Prefect's `Webhook.call`).
fn webhook_call(data: &Map<String, Value>, payload: String) -> Result<Call, String> {
    let url = data
        .get("url")
        .and_then(Value::as_str)
        .ok_or("url is required")?
        .to_owned();
    Ok(Call {
        method: method(data)?,
        url,
        headers: strings(data.get("headers")),
        query: Vec::new(),
        body: Body::Text(payload),
        timeout: DEFAULT_TIMEOUT,
        refuse_private: !private_allowed(data),
    })
}

/// `call-webhook`: executed with the answer's status, body and headers.
pub(crate) async fn call_webhook(
    env: &Env,
    action: &CallWebhook,
    scene: &Scene<'_>,
    targets: &mut Vec<Resource>,
) -> Result<Payload, Failure> {
    let doc = block(env, action.block_document_id, "call-webhook", targets)?;
    if doc.block_type.slug != "webhook" {
        return Err(Failure::new("The referenced block was not a webhook block"));
    }
    let call = webhook_call(&doc.document.data, String::new())
        .map_err(|e| Failure::new(format!("The webhook block was invalid: {e}")))?;
    let payload = render(env, &[&action.payload], scene).await?.remove(0);
    let call = Call {
        body: Body::Text(payload),
        ..call
    };
    match call::send(&env.stats, &call).await {
        Ok(answer) => Ok(answer.details()),
        Err(CallError::Transport(e)) => Err(Failure::new(format!("Webhook call failed: {e}"))),
        Err(CallError::Status(answer)) => Err(Failure {
            reason: format!("Webhook call failed: status {}", answer.status),
            details: answer.details(),
        }),
    }
}

/// The call a `custom-webhook` notification block makes (Prefect's
/// `CustomWebhookNotificationBlock`): its `{{subject}}`, `{{body}}`, `{{name}}`
/// and secrets put in.
fn custom_webhook_call(
    data: &Map<String, Value>,
    subject: String,
    body: String,
) -> Result<Call, String> {
    let mut values = match data.get("secrets") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    let name = data.get("name").cloned().unwrap_or(Value::Null);
    values.insert("subject".into(), Value::from(subject));
    values.insert("body".into(), Value::from(body));
    values.insert("name".into(), name);
    let field = |k: &str| {
        data.get(k)
            .filter(|v| !v.is_null())
            .map(|v| call::apply_values(v, &values))
    };
    let url = match field("url") {
        Some(Value::String(u)) => u,
        _ => return Err("url is required".into()),
    };
    let body = match (field("json_data"), field("form_data")) {
        (Some(_), Some(_)) => return Err("both `Form Data` and `JSON Data` provided".into()),
        (Some(json), None) => Body::Json(json),
        (None, Some(Value::String(text))) => Body::Text(text),
        (None, Some(form)) => Body::Form(strings(Some(&form))),
        (None, None) => Body::None,
    };
    let mut headers = vec![("user-agent".to_owned(), "Prefect Notifications".to_owned())];
    headers.extend(strings(field("headers").as_ref()));
    let cookies = strings(field("cookies").as_ref());
    if !cookies.is_empty() {
        let line: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        headers.push(("cookie".to_owned(), line.join("; ")));
    }
    let timeout = data
        .get("timeout")
        .and_then(Value::as_f64)
        .filter(|t| t.is_finite() && *t > 0.0)
        .map(|t| Duration::from_secs_f64(t.min(300.0)))
        .unwrap_or(DEFAULT_TIMEOUT);
    Ok(Call {
        method: method(data)?,
        url,
        headers,
        query: strings(field("params").as_ref()),
        body,
        timeout,
        refuse_private: !private_allowed(data),
    })
}

/// `send-notification`, through a `custom-webhook` block: executed when it is
/// answered with a success, failed (`Notification failed`) otherwise.
pub(crate) async fn send_notification(
    env: &Env,
    action: &SendNotification,
    scene: &Scene<'_>,
    targets: &mut Vec<Resource>,
) -> Result<Payload, Failure> {
    let doc = block(env, action.block_document_id, "send-notification", targets)?;
    if !doc
        .block_schema
        .schema
        .capabilities
        .iter()
        .any(|c| c == "notify")
    {
        return Err(Failure::new(
            "The referenced block was not a notification block",
        ));
    }
    let slug = doc.block_type.slug.as_str();
    if slug != "custom-webhook" {
        return Err(Failure::new(format!(
            "workbus sends notifications through custom-webhook blocks; a {slug} block is not served"
        )));
    }
    let mut rendered = render(env, &[&action.subject, &action.body], scene).await?;
    let body = rendered.pop().unwrap_or_default();
    let subject = rendered.pop().unwrap_or_default();
    let call = custom_webhook_call(&doc.document.data, subject, body)
        .map_err(|e| Failure::new(format!("The notification block was invalid: {e}")))?;
    let log = match call::send(&env.stats, &call).await {
        Ok(_) => return Ok(Map::new()),
        Err(CallError::Transport(e)) => e,
        Err(CallError::Status(answer)) => format!("the webhook answered {}", answer.status),
    };
    let mut details = Map::new();
    details.insert("notification_log".into(), Value::from(log));
    Err(Failure {
        reason: "Notification failed".into(),
        details,
    })
}
