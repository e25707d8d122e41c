//! Writing through a store: a change, its records and its events committed
//! together, the events handed to the registry after, the caller answered last.
//!
//! An actor with a store collects what a handler emitted in its outbox and what
//! it changed in its pending batch; at the end of the handler it answers with
//! [`Durable::After`]: the actor handles nothing else until the commit is on
//! disk and its events are published (so its events stay in order), and only
//! then is the caller answered. Without a store it answers [`Durable::Now`],
//! as it always did: the events went to the registry as they were emitted.

use std::sync::Arc;

use actix::dev::{MessageResponse, OneshotSender};
use actix::prelude::*;
use workbus_events::Event;
use workbus_store::{Batch, Store, StoreError};

use crate::core::Core;
use crate::Error;

/// A handler's answer: at once, or once its change is durable.
pub enum Durable<A: Actor, T> {
    /// Nothing to commit (or no store).
    Now(T),
    /// Sent once the future (the commit, then the events) has finished; the actor waits for it.
    After(ResponseActFuture<A, T>),
}

impl<A, M, T> MessageResponse<A, M> for Durable<A, T>
where
    A: Actor,
    A::Context: AsyncContext<A>,
    M: Message<Result = T>,
    T: 'static,
{
    fn handle(self, ctx: &mut A::Context, tx: Option<OneshotSender<T>>) {
        match self {
            Durable::Now(v) => {
                if let Some(tx) = tx {
                    let _ = tx.send(v);
                }
            }
            Durable::After(fut) => ctx.wait(fut.map(|v, _, _| {
                if let Some(tx) = tx {
                    let _ = tx.send(v);
                }
            })),
        }
    }
}

/// Adds the events to the batch, commits it, then publishes the events in order.
/// A failed commit publishes them all the same (the change is made in memory,
/// where the bus answers from) and is answered [`Error::Store`], except a
/// fenced one: another node owns the pool now, so this node publishes nothing
/// for it and lets it go ([`StoreError::Fenced`]).
pub(crate) async fn commit(
    core: Arc<Core>,
    store: Arc<dyn Store>,
    mut batch: Batch,
    events: Vec<Event>,
) -> Result<(), Error> {
    for e in &events {
        batch.event(*e.id.as_bytes(), e.occurred.as_micros(), e.to_json());
    }
    let scope = batch
        .scope()
        .map(|s| String::from_utf8_lossy(s).into_owned());
    let committed = store.commit(batch).await;
    match &committed {
        Err(StoreError::Fenced { .. }) => {
            tracing::warn!(pool = scope.as_deref().unwrap_or_default(), dropped = events.len(),
                "another node owns this pool now: its change and events are dropped here, the pool let go");
            if let Some(name) = scope {
                core.release(&name);
            }
            return committed.map_err(Error::Store);
        }
        Err(error) => {
            tracing::error!(%error, "a change could not be written to the store: it is in memory only")
        }
        Ok(()) => {}
    }
    for e in events {
        core.emit(e);
    }
    committed.map_err(Error::Store)
}
