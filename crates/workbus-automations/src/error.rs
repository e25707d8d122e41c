//! Errors of the automations.

use uuid::Uuid;

/// Why an automation could not be created, changed or read.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AutomationError {
    /// No automation has this id.
    #[error("Automation not found")]
    NotFound(Uuid),
    /// As many automations exist as [`AutomationsConfig::max_automations`](crate::AutomationsConfig) allows.
    #[error("at most {0} automations: the limit is reached")]
    LimitReached(usize),
    /// An automation whose JSON is larger than [`AutomationsConfig::max_automation_bytes`](crate::AutomationsConfig).
    #[error("an automation may take at most {limit} bytes of JSON; this one takes {size}")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The automations' actor has stopped (the system is shutting down).
    #[error("the automations have stopped")]
    Stopped,
    /// The change is made but could not be written to the store: it is not durable.
    #[error("the automation could not be written to the store: {0}")]
    Store(workbus_store::StoreError),
    /// A stored automation cannot be read (at start: never an empty set in its place).
    #[error("stored automation {key} cannot be read: {reason}")]
    CorruptRecord {
        /// Its key.
        key: String,
        /// Why.
        reason: String,
    },
    /// The bus refused the subscription of the automations.
    #[error(transparent)]
    Bus(#[from] workbus_core::Error),
}

impl From<actix::MailboxError> for AutomationError {
    fn from(_: actix::MailboxError) -> Self {
        AutomationError::Stopped
    }
}
