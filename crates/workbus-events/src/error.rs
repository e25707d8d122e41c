//! Errors of the event model.

use thiserror::Error;

/// Why an event, a resource, a timestamp or a filter was refused.
///
/// Every limit is Prefect's (see `prefect-semantics.md`, section 3), so an event
/// that Prefect's server accepts is accepted here and one it refuses is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EventError {
    /// The event name is longer than [`MAX_EVENT_NAME_LEN`](crate::MAX_EVENT_NAME_LEN).
    #[error("event name is {len} characters long, the limit is {max}")]
    NameTooLong {
        /// The name's length in characters.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A resource has no `prefect.resource.id` label, or an empty one.
    #[error("resource has no non-empty `prefect.resource.id` label")]
    MissingResourceId,
    /// A related resource has no `prefect.resource.role` label, or an empty one.
    #[error("related resource `{id}` has no non-empty `prefect.resource.role` label")]
    MissingRole {
        /// The related resource's id.
        id: String,
    },
    /// A resource carries more labels than [`MAX_LABELS`](crate::MAX_LABELS).
    #[error("resource has {len} labels, the limit is {max}")]
    TooManyLabels {
        /// How many labels it has.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// An event has more related resources than [`MAX_RELATED`](crate::MAX_RELATED).
    #[error("event has {len} related resources, the limit is {max}")]
    TooManyRelated {
        /// How many related resources it has.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// An event's JSON is larger than [`MAX_EVENT_SIZE`](crate::MAX_EVENT_SIZE).
    #[error("event is {len} bytes of JSON, the limit is {max}")]
    TooLarge {
        /// Its size in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A timestamp is not ISO-8601 / RFC 3339, or is out of range.
    #[error("invalid timestamp `{input}`: {reason}")]
    InvalidTimestamp {
        /// What was given (cut to 64 characters).
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A text search query is longer than Prefect's 200 characters.
    #[error("text query is {len} characters long, the limit is 200")]
    TextQueryTooLong {
        /// Its length in characters.
        len: usize,
    },
}
