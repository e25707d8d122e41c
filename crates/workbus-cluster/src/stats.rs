//! A node's counters in the fleet, read without locks (the server's `/metrics`).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// What a node has done in its fleet. Every counter is a value of its own:
/// `Relaxed` orders nothing else through it.
#[derive(Debug, Default)]
pub struct ClusterStats {
    pub(crate) members: AtomicUsize,
    pub(crate) held: AtomicUsize,
    pub(crate) taken_over: AtomicU64,
    pub(crate) handed_over: AtomicU64,
    pub(crate) fenced: AtomicU64,
    pub(crate) forwarded: AtomicU64,
    pub(crate) lapsed: AtomicU64,
}

impl ClusterStats {
    /// Live nodes in this node's view.
    pub fn members(&self) -> usize {
        self.members.load(Ordering::Relaxed)
    }

    /// Pools this node holds.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// Pools this node took over from the store (after a node left, died or handed them over).
    pub fn taken_over(&self) -> u64 {
        self.taken_over.load(Ordering::Relaxed)
    }

    /// Pools this node handed over to their new owner.
    pub fn handed_over(&self) -> u64 {
        self.handed_over.load(Ordering::Relaxed)
    }

    /// Writes refused because another node owns the pool now.
    pub fn fenced(&self) -> u64 {
        self.fenced.load(Ordering::Relaxed)
    }

    /// Calls this node sent to the owner of their pool, and had answered.
    pub fn forwarded(&self) -> u64 {
        self.forwarded.load(Ordering::Relaxed)
    }

    /// Times this node found its lease lapsed and let every pool go.
    pub fn lapsed(&self) -> u64 {
        self.lapsed.load(Ordering::Relaxed)
    }
}

pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}
