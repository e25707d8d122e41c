//! One leader in the fleet for work that must run once (the automations): a
//! lease on a key of the bucket `workbus-<cluster>-leaders`, whose entries
//! expire after the lease.
//!
//! ## The lease
//!
//! Every quarter of the lease each node either renews the key it holds
//! (compare-and-set on its revision) or, when the key is gone, tries to
//! create it; the one whose create succeeds leads. A leader counts its lease
//! from the moment it *sent* a renewal that succeeded and steps down when the
//! lease runs out unrenewed or a renewal finds the key taken (it was paused or
//! cut off past its lease). A node paused past its lease stops leading before
//! it asks NATS anything, so two leaders overlap only while a deposed one's
//! renewal is under way (at most half a lease, its timeout). A leader that leaves deletes
//! the key, so another takes over at its next tick.

use std::time::{Duration, Instant};

use async_nats::jetstream::kv::{self, CreateErrorKind};
use tokio::sync::watch;

/// Who leads, as this node last saw it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Leader {
    /// The leading node's name, if any holds the key.
    pub holder: Option<String>,
    /// Whether it is this node, with its lease valid.
    pub me: bool,
}

/// This node's part in one leadership: who leads, as it changes. Dropping it
/// stops taking part (without giving the key up: see [`Leadership::step_down`]).
pub struct Leadership {
    rx: watch::Receiver<Leader>,
    kv: kv::Store,
    key: String,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Leadership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leadership")
            .field("key", &self.key)
            .field("leader", &*self.rx.borrow())
            .finish()
    }
}

impl Leadership {
    pub(crate) fn start(kv: kv::Store, key: &str, node: &str, lease: Duration) -> Leadership {
        let (tx, rx) = watch::channel(Leader::default());
        let task = actix::spawn(run(kv.clone(), key.to_owned(), node.to_owned(), lease, tx));
        Leadership {
            rx,
            kv,
            key: key.to_owned(),
            task,
        }
    }

    /// Who leads now.
    pub fn current(&self) -> Leader {
        self.rx.borrow().clone()
    }

    /// Wakes when who leads changes.
    pub fn watch(&self) -> watch::Receiver<Leader> {
        self.rx.clone()
    }

    /// Stops taking part and, if this node leads, gives the key up so another
    /// node takes over at its next tick rather than after the lease.
    pub async fn step_down(self) {
        self.task.abort();
        if self.rx.borrow().me {
            if let Err(error) = self.kv.delete(&self.key).await {
                tracing::warn!(key = %self.key, %error, "could not give the leadership up");
            }
        }
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(kv: kv::Store, key: String, node: String, lease: Duration, tx: watch::Sender<Leader>) {
    let tick = lease / 4;
    let mut held: Option<(u64, Instant)> = None; // (revision, valid until)
    loop {
        if held.is_some_and(|(_, until)| Instant::now() >= until) {
            // Paused past the lease: lead no more before asking anything.
            held = None;
            tx.send_if_modified(|now| std::mem::replace(&mut now.me, false));
        }
        let sent = Instant::now();
        held = match held {
            Some((rev, until)) => match tokio::time::timeout(
                lease / 2,
                kv.update(&key, node.clone().into_bytes().into(), rev),
            )
            .await
            {
                Ok(Ok(rev)) => Some((rev, sent + lease)),
                Ok(Err(e)) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                    tracing::warn!(%key, node = %node, "the leadership lapsed (paused or cut off): another node leads");
                    None
                }
                // NATS did not answer: the lease holds until it runs out.
                _ if Instant::now() < until => Some((rev, until)),
                _ => None,
            },
            None => match tokio::time::timeout(
                lease / 2,
                kv.create(&key, node.clone().into_bytes().into()),
            )
            .await
            {
                Ok(Ok(rev)) => {
                    tracing::info!(%key, node = %node, "this node leads");
                    Some((rev, sent + lease))
                }
                Ok(Err(e)) if e.kind() == CreateErrorKind::AlreadyExists => None,
                Ok(Err(error)) => {
                    tracing::warn!(%key, %error, "could not take part in the leadership");
                    None
                }
                Err(_) => None,
            },
        };
        let leader = match held {
            Some(_) => Leader {
                holder: Some(node.clone()),
                me: true,
            },
            None => {
                let holder = match tokio::time::timeout(lease / 2, kv.get(&key)).await {
                    Ok(Ok(Some(v))) => String::from_utf8(v.to_vec()).ok(),
                    _ => None,
                };
                Leader { holder, me: false }
            }
        };
        tx.send_if_modified(|now| {
            let changed = *now != leader;
            *now = leader;
            changed
        });
        tokio::time::sleep(tick).await;
    }
}
