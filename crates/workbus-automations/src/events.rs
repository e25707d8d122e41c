//! The events Prefect emits about automations, built as Prefect 3.9.1 builds them
//! (`schemas/lifecycle.py`, `schemas/automations.py`, `actions.py`).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};
use uuid::Uuid;
use workbus_events::{Event, Payload, Resource, SharedEvent, Timestamp};

use crate::model::{Automation, Trigger};

/// Prefect links an action's events to the triggering event only when the two are
/// this close in time (`TIGHT_TIMING`).
const TIGHT_TIMING: Duration = Duration::from_secs(5 * 60);

fn resource(labels: &[(&'static str, String)]) -> Resource {
    let mut b = Resource::builder();
    for (k, v) in labels {
        b = b.label(*k, v.clone());
    }
    b.build_unchecked()
}

fn event(
    occurred: Timestamp,
    name: &'static str,
    resource: Resource,
    related: Vec<Resource>,
    payload: Payload,
    follows: Option<Uuid>,
) -> Event {
    Event {
        occurred,
        event: name.into(),
        resource,
        related: Arc::from(related),
        payload,
        id: Uuid::now_v7(),
        follows,
        received: None,
    }
}

fn object(value: Value) -> Payload {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// `prefect.automation.created`, `.updated` or `.deleted` (`name`): the automation as
/// its payload.
pub(crate) fn lifecycle(automation: &Automation, name: &'static str, at: Timestamp) -> Event {
    event(
        at,
        name,
        resource(&[
            ("prefect.resource.id", automation.resource_id()),
            ("prefect.resource.name", automation.spec.name.clone()),
        ]),
        Vec::new(),
        object(serde_json::to_value(automation).unwrap_or(Value::Null)),
        None,
    )
}

fn posture(trigger: &Trigger) -> Option<String> {
    match trigger {
        Trigger::Event(t) => Some(format!("{:?}", t.posture)),
        _ => None,
    }
}

/// `prefect.automation.triggered`: the state change of a firing of the automation's trigger.
pub(crate) fn triggered(
    automation: &Automation,
    at: Timestamp,
    labels: &[(String, String)],
    triggering: Option<&SharedEvent>,
) -> Event {
    let mut res = vec![
        ("prefect.resource.id", automation.resource_id()),
        ("prefect.resource.name", automation.spec.name.clone()),
    ];
    if let Some(p) = posture(&automation.spec.trigger) {
        res.push(("prefect.posture", p));
    }
    let rel = triggering
        .map(|e| {
            vec![resource(&[
                ("prefect.resource.id", format!("prefect.event.{}", e.id)),
                ("prefect.resource.role", "triggering-event".to_owned()),
            ])]
        })
        .unwrap_or_default();
    let labels: Map<String, Value> = labels
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let mut payload = Map::new();
    payload.insert("triggering_labels".into(), Value::Object(labels));
    payload.insert(
        "triggering_event".into(),
        triggering
            .map(|e| serde_json::to_value(e.event()).unwrap_or(Value::Null))
            .unwrap_or(Value::Null),
    );
    event(
        at,
        "prefect.automation.triggered",
        resource(&res),
        rel,
        payload,
        None,
    )
}

/// What an action's two events share.
pub(crate) struct ActionContext<'a> {
    pub automation: &'a Automation,
    pub index: usize,
    pub kind: &'static str,
    pub invocation: Uuid,
    pub triggered: Timestamp,
    pub triggering: Option<&'a SharedEvent>,
    pub automation_triggered_event: Option<Uuid>,
    /// The resources the action acted on (`target`), first among the related.
    pub targets: Vec<Resource>,
}

impl ActionContext<'_> {
    fn resource(&self) -> Resource {
        let mut res = vec![
            ("prefect.resource.id", self.automation.resource_id()),
            ("prefect.resource.name", self.automation.spec.name.clone()),
            (
                "prefect.trigger-type",
                self.automation.spec.trigger.kind().to_owned(),
            ),
        ];
        if let Some(p) = posture(&self.automation.spec.trigger) {
            res.push(("prefect.posture", p));
        }
        resource(&res)
    }

    fn related(&self) -> Vec<Resource> {
        let mut rel = self.targets.clone();
        if let Some(id) = self.automation_triggered_event {
            rel.push(resource(&[
                ("prefect.resource.id", format!("prefect.event.{id}")),
                (
                    "prefect.resource.role",
                    "automation-triggered-event".to_owned(),
                ),
            ]));
        }
        if let Some(e) = self.triggering {
            rel.push(resource(&[
                ("prefect.resource.id", format!("prefect.event.{}", e.id)),
                ("prefect.resource.role", "triggering-event".to_owned()),
            ]));
        }
        rel
    }

    fn details(&self) -> Payload {
        object(json!({
            "action_index": self.index,
            "action_type": self.kind,
            "invocation": self.invocation.to_string(),
        }))
    }

    /// `prefect.automation.action.triggered`, then `.executed` (no `reason`) or
    /// `.failed` (with it), the second following the first.
    pub(crate) fn outcome(
        &self,
        now: Timestamp,
        reason: Option<&str>,
        result: Payload,
    ) -> [Event; 2] {
        let follows = self.triggering.and_then(|e| {
            let apart = if self.triggered >= e.occurred {
                self.triggered.since(e.occurred)
            } else {
                e.occurred.since(self.triggered)
            };
            (apart < TIGHT_TIMING).then_some(e.id)
        });
        let first = event(
            self.triggered,
            "prefect.automation.action.triggered",
            self.resource(),
            self.related(),
            self.details(),
            follows,
        );
        let mut payload = self.details();
        let name = match reason {
            Some(reason) => {
                payload.insert("reason".into(), Value::String(reason.to_owned()));
                "prefect.automation.action.failed"
            }
            None => "prefect.automation.action.executed",
        };
        payload.extend(result);
        let second = event(
            now,
            name,
            self.resource(),
            self.related(),
            payload,
            Some(first.id),
        );
        [first, second]
    }
}
