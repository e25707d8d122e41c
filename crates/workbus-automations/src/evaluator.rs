//! The evaluator: one actor that subscribes to the bus, holds every automation
//! and its buckets, evaluates each event against the triggers the index finds for
//! it, and fires proactive triggers from timers armed at their windows' ends.
//!
//! Firings and the automations' own events go, in order, to one task per
//! automation (see [`act`](crate::act)), so that a slow action of one automation
//! never holds up the evaluation of events or another automation's actions.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::mpsc;
use uuid::Uuid;
use workbus_core::{Bus, Clock, Deliver};
use workbus_events::{SharedEvent, Timestamp};
use workbus_store::{Batch, Store, Table};

use crate::blocks::Blocks;

use crate::act::{self, Job};
use crate::bucket::{self, Bucket, Buckets, Key, EXPIRED_BUFFER};
use crate::error::AutomationError;
use crate::events;
use crate::index::{covers_name, Index, TriggerRef};
use crate::model::{Automation, AutomationSpec, EventTrigger, Posture, Trigger};
use crate::stats::AutomationStats;
use crate::AutomationsConfig;

/// What an actix recipient attached to an automation receives each time it fires
/// (see [`Automations::on_fire`](crate::Automations::on_fire)).
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct Fired {
    /// The automation.
    pub automation: Arc<Automation>,
    /// The values of its `for_each` labels for this firing.
    pub labels: Vec<(String, String)>,
    /// The event that fired it, or the last one its window counted.
    pub triggering_event: Option<SharedEvent>,
    /// Its `prefect.automation.triggered` event.
    pub triggered: SharedEvent,
}

/// A firing on its way up the trigger tree.
#[derive(Clone)]
struct Up {
    trigger: Uuid,
    triggered: Timestamp,
    labels: Vec<(String, String)>,
    event: Option<SharedEvent>,
}

enum Node {
    Leaf {
        trigger: Box<EventTrigger>,
        parent: Option<usize>,
        buckets: Buckets,
        /// Each bucket's entry in the evaluator's timers: one a bucket, so that
        /// re-arming does not leave the old deadline behind.
        armed: HashMap<Key, Deadline>,
    },
    Composite {
        id: Uuid,
        parent: Option<usize>,
        within: Option<Duration>,
        /// How many child firings it takes (a sequence takes all, in order).
        expected: usize,
        /// The children's trigger ids, in order.
        children: Vec<Uuid>,
        ordered: bool,
        firings: Vec<Up>,
    },
}

fn flatten(trigger: &Trigger, parent: Option<usize>, nodes: &mut Vec<Node>) {
    match trigger {
        Trigger::Event(t) => nodes.push(Node::Leaf {
            trigger: t.clone(),
            parent,
            buckets: Buckets::new(),
            armed: HashMap::new(),
        }),
        Trigger::Compound(c) => composite(
            c.id,
            &c.triggers,
            c.within.map(|w| w.get()),
            c.expected_firings(),
            false,
            parent,
            nodes,
        ),
        Trigger::Sequence(s) => composite(
            s.id,
            &s.triggers,
            s.within.map(|w| w.get()),
            s.triggers.len(),
            true,
            parent,
            nodes,
        ),
    }
}

fn composite(
    id: Uuid,
    triggers: &[Trigger],
    within: Option<Duration>,
    expected: usize,
    ordered: bool,
    parent: Option<usize>,
    nodes: &mut Vec<Node>,
) {
    let me = nodes.len();
    nodes.push(Node::Composite {
        id,
        parent,
        within,
        expected,
        children: triggers.iter().map(Trigger::id).collect(),
        ordered,
        firings: Vec::new(),
    });
    for t in triggers {
        flatten(t, Some(me), nodes);
    }
}

struct Loaded {
    automation: Arc<Automation>,
    /// The trigger tree, root first; empty while the automation is disabled.
    nodes: Vec<Node>,
    jobs: mpsc::Sender<Job>,
    recipients: Vec<Recipient<Fired>>,
}

/// The actor. See the module documentation.
pub(crate) struct Evaluator {
    /// The block documents the webhook and notification actions name.
    blocks: Blocks,
    bus: Bus,
    clock: Arc<dyn Clock>,
    config: AutomationsConfig,
    stats: Arc<AutomationStats>,
    automations: HashMap<Uuid, Loaded>,
    index: Index,
    timers: BTreeMap<Deadline, (TriggerRef, Key)>,
    next_timer: u64,
    timer: Option<(Timestamp, SpawnHandle)>,
    scratch: Vec<TriggerRef>,
    store: Option<Arc<dyn Store>>,
    /// Buckets of every trigger together, for [`AutomationsConfig::max_buckets`].
    buckets: usize,
}

/// A leaf of a trigger tree, borrowed by its parts.
struct LeafMut<'a> {
    trigger: &'a EventTrigger,
    buckets: &'a mut Buckets,
    armed: &'a mut HashMap<Key, Deadline>,
}

/// The event trigger at `r`, if its automation is loaded (enabled) and it is a leaf.
fn leaf(automations: &mut HashMap<Uuid, Loaded>, r: TriggerRef) -> Option<LeafMut<'_>> {
    match automations.get_mut(&r.0)?.nodes.get_mut(r.1)? {
        Node::Leaf {
            trigger,
            buckets,
            armed,
            ..
        } => Some(LeafMut {
            trigger,
            buckets,
            armed,
        }),
        Node::Composite { .. } => None,
    }
}

/// The always-open window of a proactive trigger without `for_each`, from `now`.
fn rolling(trigger: &EventTrigger, now: Timestamp) -> Bucket {
    Bucket {
        start: now,
        end: now + trigger.within.get(),
        count: 0,
        last_event: None,
    }
}

/// A timer's place in the evaluator's timers: when, and a sequence number.
type Deadline = (Timestamp, u64);

/// Takes the timers of a trigger tree out of the evaluator's timers, as it is
/// dropped or rebuilt.
fn disarm(timers: &mut BTreeMap<Deadline, (TriggerRef, Key)>, nodes: &[Node]) {
    for node in nodes {
        if let Node::Leaf { armed, .. } = node {
            for deadline in armed.values() {
                timers.remove(deadline);
            }
        }
    }
}

/// Gives a job to an automation's task; one more than it can hold waiting is
/// dropped, logged and counted.
fn queue(jobs: &mpsc::Sender<Job>, stats: &AutomationStats, id: Uuid, job: Job) {
    if jobs.try_send(job).is_err() {
        stats.count_dropped();
        tracing::error!(automation = %id, "an automation has too many jobs waiting for its actions; one is dropped");
    }
}

/// How many buckets a trigger tree holds.
fn buckets_in(nodes: &[Node]) -> usize {
    nodes
        .iter()
        .map(|n| match n {
            Node::Leaf { buckets, .. } => buckets.len(),
            Node::Composite { .. } => 0,
        })
        .sum()
}

/// An automation as the store keeps it: with its owner, which its JSON leaves out.
#[derive(serde::Serialize, serde::Deserialize)]
struct Record {
    automation: Automation,
    owner: Option<String>,
}

/// Reads the stored automations; one that cannot be read is an error, never skipped.
pub(crate) fn decode(records: Vec<(Vec<u8>, Vec<u8>)>) -> Result<Vec<Automation>, AutomationError> {
    records
        .into_iter()
        .map(|(key, value)| {
            let corrupt = |reason: String| AutomationError::CorruptRecord {
                key: Uuid::from_slice(&key)
                    .map(|u| u.to_string())
                    .unwrap_or_else(|_| format!("{key:?}")),
                reason,
            };
            let record: Record =
                serde_json::from_slice(&value).map_err(|e| corrupt(e.to_string()))?;
            let mut automation = record.automation;
            automation.owner = record.owner;
            Ok(automation)
        })
        .collect()
}

impl Evaluator {
    pub(crate) fn new(
        bus: Bus,
        config: AutomationsConfig,
        stats: Arc<AutomationStats>,
        store: Option<Arc<dyn Store>>,
        blocks: Blocks,
    ) -> Self {
        Evaluator {
            blocks,
            clock: bus.clock().clone(),
            bus,
            config,
            stats,
            automations: HashMap::new(),
            index: Index::default(),
            timers: BTreeMap::new(),
            next_timer: 0,
            timer: None,
            scratch: Vec::new(),
            store,
            buckets: 0,
        }
    }

    /// Refuses an automation larger than the bound, before it changes anything.
    fn check_size(&self, spec: &AutomationSpec) -> Result<(), AutomationError> {
        let size = serde_json::to_vec(spec)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        let limit = self.config.max_automation_bytes;
        if size > limit {
            return Err(AutomationError::TooLarge { size, limit });
        }
        Ok(())
    }

    /// Writes an automation (or its removal) through to the store, if there is one.
    fn persist(&self, id: Uuid, automation: Option<&Automation>) -> Option<workbus_store::Pending> {
        let store = self.store.as_ref()?;
        let mut batch = Batch::new();
        match automation {
            Some(a) => {
                let record = Record {
                    automation: a.clone(),
                    owner: a.owner.clone(),
                };
                let value = serde_json::to_vec(&record).unwrap_or_default();
                batch.put(Table::Automations, id.as_bytes().to_vec(), value);
            }
            None => {
                batch.delete(Table::Automations, id.as_bytes().to_vec());
            }
        }
        Some(store.commit(batch))
    }

    fn send(&self, id: Uuid, job: Job) {
        if let Some(loaded) = self.automations.get(&id) {
            queue(&loaded.jobs, &self.stats, id, job);
        }
    }

    /// Answers a change once it is written (when there is a store), and only then
    /// emits its `prefect.automation.created`, `.updated` or `.deleted` (`name`): an
    /// event must not announce a change the client was told failed. Without a store
    /// the event goes at once, in order with the automation's firings.
    fn committed(
        &self,
        automation: &Automation,
        name: &'static str,
        now: Timestamp,
    ) -> ResponseFuture<Result<Automation, AutomationError>> {
        let id = automation.id;
        let kept = (name != "prefect.automation.deleted").then_some(automation);
        let event = events::lifecycle(automation, name, now);
        let answer = automation.clone();
        let Some(pending) = self.persist(id, kept) else {
            self.send(id, Job::Emit(event));
            return Box::pin(async move { Ok(answer) });
        };
        let Some(jobs) = self.automations.get(&id).map(|l| l.jobs.clone()) else {
            return Box::pin(async move { Ok(answer) });
        };
        let stats = self.stats.clone();
        Box::pin(async move {
            pending.await.map_err(AutomationError::Store)?;
            queue(&jobs, &stats, id, Job::Emit(event));
            Ok(answer)
        })
    }

    /// Builds the trigger tree of an enabled automation, indexes it and opens the
    /// windows of its proactive triggers that do not split by labels (Prefect opens
    /// them in its periodic sweep).
    fn load(&mut self, id: Uuid, ctx: &mut Context<Self>) {
        let now = self.clock.now();
        let Some(loaded) = self.automations.get_mut(&id) else {
            return;
        };
        self.index.remove(id);
        self.buckets = self.buckets.saturating_sub(buckets_in(&loaded.nodes));
        disarm(&mut self.timers, &loaded.nodes);
        loaded.nodes.clear();
        if !loaded.automation.spec.enabled {
            return;
        }
        flatten(&loaded.automation.spec.trigger, None, &mut loaded.nodes);
        let mut open_now = Vec::new();
        for (i, node) in loaded.nodes.iter_mut().enumerate() {
            if let Node::Leaf {
                trigger, buckets, ..
            } = node
            {
                self.index.insert((id, i), trigger);
                if trigger.posture == Posture::Proactive && trigger.for_each.is_empty() {
                    buckets.insert(Vec::new(), rolling(trigger, now));
                    open_now.push(i);
                }
            }
        }
        self.buckets += open_now.len();
        for i in open_now {
            self.rearm((id, i), Vec::new(), ctx);
        }
    }

    /// Arms (or re-arms) the timer of a bucket: a proactive one at its end, to
    /// evaluate it; a reactive one a buffer after its end, to sweep it.
    fn rearm(&mut self, r: TriggerRef, key: Key, ctx: &mut Context<Self>) {
        let Some(LeafMut {
            trigger,
            buckets,
            armed,
        }) = leaf(&mut self.automations, r)
        else {
            return;
        };
        let at = buckets.get(&key).map(|bucket| match trigger.posture {
            Posture::Proactive => bucket.end,
            Posture::Reactive => bucket.end + EXPIRED_BUFFER,
        });
        match (armed.get(&key), at) {
            (Some(&(was, _)), Some(at)) if was == at => return,
            (Some(old), _) => {
                self.timers.remove(old);
            }
            (None, _) => {}
        }
        let Some(at) = at else {
            armed.remove(&key);
            return;
        };
        self.next_timer += 1;
        let deadline = (at, self.next_timer);
        armed.insert(key.clone(), deadline);
        self.timers.insert(deadline, (r, key));
        self.schedule(ctx);
    }

    /// Keeps one actix timer, for the earliest deadline.
    fn schedule(&mut self, ctx: &mut Context<Self>) {
        let Some(&(first, _)) = self.timers.keys().next() else {
            if let Some((_, handle)) = self.timer.take() {
                ctx.cancel_future(handle);
            }
            return;
        };
        if let Some((at, handle)) = self.timer {
            if at <= first {
                return;
            }
            ctx.cancel_future(handle);
        }
        let delay = first.since(self.clock.now());
        let handle = ctx.run_later(delay, |this, ctx| {
            this.timer = None;
            this.tick(ctx);
        });
        self.timer = Some((first, handle));
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        // Never early: a window is evaluated once the clock has reached its end (a
        // timer that woke a microsecond short is armed again for the rest).
        let now = self.clock.now();
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((_, _), (r, key)) = entry.remove_entry();
            self.due(r, key, now, ctx);
        }
        self.schedule(ctx);
    }

    /// A bucket's deadline came.
    fn due(&mut self, r: TriggerRef, key: Key, now: Timestamp, ctx: &mut Context<Self>) {
        let Some(LeafMut {
            trigger,
            buckets,
            armed,
        }) = leaf(&mut self.automations, r)
        else {
            return;
        };
        let Some(bucket) = buckets.remove(&key) else {
            return;
        };
        let before = buckets.len() + 1;
        armed.remove(&key);
        let mut fired = None;
        match trigger.posture {
            Posture::Reactive => {
                if bucket.end + EXPIRED_BUFFER > now {
                    buckets.insert(key.clone(), bucket);
                }
            }
            Posture::Proactive if bucket.end > now => {
                buckets.insert(key.clone(), bucket);
            }
            Posture::Proactive => {
                let mut slot = Some(bucket);
                fired = bucket::evaluate(trigger, &key, &mut slot, now, None);
                if let Some(next) = slot {
                    buckets.insert(key.clone(), next);
                } else if trigger.for_each.is_empty() {
                    // Prefect's sweep opens the next window of such a trigger at once.
                    buckets.insert(Vec::new(), rolling(trigger, now));
                }
            }
        }
        let up = fired.map(|f| Up {
            trigger: trigger.id,
            triggered: now,
            labels: f.labels,
            event: f.event,
        });
        self.buckets = (self.buckets + buckets.len()).saturating_sub(before);
        self.rearm(r, key, ctx);
        if let Some(up) = up {
            self.fire(r, up);
        }
    }

    /// Passes a firing up the tree; at the root, the automation acts.
    fn fire(&mut self, r: TriggerRef, mut up: Up) {
        let Some(loaded) = self.automations.get_mut(&r.0) else {
            return;
        };
        let mut node = r.1;
        loop {
            let parent = match &loaded.nodes[node] {
                Node::Leaf { parent, .. } | Node::Composite { parent, .. } => *parent,
            };
            let Some(p) = parent else { break };
            let Node::Composite {
                id,
                within,
                expected,
                children,
                ordered,
                firings,
                ..
            } = &mut loaded.nodes[p]
            else {
                return;
            };
            let ready = if *expected == 1 {
                true
            } else {
                if let Some(w) = within {
                    let horizon = up.triggered - *w;
                    firings.retain(|f| f.triggered >= horizon);
                }
                firings.retain(|f| f.trigger != up.trigger);
                firings.push(up.clone());
                let ready = if *ordered {
                    let mut seen = firings.clone();
                    seen.sort_by_key(|f| f.triggered);
                    seen.iter().map(|f| f.trigger).eq(children.iter().copied())
                } else {
                    firings.len() >= *expected
                };
                if ready {
                    firings.clear();
                }
                ready
            };
            if !ready {
                return;
            }
            up = Up {
                trigger: *id,
                triggered: up.triggered,
                labels: Vec::new(),
                event: up.event,
            };
            node = p;
        }
        self.stats.count_firing();
        let firing = act::Firing {
            automation: loaded.automation.clone(),
            triggered: up.triggered,
            labels: up.labels,
            event: up.event,
            recipients: loaded.recipients.clone(),
        };
        self.send(r.0, Job::Act(firing));
    }

    fn insert(&mut self, automation: Automation, ctx: &mut Context<Self>) -> Arc<Automation> {
        let id = automation.id;
        let automation = Arc::new(automation);
        let (jobs, rx) = mpsc::channel(self.config.max_waiting_firings.max(1));
        actix::spawn(act::run(
            act::Env {
                bus: self.bus.clone(),
                clock: self.clock.clone(),
                stats: self.stats.clone(),
                blocks: self.blocks.clone(),
            },
            rx,
        ));
        self.automations.insert(
            id,
            Loaded {
                automation: automation.clone(),
                nodes: Vec::new(),
                jobs,
                recipients: Vec::new(),
            },
        );
        self.load(id, ctx);
        automation
    }

    fn replace(
        &mut self,
        id: Uuid,
        automation: Automation,
        ctx: &mut Context<Self>,
    ) -> Arc<Automation> {
        let automation = Arc::new(automation);
        if let Some(loaded) = self.automations.get_mut(&id) {
            loaded.automation = automation.clone();
        }
        self.load(id, ctx);
        automation
    }
}

impl Actor for Evaluator {
    type Context = Context<Self>;
}

impl Handler<Deliver> for Evaluator {
    type Result = ();

    fn handle(&mut self, Deliver(event): Deliver, ctx: &mut Context<Self>) {
        self.stats.count_event();
        let mut candidates = std::mem::take(&mut self.scratch);
        self.index.candidates(&event.event, &mut candidates);
        for &r in &candidates {
            let Some(LeafMut {
                trigger, buckets, ..
            }) = leaf(&mut self.automations, r)
            else {
                continue;
            };
            self.stats.count_candidate();
            if !covers_name(trigger, &event.event)
                || !trigger.match_.matches(&event.resource)
                || !trigger.match_related.covers(&event.related)
            {
                continue;
            }
            let key = bucket::key(trigger, &event);
            if !buckets.contains_key(&key)
                && (buckets.len() >= self.config.max_buckets_per_trigger
                    || self.buckets >= self.config.max_buckets)
            {
                self.stats.count_bucket_refused();
                continue;
            }
            let before = buckets.len();
            let fired = bucket::on_event(trigger, buckets, key.clone(), &event);
            self.buckets = (self.buckets + buckets.len()).saturating_sub(before);
            let up = fired.map(|f| Up {
                trigger: trigger.id,
                triggered: self.clock.now(),
                labels: f.labels,
                event: f.event,
            });
            self.rearm(r, key, ctx);
            if let Some(up) = up {
                self.fire(r, up);
            }
        }
        self.scratch = candidates;
    }
}

/// Creates an automation.
#[derive(Message)]
#[rtype(result = "Result<Automation, AutomationError>")]
pub(crate) struct Create {
    pub spec: AutomationSpec,
    pub owner: Option<String>,
}

impl Handler<Create> for Evaluator {
    type Result = ResponseFuture<Result<Automation, AutomationError>>;

    fn handle(
        &mut self,
        Create { mut spec, owner }: Create,
        ctx: &mut Context<Self>,
    ) -> Self::Result {
        if self.automations.len() >= self.config.max_automations {
            let limit = self.config.max_automations;
            return Box::pin(async move { Err(AutomationError::LimitReached(limit)) });
        }
        if let Err(e) = self.check_size(&spec) {
            return Box::pin(async move { Err(e) });
        }
        spec.trigger.reset_ids();
        let now = self.clock.now();
        let automation = Automation {
            spec,
            id: Uuid::new_v4(),
            created: now,
            updated: now,
            owner,
        };
        let automation = self.insert(automation, ctx);
        self.committed(&automation, "prefect.automation.created", now)
    }
}

/// Replaces an automation's spec (PUT) or only its `enabled` (PATCH).
#[derive(Message)]
#[rtype(result = "Result<Automation, AutomationError>")]
pub(crate) enum Change {
    Replace(Uuid, Box<AutomationSpec>),
    Enable(Uuid, bool),
}

impl Handler<Change> for Evaluator {
    type Result = ResponseFuture<Result<Automation, AutomationError>>;

    fn handle(&mut self, change: Change, ctx: &mut Context<Self>) -> Self::Result {
        let id = match &change {
            Change::Replace(id, _) | Change::Enable(id, _) => *id,
        };
        let Some(current) = self.automations.get(&id) else {
            return Box::pin(async move { Err(AutomationError::NotFound(id)) });
        };
        let mut next = (*current.automation).clone();
        match change {
            Change::Replace(_, mut spec) => {
                if let Err(e) = self.check_size(&spec) {
                    return Box::pin(async move { Err(e) });
                }
                spec.trigger.reset_ids();
                next.spec = *spec;
            }
            Change::Enable(_, enabled) => next.spec.enabled = enabled,
        }
        let now = self.clock.now();
        next.updated = now;
        // Prefect forgets the automation's buckets on every update and loads it anew.
        let next = self.replace(id, next, ctx);
        self.committed(&next, "prefect.automation.updated", now)
    }
}

/// Deletes an automation.
#[derive(Message)]
#[rtype(result = "Result<Automation, AutomationError>")]
pub(crate) struct Remove(pub Uuid);

impl Handler<Remove> for Evaluator {
    type Result = ResponseFuture<Result<Automation, AutomationError>>;

    fn handle(&mut self, Remove(id): Remove, _: &mut Context<Self>) -> Self::Result {
        let now = self.clock.now();
        let Some(loaded) = self.automations.get(&id) else {
            return Box::pin(async move { Err(AutomationError::NotFound(id)) });
        };
        let automation = loaded.automation.clone();
        let answer = self.committed(&automation, "prefect.automation.deleted", now);
        self.index.remove(id);
        self.buckets = self.buckets.saturating_sub(buckets_in(&loaded.nodes));
        disarm(&mut self.timers, &loaded.nodes);
        // Dropping its sender ends its task once the jobs already sent are done (the
        // answer holds a clone until its `deleted` event is sent).
        self.automations.remove(&id);
        answer
    }
}

/// Reads automations: one by id, or all.
#[derive(Message)]
#[rtype(result = "Vec<Automation>")]
pub(crate) enum Read {
    One(Uuid),
    All,
}

impl Handler<Read> for Evaluator {
    type Result = MessageResult<Read>;

    fn handle(&mut self, read: Read, _: &mut Context<Self>) -> Self::Result {
        MessageResult(match read {
            Read::One(id) => self
                .automations
                .get(&id)
                .map(|l| (*l.automation).clone())
                .into_iter()
                .collect(),
            Read::All => self
                .automations
                .values()
                .map(|l| (*l.automation).clone())
                .collect(),
        })
    }
}

/// Sends an automation's firings to an actix recipient too.
#[derive(Message)]
#[rtype(result = "Result<(), AutomationError>")]
pub(crate) struct Attach(pub Uuid, pub Recipient<Fired>);

impl Handler<Attach> for Evaluator {
    type Result = Result<(), AutomationError>;

    fn handle(&mut self, Attach(id, recipient): Attach, _: &mut Context<Self>) -> Self::Result {
        let loaded = self
            .automations
            .get_mut(&id)
            .ok_or(AutomationError::NotFound(id))?;
        loaded.recipients.push(recipient);
        Ok(())
    }
}

/// Loads automations read from the store at start (no events: they exist already).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Restore(pub Vec<Automation>);

impl Handler<Restore> for Evaluator {
    type Result = ();

    fn handle(&mut self, Restore(automations): Restore, ctx: &mut Context<Self>) {
        for automation in automations {
            self.insert(automation, ctx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AutomationSpec, EventTrigger};
    use std::time::Duration;
    use workbus_core::testing::{bus_at, paused, settle};
    use workbus_core::BusConfig;
    use workbus_events::{Event, Resource};

    /// How many timers the evaluator holds.
    #[derive(Message)]
    #[rtype(result = "usize")]
    struct Timers;

    impl Handler<Timers> for Evaluator {
        type Result = usize;
        fn handle(&mut self, _: Timers, _: &mut Context<Self>) -> usize {
            self.timers.len()
        }
    }

    #[test]
    fn re_arming_a_bucket_leaves_no_old_deadline_behind() {
        paused(|| async {
            let t0: Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
            let bus = bus_at(t0, BusConfig::default());
            let stats = Arc::new(AutomationStats::default());
            let blocks = Blocks::new(bus.clock().clone(), Default::default());
            let evaluator = Evaluator::new(
                bus.clone(),
                AutomationsConfig::default(),
                stats,
                None,
                blocks,
            );
            let addr = evaluator.start();
            // A heartbeat: every beat moves its window's end, so re-arms its timer.
            let trigger = EventTrigger::new(Posture::Proactive)
                .after(["acme.beat"])
                .expect(["acme.beat"])
                .within(Duration::from_secs(3600))
                .unwrap();
            let spec = AutomationSpec::new("beats", trigger, vec![]);
            let automation = addr
                .send(Create { spec, owner: None })
                .await
                .unwrap()
                .unwrap();
            for i in 0..1_000u64 {
                let beat = Event {
                    occurred: t0 + Duration::from_millis(i),
                    event: "acme.beat".into(),
                    resource: Resource::builder()
                        .label("prefect.resource.id", "acme.thing")
                        .build_unchecked(),
                    related: workbus_events::no_related(),
                    payload: Default::default(),
                    id: Uuid::now_v7(),
                    follows: None,
                    received: None,
                };
                addr.send(Deliver(SharedEvent::new(beat))).await.unwrap();
            }
            settle(&bus).await;
            assert_eq!(
                addr.send(Timers).await.unwrap(),
                1,
                "one timer for one bucket"
            );
            // Replacing the automation takes its timers away with its buckets.
            addr.send(Change::Enable(automation.id, false))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(addr.send(Timers).await.unwrap(), 0);
        });
    }
}
