//! Prefect's automations on the workbus event bus: a trigger over events and the
//! actions taken when it fires, evaluated by a subscriber actor, with proactive
//! triggers fired at the moment their window closes.
//!
//! ## The model
//!
//! An [`Automation`] is Prefect's: a name, `enabled`, a [`Trigger`] and lists
//! of [`Action`]s, in Prefect 3.9.1's JSON ([`AutomationSpec`] is what a client
//! sends). Triggers are `event` triggers ([`EventTrigger`]: `match`,
//! `match_related`, `after`, `expect`, `for_each`, `posture`, `threshold`,
//! `within`), `compound` and `sequence` triggers of other triggers.
//!
//! ## Evaluation
//!
//! Each event trigger counts events in buckets (one per value of its
//! `for_each` labels) by Prefect's rules. A reactive trigger fires as soon as a
//! bucket holds `threshold` events; a proactive one when its window closes with
//! fewer. Prefect finds closed proactive windows in a sweep every few seconds,
//! so its firings come late; here a timer is armed on the bus's clock at each
//! window's end, so a firing is stamped with that instant, and with paused
//! tokio time a test sees it exactly there.
//!
//! ## Events and actions
//!
//! A firing emits `prefect.automation.triggered`, then each action runs in
//! order, each followed by `prefect.automation.action.triggered` and
//! `.executed` or `.failed`, with Prefect's resources, related resources and
//! payloads. Creating, changing and deleting an automation emits
//! `prefect.automation.created`, `.updated` and `.deleted`. All go through the
//! bus, so every subscriber sees them.
//!
//! The actions pause and resume pools and queues through the bus, or call a
//! webhook or send a notification through a block document of [`Blocks`],
//! their payloads Jinja templates rendered with the firing (see
//! [`CallWebhook`] and [`SendNotification`]). For Rust, any actix
//! [`Recipient`] of [`Fired`] hears every firing ([`Automations::on_fire`]).
//!
//! ## Cost
//!
//! Triggers are indexed by the event names they expect: an event costs a hash
//! lookup or two for the automations that cannot match it, however many there are.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use workbus_automations::{Action, AutomationSpec, Automations, EventTrigger, Posture, Target};
//! use workbus_core::Bus;
//!
//! # actix::System::new().block_on(async {
//! let bus = Bus::start();
//! let automations = Automations::start(&bus).await.unwrap();
//! let trigger = EventTrigger::new(Posture::Proactive)
//!     .after(["prefect.work-pool.not-ready"])
//!     .expect(["prefect.work-pool.ready"])
//!     .for_each(["prefect.resource.id"])
//!     .within(Duration::from_secs(300))
//!     .unwrap();
//! let spec = AutomationSpec::new(
//!     "pause a pool not ready for five minutes",
//!     trigger,
//!     vec![Action::PauseWorkPool(Target::inferred())],
//! );
//! let automation = automations.create(spec).await.unwrap();
//! assert_eq!(automations.list().await.unwrap().len(), 1);
//! automations.delete(automation.id).await.unwrap();
//! # });
//! ```

#![warn(missing_docs)]

mod act;
pub mod blocks;
mod bucket;
mod call;
mod error;
mod evaluator;
mod events;
mod index;
pub mod model;
mod notify;
mod stats;
mod template;

use std::sync::Arc;

use actix::{Actor, Addr, Recipient};
use uuid::Uuid;
use workbus_core::{Bus, SubscribeOptions, Subscription};

pub use act::ACTION_ATTEMPTS;
pub use blocks::{BlockError, Blocks, BlocksConfig};
pub use error::AutomationError;
pub use evaluator::Fired;
pub use model::{
    Action, Automation, AutomationSpec, CallWebhook, CompoundTrigger, EventTrigger, MatchRelated,
    Posture, Require, ResourceSpec, SendNotification, SequenceTrigger, Source, Target, Trigger,
    TriggerError, Within,
};
pub use stats::AutomationStats;

use evaluator::{Attach, Change, Create, Evaluator, Read, Remove, Restore};

/// Bounds of the automations, so that what clients send cannot grow memory without end.
#[derive(Clone, Debug)]
pub struct AutomationsConfig {
    /// Automations at most (default 10,000).
    pub max_automations: usize,
    /// Bytes of one automation's JSON at most (default 64 KiB), so that all of them
    /// together stay under `max_automations` times this.
    pub max_automation_bytes: usize,
    /// Buckets (distinct `for_each` values) one trigger keeps at most; an event that
    /// would open one more is not counted, and is counted in
    /// [`AutomationStats::buckets_refused`] (default 100,000).
    pub max_buckets_per_trigger: usize,
    /// Buckets all triggers together keep at most; likewise (default 1,000,000: about
    /// 200 MB at worst, with the last event each bucket keeps).
    pub max_buckets: usize,
    /// Firings of one automation waiting for their actions at most; one more is
    /// dropped, logged and counted in [`AutomationStats::firings_dropped`] (default 1,024).
    pub max_waiting_firings: usize,
    /// Bounds of the blocks that webhook and notification actions name.
    pub blocks: BlocksConfig,
}

impl Default for AutomationsConfig {
    fn default() -> Self {
        AutomationsConfig {
            max_automations: 10_000,
            max_automation_bytes: 64 * 1024,
            max_buckets_per_trigger: 100_000,
            max_buckets: 1_000_000,
            max_waiting_firings: 1_024,
            blocks: BlocksConfig::default(),
        }
    }
}

/// The automations of a bus: a handle to the actor that evaluates them. Cheap to
/// clone; the actor leaves the bus when the last handle is dropped.
#[derive(Clone)]
pub struct Automations {
    addr: Addr<Evaluator>,
    blocks: Blocks,
    stats: Arc<AutomationStats>,
    _subscription: Arc<Subscription>,
}

impl std::fmt::Debug for Automations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Automations")
            .field("stats", &self.stats)
            .finish()
    }
}

impl Automations {
    /// Starts the automations of this bus with the default bounds.
    pub async fn start(bus: &Bus) -> Result<Automations, AutomationError> {
        Self::start_with(bus, AutomationsConfig::default()).await
    }

    /// Starts the automations of this bus: an actor on the bus's arbiter,
    /// subscribed to every event, losing none (its buffer is lossless).
    pub async fn start_with(
        bus: &Bus,
        config: AutomationsConfig,
    ) -> Result<Automations, AutomationError> {
        let blocks = Blocks::new(bus.clock().clone(), config.blocks.clone());
        Self::begin(bus, config, None, Vec::new(), blocks).await
    }

    /// Starts the automations of this bus with a store: those it holds (`stored`,
    /// taken from its load) are evaluated again at once, its blocks are kept, and
    /// every change is written through to it before it is answered, so that an
    /// automation or block a client was told exists outlives a crash.
    ///
    /// Refused with [`AutomationError::CorruptRecord`] when a stored automation
    /// or block cannot be read: never an empty set in place of the stored ones.
    pub async fn open(
        bus: &Bus,
        config: AutomationsConfig,
        store: Arc<dyn workbus_store::Store>,
        stored: Stored,
    ) -> Result<Automations, AutomationError> {
        let automations = evaluator::decode(stored.automations)?;
        let blocks = Blocks::open(
            bus.clock().clone(),
            config.blocks.clone(),
            store.clone(),
            stored.blocks,
        )
        .map_err(|e| match e {
            BlockError::CorruptRecord { key, reason } => {
                AutomationError::CorruptRecord { key, reason }
            }
            other => AutomationError::CorruptRecord {
                key: String::new(),
                reason: other.to_string(),
            },
        })?;
        Self::begin(bus, config, Some(store), automations, blocks).await
    }

    async fn begin(
        bus: &Bus,
        config: AutomationsConfig,
        store: Option<Arc<dyn workbus_store::Store>>,
        stored: Vec<Automation>,
        blocks: Blocks,
    ) -> Result<Automations, AutomationError> {
        let stats = Arc::new(AutomationStats::default());
        let evaluator = Evaluator::new(bus.clone(), config, stats.clone(), store, blocks.clone());
        let addr = Evaluator::start_in_arbiter(bus.arbiter(), move |_| evaluator);
        addr.send(Restore(stored)).await?;
        let subscription = bus
            .subscribe(
                addr.clone().recipient(),
                SubscribeOptions::new("automations"),
            )
            .await?;
        Ok(Automations {
            addr,
            blocks,
            stats,
            _subscription: Arc::new(subscription),
        })
    }

    /// Creates an automation; its trigger ids are new, as Prefect makes them.
    pub async fn create(&self, spec: AutomationSpec) -> Result<Automation, AutomationError> {
        self.create_owned(spec, None).await
    }

    /// Creates an automation owned by a resource (Prefect's `owner_resource`).
    pub async fn create_owned(
        &self,
        spec: AutomationSpec,
        owner: Option<String>,
    ) -> Result<Automation, AutomationError> {
        self.addr.send(Create { spec, owner }).await?
    }

    /// Replaces an automation's spec; its buckets start over, as in Prefect.
    pub async fn replace(
        &self,
        id: Uuid,
        spec: AutomationSpec,
    ) -> Result<Automation, AutomationError> {
        self.addr.send(Change::Replace(id, Box::new(spec))).await?
    }

    /// Enables or disables an automation.
    pub async fn set_enabled(
        &self,
        id: Uuid,
        enabled: bool,
    ) -> Result<Automation, AutomationError> {
        self.addr.send(Change::Enable(id, enabled)).await?
    }

    /// Deletes an automation.
    pub async fn delete(&self, id: Uuid) -> Result<(), AutomationError> {
        self.addr.send(Remove(id)).await?.map(|_| ())
    }

    /// An automation by id.
    pub async fn get(&self, id: Uuid) -> Result<Automation, AutomationError> {
        self.addr
            .send(Read::One(id))
            .await?
            .pop()
            .ok_or(AutomationError::NotFound(id))
    }

    /// Every automation, in no particular order.
    pub async fn list(&self) -> Result<Vec<Automation>, AutomationError> {
        Ok(self.addr.send(Read::All).await?)
    }

    /// Sends each firing of the automation to this actor too, after its
    /// `triggered` event and before its actions (not kept across restarts).
    pub async fn on_fire(
        &self,
        id: Uuid,
        recipient: Recipient<Fired>,
    ) -> Result<(), AutomationError> {
        self.addr.send(Attach(id, recipient)).await?
    }

    /// Its counters.
    pub fn stats(&self) -> &Arc<AutomationStats> {
        &self.stats
    }

    /// The block documents its webhook and notification actions name.
    pub fn blocks(&self) -> &Blocks {
        &self.blocks
    }
}

/// What a store holds of the automations: their records and their blocks'.
#[derive(Clone, Debug, Default)]
pub struct Stored {
    /// The automations' records ([`Table::Automations`](workbus_store::Table::Automations)).
    pub automations: Vec<(Vec<u8>, Vec<u8>)>,
    /// The blocks' records ([`Table::Blocks`](workbus_store::Table::Blocks)).
    pub blocks: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Stored {
    /// Takes them out of a store's load.
    pub fn take(contents: &mut workbus_store::Contents) -> Self {
        Stored {
            automations: std::mem::take(&mut contents.automations),
            blocks: std::mem::take(&mut contents.blocks),
        }
    }
}
