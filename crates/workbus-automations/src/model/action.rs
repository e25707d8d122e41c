//! Actions: what an automation does when it fires.

use serde::de::Error as _;
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use uuid::Uuid;

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
/// workbus takes the actions that act on what it serves. Prefect's others (flow
/// runs, deployments, webhooks and notifications through blocks) are refused with
/// a clear error when an automation is created, never accepted and then skipped.
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
        }
    }

    fn id_field(&self) -> Option<&'static str> {
        match self {
            Action::DoNothing => None,
            Action::PauseWorkPool(_) | Action::ResumeWorkPool(_) => Some("work_pool_id"),
            Action::PauseWorkQueue(_) | Action::ResumeWorkQueue(_) => Some("work_queue_id"),
        }
    }

    /// The work pool or queue it acts on, if any.
    pub fn target(&self) -> Option<&Target> {
        match self {
            Action::DoNothing => None,
            Action::PauseWorkPool(t)
            | Action::ResumeWorkPool(t)
            | Action::PauseWorkQueue(t)
            | Action::ResumeWorkQueue(t) => Some(t),
        }
    }
}

impl Serialize for Action {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Action", 3)?;
        st.serialize_field("type", self.kind())?;
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
    "call-webhook",
    "send-notification",
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
            other if ELSEWHERE.contains(&other) => Err(D::Error::custom(format!(
                "action type {other:?} is not served by workbus: it takes do-nothing, \
                 pause-work-pool, resume-work-pool, pause-work-queue and resume-work-queue"
            ))),
            other => Err(D::Error::custom(format!("unknown action type {other:?}"))),
        }
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
