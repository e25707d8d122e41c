//! The one drain: a subscriber counts what it took and what it finished,
//! and answers each [`Drain`] once everything taken before it is finished.

use actix::prelude::*;
use tokio::sync::oneshot;

/// Asks a subscriber to finish what it holds. Answered once every event that
/// was in its mailbox before this message is handled (for a webhook: sent,
/// or dead-lettered after its retry budget; for the logger: written and
/// flushed; for the NATS publisher: stored by JetStream, or counted as lost).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Drain;

/// What a subscriber took in and what it finished, and the [`Drain`]s waiting
/// for the difference to close.
///
/// # Examples
///
/// ```
/// use workbus_subscribers::toolkit::Backlog;
///
/// let mut backlog = Backlog::default();
/// backlog.take(3);
/// assert!(!backlog.is_settled());
/// backlog.finish(3);
/// assert!(backlog.is_settled());
/// ```
#[derive(Debug, Default)]
pub struct Backlog {
    taken: u64,
    finished: u64,
    waiting: Vec<(u64, oneshot::Sender<()>)>,
}

impl Backlog {
    /// `n` more items were taken in.
    pub fn take(&mut self, n: u64) {
        self.taken += n;
    }

    /// `n` items are finished (delivered, or counted as lost); answers the
    /// drains they were waiting for.
    pub fn finish(&mut self, n: u64) {
        self.finished += n;
        let finished = self.finished;
        let (done, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|(until, _)| *until <= finished);
        self.waiting = rest;
        for (_, tx) in done {
            let _ = tx.send(());
        }
    }

    /// Whether everything taken is finished.
    pub fn is_settled(&self) -> bool {
        self.finished >= self.taken
    }

    /// Whether a drain is waiting.
    pub fn is_draining(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// Items taken and not finished yet.
    pub fn pending(&self) -> u64 {
        self.taken.saturating_sub(self.finished)
    }

    /// The answer to a [`Drain`]: resolves once everything taken so far is finished.
    pub fn drain(&mut self) -> ResponseFuture<()> {
        if self.is_settled() {
            return Box::pin(async {});
        }
        let (tx, rx) = oneshot::channel();
        self.waiting.push((self.taken, tx));
        Box::pin(async move {
            let _ = rx.await;
        })
    }
}
