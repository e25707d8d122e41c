//! The gate that [`Overflow::Block`](crate::Overflow::Block) closes, and the
//! registry when it is behind.
//!
//! Every operation that makes a pool or queue actor emit passes the gate
//! first; while a lossless subscriber's buffer is full the registry closes
//! it, and operations wait (or, for the `_nowait` calls, are refused with
//! [`Error::Busy`](crate::Error::Busy)) until the buffer drains to half. The
//! registry closes it too while 256 events or more wait for its next turn,
//! until fewer than half that are left.
//! While it is open, passing costs one atomic load.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// The gate that [`Overflow::Block`] closes: operations on the bus pass it
/// first, at the cost of one atomic load while it is open.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    closed_by: AtomicUsize,
    notify: Notify,
}

impl Gate {
    /// Waits until the gate is open.
    ///
    /// The `Notified` future is made before the second load: a `open` that
    /// lands between the two loads still wakes it (`notify_waiters` reaches
    /// futures already made, polled or not).
    pub(crate) async fn pass(&self) {
        // Acquire pairs with `open`'s release: whatever the registry did
        // before opening (draining the buffer) is seen by the operation.
        while self.closed_by.load(Ordering::Acquire) > 0 {
            let notified = self.notify.notified();
            if self.closed_by.load(Ordering::Acquire) == 0 {
                break;
            }
            notified.await;
        }
    }

    /// Whether operations may go on now.
    pub(crate) fn is_open(&self) -> bool {
        self.closed_by.load(Ordering::Acquire) == 0
    }

    /// Closed once per full buffer: the gate opens when every closer has opened it.
    pub(crate) fn close(&self) {
        self.closed_by.fetch_add(1, Ordering::AcqRel);
    }

    /// Only the last opener wakes the waiters. AcqRel: the count is one
    /// read-modify-write order, so two closers and their openers cannot
    /// both see themselves last.
    pub(crate) fn open(&self) {
        if self.closed_by.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.notify.notify_waiters();
        }
    }
}
