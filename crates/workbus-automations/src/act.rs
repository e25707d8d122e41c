//! Carrying out a firing: the automation's `triggered` event, then each action in
//! order with its `action.triggered` and `action.executed` (or `.failed`) events,
//! as Prefect's `act` and actions consumer do.
//!
//! ## Retries
//!
//! An action the bus refuses for a reason that passes (it is busy, a write timed
//! out or the store failed) is tried again after 100 ms, 200 ms, 400 ms and
//! 800 ms; after the fifth refusal it fails, with its `action.failed` event and
//! the counter [`AutomationStats::actions_failed`]. An action that cannot succeed
//! (its pool or queue does not exist) fails at once, as in Prefect.

use std::sync::Arc;

use actix::Recipient;
use serde_json::{json, Map};
use uuid::Uuid;
use workbus_core::{Bus, Clock, Error, PoolUpdate, QueueUpdate};
use workbus_events::{Event, Payload, Resource, SharedEvent, Timestamp};

use crate::blocks::Blocks;
use crate::evaluator::Fired;
use crate::events::{self, ActionContext};
use crate::model::{Action, Automation, Source, Target};
use crate::notify;
use crate::stats::AutomationStats;

/// How many times an action is tried when the bus refuses it for a passing reason.
pub const ACTION_ATTEMPTS: u32 = 5;

/// One firing of an automation, to be carried out.
pub(crate) struct Firing {
    pub automation: Arc<Automation>,
    pub triggered: Timestamp,
    pub labels: Vec<(String, String)>,
    pub event: Option<SharedEvent>,
    pub recipients: Vec<Recipient<Fired>>,
}

/// What the actions of one automation are given to run.
pub(crate) enum Job {
    /// An event about the automation itself (created, updated, deleted).
    Emit(Event),
    /// A firing.
    Act(Firing),
}

/// What the actions act with.
#[derive(Clone)]
pub(crate) struct Env {
    pub bus: Bus,
    pub clock: Arc<dyn Clock>,
    pub stats: Arc<AutomationStats>,
    pub blocks: Blocks,
}

/// Runs one automation's jobs in order, so that its events come in Prefect's order.
pub(crate) async fn run(env: Env, mut jobs: tokio::sync::mpsc::Receiver<Job>) {
    while let Some(job) = jobs.recv().await {
        match job {
            // A store's refusal is logged by the bus; the event is published all the same.
            Job::Emit(event) => {
                let _ = env.bus.ingest(SharedEvent::new(event)).await;
            }
            Job::Act(firing) => act(&env, firing).await,
        }
    }
}

async fn act(env: &Env, firing: Firing) {
    let (bus, clock, stats) = (&env.bus, &*env.clock, &*env.stats);
    let automation = &firing.automation;
    let triggered = events::triggered(
        automation,
        firing.triggered,
        &firing.labels,
        firing.event.as_ref(),
    );
    let triggered_id = triggered.id;
    let triggered = SharedEvent::new(triggered);
    let _ = bus.ingest(triggered.clone()).await;
    for recipient in &firing.recipients {
        let fired = Fired {
            automation: automation.clone(),
            labels: firing.labels.clone(),
            triggering_event: firing.event.clone(),
            triggered: triggered.clone(),
        };
        if recipient.try_send(fired).is_err() {
            stats.count_recipient_failure();
            tracing::warn!(automation = %automation.id, "a recipient of the automation's firings is gone or full");
        }
    }
    // The actions see the triggering event; those on the trigger see the
    // `triggered` event itself, as in Prefect.
    let plan = automation
        .spec
        .actions
        .iter()
        .map(|a| (a, firing.event.as_ref()))
        .chain(
            automation
                .spec
                .actions_on_trigger
                .iter()
                .map(|a| (a, Some(&triggered))),
        );
    for (index, (action, triggering)) in plan.enumerate() {
        let mut ctx = ActionContext {
            automation,
            index,
            kind: action.kind(),
            invocation: Uuid::now_v7(),
            triggered: firing.triggered,
            triggering,
            automation_triggered_event: Some(triggered_id),
            targets: Vec::new(),
        };
        let scene = Scene {
            automation,
            labels: &firing.labels,
            event: triggering,
        };
        let outcome = perform(env, action, &scene, &mut ctx.targets).await;
        let [first, second] = match &outcome {
            Ok(result) => {
                stats.count_executed();
                ctx.outcome(clock.now(), None, result.clone())
            }
            Err(failure) => {
                stats.count_failed();
                tracing::warn!(automation = %automation.id, action = action.kind(), reason = %failure.reason, "an automation's action failed");
                ctx.outcome(clock.now(), Some(&failure.reason), failure.details.clone())
            }
        };
        let _ = bus.ingest(SharedEvent::new(first)).await;
        let _ = bus.ingest(SharedEvent::new(second)).await;
    }
}

pub(crate) struct Failure {
    pub reason: String,
    pub details: Payload,
}

impl Failure {
    pub(crate) fn new(reason: impl Into<String>) -> Self {
        Failure {
            reason: reason.into(),
            details: Map::new(),
        }
    }
}

fn status(code: u16) -> Payload {
    let mut m = Map::new();
    m.insert("status_code".into(), json!(code));
    m
}

/// Prefect's `_id_of_first_resource_of_kind`: the first of the event's resource
/// and related resources whose id is `<kind>.<uuid>`.
pub(crate) fn inferred(event: Option<&SharedEvent>, kind: &str) -> Result<Uuid, Failure> {
    let what = kind.trim_start_matches("prefect.").replace('-', " ");
    let event = event.ok_or_else(|| Failure::new(format!("No event to infer the {what}")))?;
    let first = std::iter::once(&event.resource)
        .chain(event.related.iter())
        .find(|r| r.id().rsplit_once('.').map(|(k, _)| k) == Some(kind));
    first
        .and_then(|r| r.id().rsplit_once('.'))
        .and_then(|(_, id)| Uuid::parse_str(id).ok())
        .ok_or_else(|| Failure::new(format!("No {what} could be inferred")))
}

fn target_id(target: &Target, event: Option<&SharedEvent>, kind: &str) -> Result<Uuid, Failure> {
    match (target.source, target.id) {
        (Source::Selected, Some(id)) => Ok(id),
        _ => inferred(event, kind),
    }
}

fn transient(error: &Error) -> bool {
    matches!(error, Error::Busy | Error::Timeout | Error::Store(_))
}

/// Calls the bus until it answers for good, backing off between refusals that pass.
async fn with_retries<T, F, Fut>(stats: &AutomationStats, mut call: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Err(e) if transient(&e) && attempt < ACTION_ATTEMPTS => {
                stats.count_retry();
                tokio::time::sleep(crate::call::BACKOFF.delay(attempt - 1)).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// What an action's templates see of its firing.
pub(crate) struct Scene<'a> {
    pub automation: &'a Automation,
    pub labels: &'a [(String, String)],
    pub event: Option<&'a SharedEvent>,
}

async fn perform(
    env: &Env,
    action: &Action,
    scene: &Scene<'_>,
    targets: &mut Vec<Resource>,
) -> Result<Payload, Failure> {
    let (bus, stats, event) = (&env.bus, &*env.stats, scene.event);
    let kind = action.kind();
    match action {
        Action::DoNothing => Ok(Map::new()),
        Action::CallWebhook(w) => notify::call_webhook(env, w, scene, targets).await,
        Action::SendNotification(n) => notify::send_notification(env, n, scene, targets).await,
        Action::PauseWorkPool(t) | Action::ResumeWorkPool(t) => {
            let id = target_id(t, event, "prefect.work-pool")?;
            let pool = bus.pool_by_id(id).await.map_err(|e| match e {
                Error::PoolIdNotFound(_) => Failure::new(format!("Work pool {id} not found")),
                other => refused(kind, &other),
            })?;
            targets.push(
                Resource::builder()
                    .label("prefect.resource.id", format!("prefect.work-pool.{id}"))
                    .label("prefect.resource.name", pool.name.clone())
                    .label("prefect.resource.role", "target")
                    .build_unchecked(),
            );
            let update = if matches!(action, Action::PauseWorkPool(_)) {
                PoolUpdate::pause
            } else {
                PoolUpdate::resume
            };
            match with_retries(stats, || bus.update_pool(&pool.name, update())).await {
                Ok(_) => Ok(status(204)),
                Err(e) => Err(refused(kind, &e)),
            }
        }
        Action::PauseWorkQueue(t) | Action::ResumeWorkQueue(t) => {
            let id = target_id(t, event, "prefect.work-queue")?;
            targets.push(
                Resource::builder()
                    .label("prefect.resource.id", format!("prefect.work-queue.{id}"))
                    .label("prefect.resource.role", "target")
                    .build_unchecked(),
            );
            let update = if matches!(action, Action::PauseWorkQueue(_)) {
                QueueUpdate::pause
            } else {
                QueueUpdate::resume
            };
            match with_retries(stats, || bus.update_queue_by_id(id, update())).await {
                Ok(_) => Ok(status(204)),
                Err(e) => Err(refused(kind, &e)),
            }
        }
    }
}

/// The reason Prefect gives for the HTTP answer the same refusal would get.
fn refused(kind: &str, error: &Error) -> Failure {
    let code: u16 = match error {
        Error::PoolNotFound(_)
        | Error::PoolIdNotFound(_)
        | Error::QueueNotFound { .. }
        | Error::QueueIdNotFound(_) => 404,
        Error::Busy | Error::Timeout | Error::Store(_) | Error::Stopped => 503,
        _ => 422,
    };
    let reason = if code == 422 {
        format!("Validation error occurred for '{kind}' - {error}")
    } else {
        format!("Unexpected status from '{kind}' action: {code}")
    };
    Failure {
        reason,
        details: status(code),
    }
}
