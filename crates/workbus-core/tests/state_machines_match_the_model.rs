//! The state machines against a model.
//!
//! Random sequences of operations (create, update, pause, resume, rename, heartbeat,
//! worker deletion, poll, time passing, delete) run on the real actors, on paused tokio
//! time, and on a small reference model of the tables of
//! `shared/spec/prefect-semantics.md` §2 as `docs/prefect-compatibility.md` amends them.
//! Both must give the same events (name, resource id and name, related ids, `follows`,
//! payload, `occurred`) in the same order, the same answers (errors included) and the
//! same snapshots after every step.
//!
//! Ids are the system's: the model takes a pool's and a queue's id from the answer to
//! their creation. Events that fire at the same instant from different resources (two
//! timers expiring together) have no defined order between them, so such a step is
//! compared in resource order; each resource's own order is compared as emitted.
//!
//! `PROPTEST_CASES=2000 cargo test --test state_machines_match_the_model` runs longer.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use support::{bus_at_t0, collect, paused, T0};
use uuid::Uuid;
use workbus_core::testing::Collected;
use workbus_core::{
    Bus, BusConfig, CreatePool, CreateQueue, Error, EventFilter, Heartbeat, HeartbeatInterval,
    PoolUpdate, QueueUpdate, SharedEvent, Status, Timestamp, WorkerStatus,
};

const POOLS: [&str; 3] = ["p0", "p1", "p2"];
const QUEUES: [&str; 4] = ["default", "q0", "q1", "q2"];
const WORKERS: [&str; 3] = ["w0", "w1", "w2"];
const AGENT: &str = "prefect-agent";

/// One operation on the bus. Indices name pools, queues and workers from small sets,
/// so that sequences hit existing resources, duplicates and unknown names alike.
#[derive(Clone, Debug)]
enum Op {
    CreatePool {
        pool: usize,
        paused: bool,
        agent: bool,
    },
    CreateQueue {
        pool: usize,
        queue: usize,
        paused: bool,
        priority: Option<i64>,
    },
    UpdatePool {
        pool: usize,
        description: Option<Option<u8>>,
        template: Option<u8>,
        limit: Option<Option<u8>>,
        paused: Option<bool>,
    },
    UpdateQueue {
        pool: usize,
        queue: usize,
        rename: Option<usize>,
        description: Option<u8>,
        limit: Option<Option<u8>>,
        priority: Option<i64>,
        paused: Option<bool>,
    },
    Heartbeat {
        pool: usize,
        worker: usize,
        interval: Option<u32>,
    },
    DeleteWorker {
        pool: usize,
        worker: usize,
    },
    /// Polls the named queues, or every queue of the pool when none is named.
    Poll {
        pool: usize,
        queues: Vec<usize>,
    },
    Advance {
        millis: u64,
    },
    DeleteQueue {
        pool: usize,
        queue: usize,
    },
    DeletePool {
        pool: usize,
    },
}

fn description(n: u8) -> String {
    format!("d{n}")
}

fn template(n: u8) -> Map<String, Value> {
    let mut m = Map::new();
    if n > 0 {
        m.insert("image".into(), json!(format!("img{n}")));
    }
    m
}

fn json_opt<T: Into<Value>>(v: Option<T>) -> Value {
    v.map_or(Value::Null, Into::into)
}

// ---------------------------------------------------------------------------------------
// The model.

/// An event as the model predicts it, or as the bus emitted it.
#[derive(Clone, Debug, PartialEq)]
struct Ev {
    occurred: String,
    name: String,
    resource: String,
    resource_name: String,
    related: Vec<String>,
    payload: Value,
    /// The model's id for this event (its index), or the real event's UUID.
    id: Key,
    follows: Option<Key>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    Model(usize),
    Real(Uuid),
}

struct MWorker {
    last: Duration,
    interval: Option<u32>,
    deadline: Duration,
}

struct MQueue {
    id: Uuid,
    name: String,
    description: String,
    paused: bool,
    limit: Option<i64>,
    priority: i64,
    last_polled: Option<Duration>,
    status: Status,
}

struct MPool {
    id: Uuid,
    name: String,
    agent: bool,
    paused: bool,
    status: Status,
    description: Option<String>,
    template: Map<String, Value>,
    limit: Option<i64>,
    default_queue: Uuid,
    queues: Vec<MQueue>,
    workers: BTreeMap<String, MWorker>,
    last_status: Option<(usize, Duration)>,
}

struct Model {
    cfg: BusConfig,
    now: Duration,
    pools: Vec<MPool>,
    next_id: usize,
    out: Vec<Ev>,
}

fn pool_rid(id: Uuid) -> String {
    format!("prefect.work-pool.{id}")
}

fn queue_rid(id: Uuid) -> String {
    format!("prefect.work-queue.{id}")
}

impl Model {
    fn new(cfg: BusConfig) -> Self {
        Model {
            cfg,
            now: Duration::ZERO,
            pools: Vec::new(),
            next_id: 0,
            out: Vec::new(),
        }
    }

    fn occurred(&self) -> String {
        let t0: Timestamp = T0.parse().unwrap();
        t0.add(self.now).to_string()
    }

    fn push(
        &mut self,
        name: &str,
        resource: String,
        resource_name: &str,
        related: Vec<String>,
        payload: Value,
        follows: Option<usize>,
    ) -> usize {
        let id = self.next_id;
        self.next_id += 1;
        self.out.push(Ev {
            occurred: self.occurred(),
            name: name.to_owned(),
            resource,
            resource_name: resource_name.to_owned(),
            related,
            payload,
            id: Key::Model(id),
            follows: follows.map(Key::Model),
        });
        id
    }

    fn pool_ix(&self, pool: usize) -> Result<usize, Error> {
        self.pools
            .iter()
            .position(|p| p.name == POOLS[pool])
            .ok_or_else(|| Error::PoolNotFound(POOLS[pool].to_owned()))
    }

    fn queue_ix(&self, p: usize, queue: &str) -> Result<usize, Error> {
        let pool = &self.pools[p];
        pool.queues
            .iter()
            .position(|q| q.name == queue)
            .ok_or_else(|| Error::QueueNotFound {
                pool: pool.name.clone(),
                queue: queue.to_owned(),
            })
    }

    fn online(&self, p: usize) -> usize {
        let now = self.now;
        self.pools[p]
            .workers
            .values()
            .filter(|w| now < w.deadline)
            .count()
    }

    fn pool_status(&mut self, p: usize, status: Status) {
        if self.pools[p].status == status {
            return;
        }
        self.pools[p].status = status;
        self.emit_pool_status(p);
    }

    fn emit_pool_status(&mut self, p: usize) {
        let now = self.now;
        let window = self.cfg.follows_window;
        let pool = &self.pools[p];
        let follows = pool
            .last_status
            .filter(|(_, at)| now - *at < window)
            .map(|(id, _)| id);
        let name = match pool.status {
            Status::Ready => "prefect.work-pool.ready",
            Status::NotReady => "prefect.work-pool.not-ready",
            Status::Paused => "prefect.work-pool.paused",
        };
        let (rid, pname) = (pool_rid(pool.id), pool.name.clone());
        let id = self.push(name, rid, &pname, vec![], json!({}), follows);
        self.pools[p].last_status = Some((id, now));
    }

    fn queue_event(&mut self, p: usize, q: usize, name: &str, payload: Value) {
        let pool = &self.pools[p];
        let queue = &pool.queues[q];
        let (rid, qname, related) = (
            queue_rid(queue.id),
            queue.name.clone(),
            vec![pool_rid(pool.id)],
        );
        self.push(name, rid, &qname, related, payload, None);
    }

    fn queue_status(&mut self, p: usize, q: usize, status: Status) {
        if self.pools[p].queues[q].status == status {
            return;
        }
        self.pools[p].queues[q].status = status;
        let name = match status {
            Status::Ready => "prefect.work-queue.ready",
            Status::NotReady => "prefect.work-queue.not-ready",
            Status::Paused => "prefect.work-queue.paused",
        };
        self.queue_event(p, q, name, json!({}));
    }

    fn polled_recently(&self, q: &MQueue) -> bool {
        q.last_polled
            .is_some_and(|at| self.now < at + self.cfg.queue_poll_timeout)
    }

    // The operations. Each checks what the bus checks, in the bus's order.

    fn check_create_pool(&self, pool: usize) -> Result<(), Error> {
        match self.pool_ix(pool) {
            Ok(_) => Err(Error::PoolExists(POOLS[pool].to_owned())),
            Err(_) => Ok(()),
        }
    }

    fn create_pool(&mut self, pool: usize, paused: bool, agent: bool, id: Uuid, default: Uuid) {
        let status = if paused && !agent {
            Status::Paused
        } else {
            Status::NotReady
        };
        self.pools.push(MPool {
            id,
            name: POOLS[pool].to_owned(),
            agent,
            paused,
            status,
            description: None,
            template: Map::new(),
            limit: None,
            default_queue: default,
            queues: vec![MQueue {
                id: default,
                name: "default".into(),
                description: "The work pool's default queue.".into(),
                paused: false,
                limit: None,
                priority: 1,
                last_polled: None,
                status: Status::NotReady,
            }],
            workers: BTreeMap::new(),
            last_status: None,
        });
        let p = self.pools.len() - 1;
        self.queue_event(p, 0, "prefect.work-queue.created", json!({}));
        let (rid, name) = (pool_rid(id), POOLS[pool]);
        self.push(
            "prefect.work-pool.created",
            rid,
            name,
            vec![queue_rid(default)],
            json!({}),
            None,
        );
        self.emit_pool_status(p);
    }

    fn check_create_queue(&self, pool: usize, queue: usize) -> Result<(), Error> {
        let p = self.pool_ix(pool)?;
        match self.queue_ix(p, QUEUES[queue]) {
            Ok(_) => Err(Error::QueueExists {
                pool: POOLS[pool].to_owned(),
                queue: QUEUES[queue].to_owned(),
            }),
            Err(_) => Ok(()),
        }
    }

    fn create_queue(
        &mut self,
        pool: usize,
        queue: usize,
        paused: bool,
        priority: Option<i64>,
        id: Uuid,
    ) {
        let p = self.pool_ix(pool).unwrap();
        let pool = &mut self.pools[p];
        let asked = priority;
        // Prefect's `create_work_queue`: the first priority not taken, else one past the highest.
        let priority = priority.unwrap_or_else(|| {
            let mut taken: Vec<i64> = pool.queues.iter().map(|q| q.priority).collect();
            taken.sort();
            taken
                .iter()
                .enumerate()
                .find(|(i, p)| *i as i64 + 1 != **p)
                .map(|(i, _)| i as i64 + 1)
                .unwrap_or_else(|| taken.iter().max().copied().unwrap_or(0) + 1)
        });
        pool.queues.push(MQueue {
            id,
            name: QUEUES[queue].to_owned(),
            description: String::new(),
            paused,
            limit: None,
            priority,
            last_polled: None,
            status: if paused {
                Status::Paused
            } else {
                Status::NotReady
            },
        });
        let q = pool.queues.len() - 1;
        self.queue_event(p, q, "prefect.work-queue.created", json!({}));
        if asked.is_some() {
            self.shift_priorities(p, q);
        }
    }

    /// Prefect's `bulk_update_work_queue_priorities` as its Python reads, after
    /// queue `q` took its priority; workbus adds an `updated` for each queue moved.
    fn shift_priorities(&mut self, p: usize, q: usize) {
        let prio = |m: &Model, i: usize| m.pools[p].queues[i].priority;
        let target = prio(self, q);
        let mut order: Vec<usize> = (0..self.pools[p].queues.len())
            .filter(|&i| i != q)
            .collect();
        order.sort_by_key(|&i| prio(self, i));
        if let Some(at) = order.iter().position(|&i| prio(self, i) >= target) {
            order.insert(at, q);
        }
        let mut last = 0;
        for i in order {
            let from = prio(self, i);
            if from <= last {
                last += 1;
                self.pools[p].queues[i].priority = last;
                let payload = json!({"updated_fields": ["priority"], "updates": {"priority": {"from": from, "to": last}}});
                self.queue_event(p, i, "prefect.work-queue.updated", payload);
            } else {
                last = from;
            }
        }
    }

    fn update_pool(
        &mut self,
        pool: usize,
        description: Option<Option<u8>>,
        tmpl: Option<u8>,
        limit: Option<Option<u8>>,
        paused: Option<bool>,
    ) -> Result<(), Error> {
        let p = self.pool_ix(pool)?;
        let online = self.online(p);
        let pl = &mut self.pools[p];
        let mut fields = Vec::new();
        let mut updates = Map::new();
        let mut change = |field: &str, from: Value, to: Value| {
            if from != to {
                fields.push(json!(field));
                updates.insert(field.to_owned(), json!({"from": from, "to": to}));
            }
        };
        if let Some(d) = description {
            let d = d.map(description_of);
            change(
                "description",
                json_opt(pl.description.clone()),
                json_opt(d.clone()),
            );
            pl.description = d;
        }
        if let Some(t) = tmpl {
            let t = template(t);
            change(
                "base_job_template",
                Value::Object(pl.template.clone()),
                Value::Object(t.clone()),
            );
            pl.template = t;
        }
        if let Some(l) = limit {
            let l = l.map(i64::from);
            change("concurrency_limit", json_opt(pl.limit), json_opt(l));
            pl.limit = l;
        }
        if !fields.is_empty() {
            let (rid, name) = (pool_rid(pl.id), pl.name.clone());
            self.push(
                "prefect.work-pool.updated",
                rid,
                &name,
                vec![],
                json!({"updated_fields": fields, "updates": updates}),
                None,
            );
        }
        if let Some(paused) = paused {
            let pl = &mut self.pools[p];
            pl.paused = paused;
            if !pl.agent {
                let target = match (paused, pl.status) {
                    (true, _) => Status::Paused,
                    (false, Status::Paused) if online > 0 => Status::Ready,
                    (false, Status::Paused) => Status::NotReady,
                    (false, s) => s,
                };
                self.pool_status(p, target);
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn update_queue(
        &mut self,
        pool: usize,
        queue: usize,
        rename: Option<usize>,
        description: Option<u8>,
        limit: Option<Option<u8>>,
        priority: Option<i64>,
        paused: Option<bool>,
    ) -> Result<(), Error> {
        let p = self.pool_ix(pool)?;
        let q = self.queue_ix(p, QUEUES[queue])?;
        if let Some(new) = rename {
            let new = QUEUES[new];
            if new != QUEUES[queue] && self.queue_ix(p, new).is_ok() {
                return Err(Error::QueueExists {
                    pool: POOLS[pool].to_owned(),
                    queue: new.to_owned(),
                });
            }
        }
        let mut fields = Vec::new();
        let mut updates = Map::new();
        let mut change = |field: &str, from: Value, to: Value| {
            if from != to {
                fields.push(json!(field));
                updates.insert(field.to_owned(), json!({"from": from, "to": to}));
            }
        };
        let qu = &mut self.pools[p].queues[q];
        if let Some(new) = rename {
            change("name", json!(qu.name), json!(QUEUES[new]));
            qu.name = QUEUES[new].to_owned();
        }
        if let Some(d) = description {
            let d = description_of(d);
            change("description", json!(qu.description), json!(d));
            qu.description = d;
        }
        if let Some(l) = limit {
            let l = l.map(i64::from);
            change("concurrency_limit", json_opt(qu.limit), json_opt(l));
            qu.limit = l;
        }
        if let Some(pr) = priority {
            change("priority", json!(qu.priority), json!(pr));
            qu.priority = pr;
        }
        if !fields.is_empty() {
            let payload = json!({"updated_fields": fields, "updates": updates});
            self.queue_event(p, q, "prefect.work-queue.updated", payload);
        }
        let recent = self.polled_recently(&self.pools[p].queues[q]);
        let qu = &mut self.pools[p].queues[q];
        match (paused, qu.status) {
            (Some(true), Status::Paused) | (None, _) => {}
            (Some(true), _) => {
                qu.paused = true;
                self.queue_status(p, q, Status::Paused);
            }
            (Some(false), Status::Paused) => {
                qu.paused = false;
                let to = if recent {
                    Status::Ready
                } else {
                    Status::NotReady
                };
                self.queue_status(p, q, to);
            }
            (Some(false), _) => qu.paused = false,
        }
        if priority.is_some() {
            self.shift_priorities(p, q);
        }
        Ok(())
    }

    fn heartbeat(
        &mut self,
        pool: usize,
        worker: usize,
        interval: Option<u32>,
    ) -> Result<(), Error> {
        let p = self.pool_ix(pool)?;
        let now = self.now;
        let multiple = self.cfg.worker_inactivity_multiple;
        let fallback = self.cfg.fallback_heartbeat_interval;
        let pl = &mut self.pools[p];
        let w = pl
            .workers
            .entry(WORKERS[worker].to_owned())
            .or_insert(MWorker {
                last: now,
                interval,
                deadline: now,
            });
        if interval.is_some() {
            w.interval = interval;
        }
        w.last = now;
        let period = w
            .interval
            .map_or(fallback, |s| Duration::from_secs(u64::from(s)));
        w.deadline = now + period * multiple;
        if pl.status == Status::NotReady {
            self.pool_status(p, Status::Ready);
        }
        Ok(())
    }

    fn delete_worker(&mut self, pool: usize, worker: usize) -> Result<(), Error> {
        let p = self.pool_ix(pool)?;
        if self.pools[p].workers.remove(WORKERS[worker]).is_none() {
            return Err(Error::WorkerNotFound {
                pool: POOLS[pool].to_owned(),
                worker: WORKERS[worker].to_owned(),
            });
        }
        if self.online(p) == 0 && self.pools[p].status == Status::Ready {
            self.pool_status(p, Status::NotReady);
        }
        Ok(())
    }

    fn poll(&mut self, pool: usize, names: &[usize]) -> Result<(), Error> {
        let p = self.pool_ix(pool)?;
        let targets: Vec<Uuid> = if names.is_empty() {
            self.pools[p].queues.iter().map(|q| q.id).collect()
        } else {
            names
                .iter()
                .map(|&n| {
                    self.queue_ix(p, QUEUES[n])
                        .map(|q| self.pools[p].queues[q].id)
                })
                .collect::<Result<_, _>>()?
        };
        for id in targets {
            let q = self.pools[p]
                .queues
                .iter()
                .position(|q| q.id == id)
                .unwrap();
            self.pools[p].queues[q].last_polled = Some(self.now);
            if self.pools[p].queues[q].status == Status::NotReady {
                self.queue_status(p, q, Status::Ready);
            }
        }
        Ok(())
    }

    fn delete_queue(&mut self, pool: usize, queue: usize) -> Result<(), Error> {
        let p = self.pool_ix(pool)?;
        let q = self.queue_ix(p, QUEUES[queue])?;
        if self.pools[p].queues[q].id == self.pools[p].default_queue {
            return Err(Error::DefaultQueueDeletion(POOLS[pool].to_owned()));
        }
        self.queue_event(p, q, "prefect.work-queue.deleted", json!({}));
        self.pools[p].queues.remove(q);
        Ok(())
    }

    fn delete_pool(&mut self, pool: usize) -> Result<(), Error> {
        let p = self.pool_ix(pool)?;
        for q in 0..self.pools[p].queues.len() {
            self.queue_event(p, q, "prefect.work-queue.deleted", json!({}));
        }
        let pl = self.pools.remove(p);
        self.push(
            "prefect.work-pool.deleted",
            pool_rid(pl.id),
            &pl.name,
            vec![queue_rid(pl.default_queue)],
            json!({}),
            None,
        );
        Ok(())
    }

    /// The next instant, after now, at which a timer changes a status: a `READY` pool's
    /// last online worker expiring, or a `READY` queue's poll timing out.
    fn next_instant(&self) -> Option<Duration> {
        let now = self.now;
        let pools = self
            .pools
            .iter()
            .filter(|p| p.status == Status::Ready)
            .map(|p| {
                p.workers
                    .values()
                    .map(|w| w.deadline)
                    .filter(|d| *d > now)
                    .max()
                    .unwrap_or(now)
            });
        let queues = self.pools.iter().flat_map(|p| {
            p.queues
                .iter()
                .filter(|q| q.status == Status::Ready)
                .filter_map(|q| q.last_polled.map(|at| at + self.cfg.queue_poll_timeout))
        });
        pools.chain(queues).min()
    }

    /// Moves to `t` (an instant from [`Model::next_instant`] or one with nothing due).
    fn advance_to(&mut self, t: Duration) {
        self.now = t;
        for p in 0..self.pools.len() {
            if self.pools[p].status == Status::Ready && self.online(p) == 0 {
                self.pool_status(p, Status::NotReady);
            }
            for q in 0..self.pools[p].queues.len() {
                let qu = &self.pools[p].queues[q];
                if qu.status == Status::Ready && !self.polled_recently(qu) {
                    self.queue_status(p, q, Status::NotReady);
                }
            }
        }
    }
}

fn description_of(n: u8) -> String {
    description(n)
}

// ---------------------------------------------------------------------------------------
// The real bus, observed.

fn observed(e: &SharedEvent) -> Ev {
    let v: Value = serde_json::from_slice(e.json()).unwrap();
    let label = |r: &Value, k: &str| r[k].as_str().unwrap_or_default().to_owned();
    Ev {
        occurred: v["occurred"].as_str().unwrap().to_owned(),
        name: v["event"].as_str().unwrap().to_owned(),
        resource: label(&v["resource"], "prefect.resource.id"),
        resource_name: label(&v["resource"], "prefect.resource.name"),
        related: v["related"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| label(r, "prefect.resource.id"))
            .collect(),
        payload: v["payload"].clone(),
        id: Key::Real(e.id),
        follows: e.follows.map(Key::Real),
    }
}

struct Harness {
    bus: Bus,
    seen: Collected,
    model: Model,
    /// Model event id -> real event id, for comparing `follows`.
    ids: HashMap<Key, Key>,
    log: Vec<String>,
    /// Events already taken out of `seen` and compared.
    compared: usize,
}

impl Harness {
    /// Lets every actor run, then waits until every event published has arrived.
    async fn settle(&self) {
        for _ in 0..16 {
            tokio::task::yield_now().await;
        }
        loop {
            self.bus.flush().await.unwrap();
            for _ in 0..16 {
                tokio::task::yield_now().await;
            }
            let got = self.seen.len() + self.compared;
            if got as u64 == self.bus.stats().published() {
                break;
            }
        }
    }

    /// Compares what the bus emitted since the last step with what the model predicts.
    /// `unordered`: events of one instant from several timers, compared in resource order.
    fn compare(&mut self, step: &str, unordered: bool) -> Result<(), String> {
        let mut real: Vec<Ev> = self.seen.take().iter().map(observed).collect();
        self.compared += real.len();
        let mut want = std::mem::take(&mut self.model.out);
        if unordered {
            real.sort_by(|a, b| a.resource.cmp(&b.resource));
            want.sort_by(|a, b| a.resource.cmp(&b.resource));
        }
        self.log.push(format!(
            "{step}: {:?}",
            real.iter().map(|e| e.name.as_str()).collect::<Vec<_>>()
        ));
        let fail = |why: String| {
            Err(format!(
                "{why}\n  model: {want:#?}\n  bus:   {real:#?}\n  history:\n    {}",
                self.log.join("\n    ")
            ))
        };
        if real.len() != want.len() {
            return fail(format!(
                "{step}: {} events, model says {}",
                real.len(),
                want.len()
            ));
        }
        for (r, w) in real.iter().zip(&want) {
            let follows = w.follows.map(|k| self.ids.get(&k).copied());
            let same = r.occurred == w.occurred
                && r.name == w.name
                && r.resource == w.resource
                && r.resource_name == w.resource_name
                && r.related == w.related
                && r.payload == w.payload
                && follows.flatten() == r.follows
                && follows.is_none_or(|f| f.is_some());
            if !same {
                return fail(format!("{step}: event {} differs from the model", r.name));
            }
        }
        for (r, w) in real.iter().zip(&want) {
            self.ids.insert(w.id, r.id);
        }
        Ok(())
    }

    /// Compares the bus's pools, queues and workers with the model's.
    async fn snapshots(&self, step: &str) -> Result<(), String> {
        let m = &self.model;
        let t0: Timestamp = T0.parse().unwrap();
        let clock = self.bus.clock().now();
        if clock != t0.add(m.now) {
            return Err(format!(
                "{step}: the bus's clock reads {clock}, the model's {:?}",
                m.now
            ));
        }
        let pools = self.bus.pools().await;
        let mut want: Vec<&MPool> = m.pools.iter().collect();
        want.sort_by(|a, b| a.name.cmp(&b.name));
        let got: Vec<_> = pools
            .iter()
            .map(|p| (p.id, p.name.clone(), p.pool_type.clone()))
            .collect();
        let exp: Vec<_> = want
            .iter()
            .map(|p| {
                let t = if p.agent { AGENT } else { "process" };
                (p.id, p.name.clone(), t.to_owned())
            })
            .collect();
        if got != exp {
            return Err(format!("{step}: pools {got:?}, model {exp:?}"));
        }
        for (info, mp) in pools.iter().zip(want) {
            let status = (!mp.agent).then_some(mp.status);
            let got = (
                info.is_paused,
                info.status,
                info.description.clone(),
                info.base_job_template.clone(),
                info.concurrency_limit,
                info.default_queue_id,
            );
            let exp = (
                mp.paused,
                status,
                mp.description.clone(),
                mp.template.clone(),
                mp.limit,
                mp.default_queue,
            );
            if got != exp {
                return Err(format!(
                    "{step}: pool {} is {got:?}, model {exp:?}",
                    mp.name
                ));
            }
            let mut workers: Vec<_> = self
                .bus
                .workers(&mp.name)
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|w| {
                    let online = w.status == WorkerStatus::Online;
                    (
                        w.name,
                        w.last_heartbeat_time,
                        w.heartbeat_interval.map(HeartbeatInterval::secs),
                        online,
                    )
                })
                .collect();
            workers.sort_by(|a, b| a.0.cmp(&b.0));
            let exp: Vec<_> = mp
                .workers
                .iter()
                .map(|(n, w)| (n.clone(), t0.add(w.last), w.interval, m.now < w.deadline))
                .collect();
            if workers != exp {
                return Err(format!(
                    "{step}: workers of {} are {workers:?}, model {exp:?}",
                    mp.name
                ));
            }
            let queues = self.bus.queues(&mp.name).await.map_err(|e| e.to_string())?;
            let got: Vec<_> = queues
                .iter()
                .map(|q| {
                    (
                        q.id,
                        q.name.clone(),
                        q.description.clone(),
                        q.is_paused,
                        q.concurrency_limit,
                        q.priority,
                        q.last_polled,
                        q.status,
                    )
                })
                .collect();
            let exp: Vec<_> = mp
                .queues
                .iter()
                .map(|q| {
                    (
                        q.id,
                        q.name.clone(),
                        q.description.clone(),
                        q.paused,
                        q.limit,
                        q.priority,
                        q.last_polled.map(|d| t0.add(d)),
                        q.status,
                    )
                })
                .collect();
            if got != exp {
                return Err(format!(
                    "{step}: queues of {} are {got:#?}, model {exp:#?}",
                    mp.name
                ));
            }
        }
        Ok(())
    }

    async fn step(&mut self, op: &Op) -> Result<(), String> {
        let step = format!("{op:?}");
        let bus = self.bus.clone();
        let m = &mut self.model;
        let (real, want): (Result<(), Error>, Result<(), Error>) = match op.clone() {
            Op::CreatePool {
                pool,
                paused,
                agent,
            } => {
                let mut req = CreatePool::new(POOLS[pool], if agent { AGENT } else { "process" });
                req.is_paused = paused;
                let real = bus.create_pool(req).await;
                let want = m.check_create_pool(pool);
                if let (Ok(info), Ok(())) = (&real, &want) {
                    m.create_pool(pool, paused, agent, info.id, info.default_queue_id);
                }
                (real.map(drop), want)
            }
            Op::CreateQueue {
                pool,
                queue,
                paused,
                priority,
            } => {
                let req = CreateQueue {
                    is_paused: paused,
                    priority,
                    ..CreateQueue::new(QUEUES[queue])
                };
                let real = bus.create_queue(POOLS[pool], req).await;
                let want = m.check_create_queue(pool, queue);
                if let (Ok(info), Ok(())) = (&real, &want) {
                    m.create_queue(pool, queue, paused, priority, info.id);
                }
                (real.map(drop), want)
            }
            Op::UpdatePool {
                pool,
                description,
                template: tmpl,
                limit,
                paused,
            } => {
                let update = PoolUpdate {
                    description: description.map(|d| d.map(description_of)),
                    base_job_template: tmpl.map(template),
                    concurrency_limit: limit.map(|l| l.map(i64::from)),
                    is_paused: paused,
                    ..PoolUpdate::default()
                };
                let real = bus.update_pool(POOLS[pool], update).await.map(drop);
                (real, m.update_pool(pool, description, tmpl, limit, paused))
            }
            Op::UpdateQueue {
                pool,
                queue,
                rename,
                description: d,
                limit,
                priority,
                paused,
            } => {
                let update = QueueUpdate {
                    name: rename.map(|n| QUEUES[n].to_owned()),
                    description: d.map(description_of),
                    concurrency_limit: limit.map(|l| l.map(i64::from)),
                    priority,
                    is_paused: paused,
                    ..QueueUpdate::default()
                };
                let real = bus
                    .update_queue(POOLS[pool], QUEUES[queue], update)
                    .await
                    .map(drop);
                let want = m.update_queue(pool, queue, rename, d, limit, priority, paused);
                (real, want)
            }
            Op::Heartbeat {
                pool,
                worker,
                interval,
            } => (
                match interval.map(HeartbeatInterval::from_secs).transpose() {
                    Ok(every) => {
                        let beat = Heartbeat::new(WORKERS[worker]).interval_opt(every);
                        bus.heartbeat(POOLS[pool], beat).await
                    }
                    Err(zero) => Err(zero),
                },
                m.heartbeat(pool, worker, interval),
            ),
            Op::DeleteWorker { pool, worker } => (
                bus.delete_worker(POOLS[pool], WORKERS[worker]).await,
                m.delete_worker(pool, worker),
            ),
            Op::Poll { pool, queues } => {
                let names: Vec<String> = queues.iter().map(|&q| QUEUES[q].to_owned()).collect();
                (bus.poll(POOLS[pool], &names).await, m.poll(pool, &queues))
            }
            Op::DeleteQueue { pool, queue } => (
                bus.delete_queue(POOLS[pool], QUEUES[queue]).await,
                m.delete_queue(pool, queue),
            ),
            Op::DeletePool { pool } => (bus.delete_pool(POOLS[pool]).await, m.delete_pool(pool)),
            Op::Advance { millis } => {
                let target = self.model.now + Duration::from_millis(millis);
                while let Some(t) = self.model.next_instant().filter(|t| *t <= target) {
                    tokio::time::advance(t - self.model.now).await;
                    self.settle().await;
                    self.model.advance_to(t);
                    self.compare(&format!("{step} (timers at {t:?})"), true)?;
                }
                tokio::time::advance(target - self.model.now).await;
                self.settle().await;
                self.model.advance_to(target);
                self.compare(&step, true)?;
                return self.snapshots(&step).await;
            }
        };
        if real != want {
            return Err(format!(
                "{step}: the bus answered {real:?}, the model {want:?}\n  history:\n    {}",
                self.log.join("\n    ")
            ));
        }
        self.settle().await;
        self.compare(&step, false)?;
        self.snapshots(&step).await
    }
}

/// Runs `ops` on a fresh actix system on paused time, and on the model.
fn run(cfg: BusConfig, ops: &[Op]) -> Result<(), String> {
    paused(|| async {
        let bus = bus_at_t0(cfg.clone());
        let seen = collect(&bus, EventFilter::all()).await;
        let mut h = Harness {
            bus,
            seen,
            model: Model::new(cfg),
            ids: HashMap::new(),
            log: Vec::new(),
            compared: 0,
        };
        for op in ops {
            h.step(op).await?;
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------
// The generators.

fn op() -> impl Strategy<Value = Op> {
    let pool = 0..POOLS.len();
    let queue = 0..QUEUES.len();
    let worker = 0..WORKERS.len();
    let limit = prop::option::of(prop::option::of(0u8..3));
    let paused = prop::option::of(any::<bool>());
    let priority = prop::option::of(1i64..4);
    prop_oneof![
        3 => (pool.clone(), prop::bool::weighted(0.2), prop::bool::weighted(0.2))
            .prop_map(|(pool, paused, agent)| Op::CreatePool { pool, paused, agent }),
        3 => (pool.clone(), queue.clone(), prop::bool::weighted(0.25), priority.clone())
            .prop_map(|(pool, queue, paused, priority)| Op::CreateQueue { pool, queue, paused, priority }),
        3 => (pool.clone(), prop::option::of(prop::option::of(0u8..2)),
              prop::option::of(0u8..2), limit.clone(), paused.clone())
            .prop_map(|(pool, description, template, limit, paused)| Op::UpdatePool {
                pool, description, template, limit, paused }),
        4 => (pool.clone(), queue.clone(), prop::option::weighted(0.3, 0..QUEUES.len()),
              prop::option::of(0u8..2), limit, priority, paused)
            .prop_map(|(pool, queue, rename, description, limit, priority, paused)| Op::UpdateQueue {
                pool, queue, rename, description, limit, priority, paused }),
        5 => (pool.clone(), worker.clone(), prop::option::of(1u32..40))
            .prop_map(|(pool, worker, interval)| Op::Heartbeat { pool, worker, interval }),
        2 => (pool.clone(), worker).prop_map(|(pool, worker)| Op::DeleteWorker { pool, worker }),
        4 => (pool.clone(), prop::collection::vec(queue.clone(), 0..3))
            .prop_map(|(pool, queues)| Op::Poll { pool, queues }),
        6 => prop_oneof![
            Just(0u64),
            Just(1),
            1u64..5_000,
            (1u64..130).prop_map(|s| s * 1000),
            (550u64..700).prop_map(|s| s * 1000),
        ].prop_map(|millis| Op::Advance { millis }),
        2 => (pool.clone(), queue).prop_map(|(pool, queue)| Op::DeleteQueue { pool, queue }),
        1 => pool.prop_map(|pool| Op::DeletePool { pool }),
    ]
}

fn config() -> impl Strategy<Value = BusConfig> {
    (1u32..4, 1u64..60, 1u64..90).prop_map(|(multiple, fallback, timeout)| BusConfig {
        worker_inactivity_multiple: multiple,
        fallback_heartbeat_interval: Duration::from_secs(fallback),
        queue_poll_timeout: Duration::from_secs(timeout),
        ..BusConfig::default()
    })
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_operations_give_the_models_events_and_snapshots(
        cfg in config(),
        ops in prop::collection::vec(op(), 0..=40),
    ) {
        if let Err(why) = run(cfg, &ops) {
            return Err(TestCaseError::fail(why));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Fixed sequences: the boundaries the tables care about, and shrunk failures.

fn must(cfg: BusConfig, ops: &[Op]) {
    if let Err(why) = run(cfg, ops) {
        panic!("{why}");
    }
}

#[test]
fn a_worker_expires_exactly_at_interval_times_multiple_and_a_queue_at_its_timeout() {
    let cfg = BusConfig {
        worker_inactivity_multiple: 3,
        queue_poll_timeout: Duration::from_secs(10),
        ..BusConfig::default()
    };
    must(
        cfg,
        &[
            Op::CreatePool {
                pool: 0,
                paused: false,
                agent: false,
            },
            Op::Heartbeat {
                pool: 0,
                worker: 0,
                interval: Some(2),
            },
            Op::Poll {
                pool: 0,
                queues: vec![],
            },
            Op::Advance { millis: 5_999 },
            Op::Advance { millis: 1 },
            Op::Advance { millis: 3_999 },
            Op::Advance { millis: 1 },
        ],
    );
}

#[test]
fn status_events_follow_across_pause_resume_and_the_window_edge() {
    must(
        BusConfig::default(),
        &[
            Op::CreatePool {
                pool: 1,
                paused: true,
                agent: false,
            },
            Op::Advance { millis: 599_999 },
            Op::UpdatePool {
                pool: 1,
                description: Some(Some(1)),
                template: None,
                limit: None,
                paused: Some(false),
            },
            Op::Advance { millis: 600_000 },
            Op::Heartbeat {
                pool: 1,
                worker: 2,
                interval: None,
            },
            Op::DeleteWorker { pool: 1, worker: 2 },
        ],
    );
}

#[test]
fn a_renamed_default_queue_stays_undeletable_and_its_old_name_is_free() {
    must(
        BusConfig::default(),
        &[
            Op::CreatePool {
                pool: 0,
                paused: false,
                agent: true,
            },
            Op::UpdateQueue {
                pool: 0,
                queue: 0,
                rename: Some(1),
                description: None,
                limit: None,
                priority: None,
                paused: Some(true),
            },
            Op::CreateQueue {
                pool: 0,
                queue: 0,
                paused: true,
                priority: None,
            },
            Op::DeleteQueue { pool: 0, queue: 1 },
            Op::Poll {
                pool: 0,
                queues: vec![0, 1],
            },
            Op::DeletePool { pool: 0 },
            Op::CreatePool {
                pool: 0,
                paused: false,
                agent: false,
            },
        ],
    );
}
