//! The event itself, its JSON, and Prefect's validation rules.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::{EventError, Resource, Timestamp, MAX_EVENT_NAME_LEN, MAX_EVENT_SIZE, MAX_RELATED};

/// An event's payload: a JSON object whose keys keep their order.
pub type Payload = Map<String, Value>;

/// A Prefect event.
///
/// The fields are Prefect's, and serialize in Prefect's order: `occurred`,
/// `event`, `resource`, `related`, `payload`, `id`, `follows`, then `received`
/// when it is set (Prefect's `ReceivedEvent`). The resource and the related
/// list are shared (`Arc`), so an actor builds them once and reuses them.
///
/// Deserializing checks Prefect's rules (see [`Event::validate`]) and ignores
/// unknown fields, as Prefect's server does.
///
/// # Examples
///
/// ```
/// use workbus_events::Event;
///
/// let json = r#"{"occurred":"2026-12-01T06:27:27.028685Z","event":"prefect.work-pool.ready","resource":{"prefect.resource.id":"prefect.work-pool.dd18f2e4-7889-416c-a057-1e0867d1f37d","prefect.resource.name":"rs-pool","prefect.work-pool.type":"process"},"related":[],"payload":{},"id":"01a23049-68b4-7c86-b895-d7a4794175e9","follows":"01a23049-5cc4-7650-bac8-4a58f9795360","received":"2026-12-01T06:27:27.032262Z"}"#;
/// let event: Event = serde_json::from_str(json).unwrap();
/// assert_eq!(event.event, "prefect.work-pool.ready");
/// assert_eq!(serde_json::to_string(&event).unwrap(), json);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// When it happened.
    pub occurred: Timestamp,
    /// Its name, such as `prefect.work-pool.ready`.
    pub event: Cow<'static, str>,
    /// The resource it is about.
    pub resource: Resource,
    /// Other resources involved, each with a role.
    pub related: Arc<[Resource]>,
    /// Details.
    pub payload: Payload,
    /// Its id, a UUID v7 for the events workbus emits.
    pub id: Uuid,
    /// The id of the event it follows causally, if any.
    pub follows: Option<Uuid>,
    /// When the bus received it (set by the registry; Prefect's `ReceivedEvent.received`).
    pub received: Option<Timestamp>,
}

/// The empty related list, shared so that events without related resources allocate nothing for it.
pub fn no_related() -> Arc<[Resource]> {
    static EMPTY: OnceLock<Arc<[Resource]>> = OnceLock::new();
    EMPTY.get_or_init(|| Arc::from(Vec::new())).clone()
}

impl Event {
    /// Which of the twelve work-pool and work-queue kinds it is, if it is one.
    pub fn kind(&self) -> Option<crate::EventKind> {
        crate::EventKind::of(&self.event)
    }

    /// The status a status event announces (`ready`, `not-ready`, `paused`).
    pub fn status(&self) -> Option<crate::prefect::Status> {
        self.kind().and_then(crate::EventKind::status)
    }

    /// The work pool it concerns: its primary resource for a pool event, the
    /// related resource in the role `work-pool` for a queue event.
    pub fn pool(&self) -> Option<&Resource> {
        match self.kind()?.subject() {
            crate::Subject::Pool => Some(&self.resource),
            crate::Subject::Queue => self.related.iter().find(|r| r.role() == Some("work-pool")),
        }
    }

    /// Checks Prefect's rules: the name at most [`MAX_EVENT_NAME_LEN`]
    /// characters; the resource with a non-empty id and at most
    /// [`MAX_LABELS`](crate::MAX_LABELS) labels; at most [`MAX_RELATED`]
    /// related resources, each valid and with a non-empty role.
    pub fn validate(&self) -> Result<(), EventError> {
        let len = self.event.chars().count();
        if len > MAX_EVENT_NAME_LEN {
            return Err(EventError::NameTooLong {
                len,
                max: MAX_EVENT_NAME_LEN,
            });
        }
        self.resource.validate()?;
        if self.related.len() > MAX_RELATED {
            return Err(EventError::TooManyRelated {
                len: self.related.len(),
                max: MAX_RELATED,
            });
        }
        self.related.iter().try_for_each(Resource::validate_related)
    }

    /// The Prefect JSON of this event.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        // serde_json fails only on non-string map keys or a failing writer: an
        // Event has neither, and a Vec never fails.
        if serde_json::to_writer(&mut out, self).is_err() {
            out.clear();
            out.extend_from_slice(b"null");
        }
        out
    }

    /// Parses Prefect JSON, refusing more than [`MAX_EVENT_SIZE`] bytes before reading it.
    pub fn from_json(json: &[u8]) -> Result<Event, EventJsonError> {
        if json.len() > MAX_EVENT_SIZE {
            return Err(EventJsonError::Invalid(EventError::TooLarge {
                len: json.len(),
                max: MAX_EVENT_SIZE,
            }));
        }
        serde_json::from_slice(json).map_err(EventJsonError::Json)
    }
}

/// Why [`Event::from_json`] refused its input.
#[derive(Debug, thiserror::Error)]
pub enum EventJsonError {
    /// The JSON is malformed, or breaks one of Prefect's rules (the message says which).
    #[error("invalid event JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// The event breaks one of Prefect's rules.
    #[error(transparent)]
    Invalid(EventError),
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let n = 7 + usize::from(self.received.is_some());
        let mut st = s.serialize_struct("Event", n)?;
        st.serialize_field("occurred", &self.occurred)?;
        st.serialize_field("event", self.event.as_ref())?;
        st.serialize_field("resource", &self.resource)?;
        st.serialize_field("related", &*self.related)?;
        st.serialize_field("payload", &self.payload)?;
        st.serialize_field("id", &self.id)?;
        st.serialize_field("follows", &self.follows)?;
        if let Some(received) = &self.received {
            st.serialize_field("received", received)?;
        }
        st.end()
    }
}

#[derive(Deserialize)]
struct RawEvent {
    occurred: Timestamp,
    event: String,
    resource: Resource,
    #[serde(default)]
    related: Vec<Resource>,
    #[serde(default)]
    payload: Payload,
    id: Uuid,
    #[serde(default)]
    follows: Option<Uuid>,
    #[serde(default)]
    received: Option<Timestamp>,
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawEvent::deserialize(d)?;
        let event = Event {
            occurred: raw.occurred,
            event: Cow::Owned(raw.event),
            resource: raw.resource,
            related: if raw.related.is_empty() {
                no_related()
            } else {
                raw.related.into()
            },
            payload: raw.payload,
            id: raw.id,
            follows: raw.follows,
            received: raw.received,
        };
        event.validate().map_err(serde::de::Error::custom)?;
        Ok(event)
    }
}
