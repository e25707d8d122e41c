//! The automation model, in Prefect 3.9.1's JSON and by its rules
//! (`prefect/server/events/schemas/automations.py`).

mod action;
mod spec;
mod trigger;
mod within;

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use workbus_events::Timestamp;

pub use action::{Action, CallWebhook, SendNotification, Source, Target};
pub use spec::{MatchRelated, ResourceSpec};
pub use trigger::{
    CompoundTrigger, EventTrigger, Posture, Require, SequenceTrigger, Trigger, TriggerError,
    MIN_PROACTIVE_WITHIN,
};
pub use within::Within;

/// What a client sends to create or replace an automation (Prefect's `AutomationCore`).
///
/// # Examples
///
/// ```
/// use workbus_automations::AutomationSpec;
///
/// let spec: AutomationSpec = serde_json::from_str(r#"{
///     "name": "pause a pool that stays not ready",
///     "trigger": {
///         "type": "event",
///         "posture": "Proactive",
///         "after": ["prefect.work-pool.not-ready"],
///         "expect": ["prefect.work-pool.ready"],
///         "for_each": ["prefect.resource.id"],
///         "within": 300
///     },
///     "actions": [{"type": "pause-work-pool", "source": "inferred"}]
/// }"#).unwrap();
/// assert!(spec.enabled);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AutomationSpec {
    /// Its name.
    pub name: String,
    /// A longer description.
    #[serde(default)]
    pub description: String,
    /// Whether it is evaluated.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// What it watches for.
    pub trigger: Trigger,
    /// What it does when it fires.
    pub actions: Vec<Action>,
    /// What it does when it goes into the triggered state.
    #[serde(default)]
    pub actions_on_trigger: Vec<Action>,
    /// What it does when it goes into the resolved state.
    #[serde(default)]
    pub actions_on_resolve: Vec<Action>,
}

fn yes() -> bool {
    true
}

impl AutomationSpec {
    /// An enabled automation with this name, trigger and actions.
    pub fn new(name: impl Into<String>, trigger: impl Into<Trigger>, actions: Vec<Action>) -> Self {
        AutomationSpec {
            name: name.into(),
            description: String::new(),
            enabled: true,
            tags: Vec::new(),
            trigger: trigger.into(),
            actions,
            actions_on_trigger: Vec::new(),
            actions_on_resolve: Vec::new(),
        }
    }

    /// Sets its description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Sets whether it is evaluated.
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Sets its tags.
    pub fn tags<I: IntoIterator<Item = S>, S: Into<String>>(mut self, tags: I) -> Self {
        self.tags = tags.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the actions taken when it goes into the triggered state.
    pub fn on_trigger(mut self, actions: Vec<Action>) -> Self {
        self.actions_on_trigger = actions;
        self
    }
}

/// An automation as stored and served: its spec, id and times (Prefect's `Automation`,
/// in its field order).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Automation {
    /// What it is.
    #[serde(flatten)]
    pub spec: AutomationSpec,
    /// Its id.
    pub id: Uuid,
    /// When it was created.
    pub created: Timestamp,
    /// When it was last changed.
    pub updated: Timestamp,
    /// The resource that owns it (Prefect's `owner_resource` on create), if any.
    #[serde(skip)]
    pub owner: Option<String>,
}

impl Automation {
    /// The resource id of its events, `prefect.automation.<id>`.
    pub fn resource_id(&self) -> String {
        format!("prefect.automation.{}", self.id)
    }
}
