//! Actions: what an automation does when it fires.

use serde::de::Error as _;
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use uuid::Uuid;

use crate::template;

/// Where an action finds its work pool or queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The one given by id.
    #[default]
    Selected,
    /// The first of its kind among the triggering event's resource and related resources.
    Inferred,
}

/// An action (Prefect's JSON, `{"type": "pause-work-pool", "source": "inferred", ...}`).
///
/// workbus takes the actions that act on what it serves, and webhooks and
/// notifications through block documents. Prefect's others (flow runs,
/// deployments) are refused with a clear error when an automation is created,
/// never accepted and then skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing: the firing's events are the point.
    DoNothing,
    /// Pauses a work pool.
    PauseWorkPool(Target),
    /// Resumes a work pool.
    ResumeWorkPool(Target),
    /// Pauses a work queue.
    PauseWorkQueue(Target),
    /// Resumes a work queue.
    ResumeWorkQueue(Target),
    /// Calls the webhook of a `webhook` block document with a rendered payload.
    CallWebhook(CallWebhook),
    /// Sends a rendered notification through a notification block document.
    SendNotification(SendNotification),
}

/// The `call-webhook` action: a [`Webhook` block document](crate::blocks) and the
/// Jinja template of the body it sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallWebhook {
    /// The webhook block document.
    pub block_document_id: Uuid,
    /// The body's template (empty: no body).
    pub payload: String,
}

/// The `send-notification` action: a notification block document and the Jinja
/// templates of the subject and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendNotification {
    /// The notification block document.
    pub block_document_id: Uuid,
    /// The subject's template (Prefect's default: `Prefect automated notification`).
    pub subject: String,
    /// The body's template.
    pub body: String,
}

impl CallWebhook {
    /// A call of this webhook block document with this payload template;
    /// refused if the template does not parse.
    pub fn new(block_document_id: Uuid, payload: impl Into<String>) -> Result<Self, String> {
        let payload = payload.into();
        template::check(&payload, "payload")?;
        Ok(CallWebhook {
            block_document_id,
            payload,
        })
    }
}

impl SendNotification {
    /// A notification through this block document; refused if a template does not parse.
    pub fn new(
        block_document_id: Uuid,
        subject: impl Into<String>,
        body: impl Into<String>,
    ) -> Result<Self, String> {
        let (subject, body) = (subject.into(), body.into());
        template::check(&subject, "subject")?;
        template::check(&body, "body")?;
        Ok(SendNotification {
            block_document_id,
            subject,
            body,
        })
    }
}

/// A work pool or queue: selected by id, or inferred from the triggering event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    /// Selected or inferred.
    pub source: Source,
    /// The id, when selected.
    pub id: Option<Uuid>,
}

impl Target {
    /// The one with this id.
    pub fn selected(id: Uuid) -> Self {
        Target {
            source: Source::Selected,
            id: Some(id),
        }
    }

    /// The one the triggering event is about.
    pub fn inferred() -> Self {
        Target {
            source: Source::Inferred,
            id: None,
        }
    }
}

impl Action {
    /// Its type as Prefect names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::DoNothing => "do-nothing",
            Action::PauseWorkPool(_) => "pause-work-pool",
            Action::ResumeWorkPool(_) => "resume-work-pool",
            Action::PauseWorkQueue(_) => "pause-work-queue",
            Action::ResumeWorkQueue(_) => "resume-work-queue",
            Action::CallWebhook(_) => "call-webhook",
            Action::SendNotification(_) => "send-notification",
        }
    }

    fn id_field(&self) -> Option<&'static str> {
        match self {
            Action::DoNothing | Action::CallWebhook(_) | Action::SendNotification(_) => None,
            Action::PauseWorkPool(_) | Action::ResumeWorkPool(_) => Some("work_pool_id"),
            Action::PauseWorkQueue(_) | Action::ResumeWorkQueue(_) => Some("work_queue_id"),
        }
    }

    /// The work pool or queue it acts on, if any.
    pub fn target(&self) -> Option<&Target> {
        match self {
            Action::DoNothing | Action::CallWebhook(_) | Action::SendNotification(_) => None,
            Action::PauseWorkPool(t)
            | Action::ResumeWorkPool(t)
            | Action::PauseWorkQueue(t)
            | Action::ResumeWorkQueue(t) => Some(t),
        }
    }
}

impl Serialize for Action {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Action", 4)?;
        st.serialize_field("type", self.kind())?;
        match self {
            Action::CallWebhook(w) => {
                st.serialize_field("block_document_id", &w.block_document_id)?;
                st.serialize_field("payload", &w.payload)?;
            }
            Action::SendNotification(n) => {
                st.serialize_field("block_document_id", &n.block_document_id)?;
                st.serialize_field("subject", &n.subject)?;
                st.serialize_field("body", &n.body)?;
            }
            _ => {}
        }
        if let (Some(field), Some(target)) = (self.id_field(), self.target()) {
            st.serialize_field("source", &target.source)?;
            st.serialize_field(field, &target.id)?;
        }
        st.end()
    }
}

/// Prefect's action types that workbus has nothing to act on.
const ELSEWHERE: &[&str] = &[
    "run-deployment",
    "pause-deployment",
    "resume-deployment",
    "change-flow-run-state",
    "cancel-flow-run",
    "delete-flow-run",
    "suspend-flow-run",
    "resume-flow-run",
    "pause-automation",
    "resume-automation",
    "emit-event",
];

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        let Value::Object(map) = value else {
            return Err(D::Error::custom("an action is an object"));
        };
        let kind = match map.get("type") {
            Some(Value::String(t)) => t.as_str(),
            _ => return Err(D::Error::custom("an action needs its `type`")),
        };
        let target = |field: &str| -> Result<Target, D::Error> {
            let source: Source = match map.get("source") {
                None | Some(Value::Null) => Source::Selected,
                Some(v) => Source::deserialize(v)
                    .map_err(|_| D::Error::custom("source: \"selected\" or \"inferred\""))?,
            };
            let id: Option<Uuid> = match map.get(field) {
                None | Some(Value::Null) => None,
                Some(v) => Some(
                    Uuid::deserialize(v)
                        .map_err(|_| D::Error::custom(format!("{field}: a UUID")))?,
                ),
            };
            match (source, id) {
                (Source::Selected, None) => Err(D::Error::custom(format!("{field} is required"))),
                (Source::Inferred, Some(_)) => {
                    Err(D::Error::custom(format!("{field} is not allowed")))
                }
                _ => Ok(Target { source, id }),
            }
        };
        match kind {
            "do-nothing" => Ok(Action::DoNothing),
            "pause-work-pool" => Ok(Action::PauseWorkPool(target("work_pool_id")?)),
            "resume-work-pool" => Ok(Action::ResumeWorkPool(target("work_pool_id")?)),
            "pause-work-queue" => Ok(Action::PauseWorkQueue(target("work_queue_id")?)),
            "resume-work-queue" => Ok(Action::ResumeWorkQueue(target("work_queue_id")?)),
            "call-webhook" => {
                // Prefect keeps an object payload of older clients as indented JSON.
                let payload = match map.get("payload") {
                    None | Some(Value::Null) => String::new(),
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => serde_json::to_string_pretty(other).map_err(D::Error::custom)?,
                };
                CallWebhook::new(block_document_id(&map)?, payload)
                    .map(Action::CallWebhook)
                    .map_err(D::Error::custom)
            }
            "send-notification" => {
                let text = |field: &str| match map.get(field) {
                    Some(Value::String(s)) => Ok(Some(s.clone())),
                    None => Ok(None),
                    Some(_) => Err(D::Error::custom(format!("{field}: a string"))),
                };
                let subject =
                    text("subject")?.unwrap_or_else(|| "Prefect automated notification".to_owned());
                let body = text("body")?.ok_or_else(|| D::Error::custom("body is required"))?;
                SendNotification::new(block_document_id(&map)?, subject, body)
                    .map(Action::SendNotification)
                    .map_err(D::Error::custom)
            }
            other if ELSEWHERE.contains(&other) => Err(D::Error::custom(format!(
                "action type {other:?} is not served by workbus: it takes do-nothing, \
                 pause-work-pool, resume-work-pool, pause-work-queue, resume-work-queue, \
                 call-webhook and send-notification"
            ))),
            other => Err(D::Error::custom(format!("unknown action type {other:?}"))),
        }
    }
}

fn block_document_id<E: serde::de::Error>(map: &serde_json::Map<String, Value>) -> Result<Uuid, E> {
    match map.get("block_document_id") {
        Some(v) => Uuid::deserialize(v).map_err(|_| E::custom("block_document_id: a UUID")),
        None => Err(E::custom("block_document_id is required")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selected_needs_an_id_and_inferred_refuses_one() {
        let read = |j: &str| serde_json::from_str::<Action>(j);
        assert!(read(r#"{"type":"pause-work-pool"}"#).is_err());
        assert!(read(r#"{"type":"pause-work-pool","source":"inferred"}"#).is_ok());
        let id = Uuid::new_v4();
        assert!(read(&format!(
            r#"{{"type":"pause-work-queue","source":"inferred","work_queue_id":"{id}"}}"#
        ))
        .is_err());
        let a = read(&format!(
            r#"{{"type":"resume-work-queue","work_queue_id":"{id}"}}"#
        ))
        .unwrap();
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            format!(r#"{{"type":"resume-work-queue","source":"selected","work_queue_id":"{id}"}}"#)
        );
        assert!(read(r#"{"type":"run-deployment","source":"inferred"}"#).is_err());
        assert_eq!(
            serde_json::to_string(&Action::DoNothing).unwrap(),
            r#"{"type":"do-nothing"}"#
        );
    }
}
