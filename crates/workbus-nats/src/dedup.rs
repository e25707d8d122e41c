//! A bounded memory of event ids, to deliver each remote event once.

use std::collections::{HashSet, VecDeque};

use uuid::Uuid;

/// The last `capacity` event ids seen, oldest forgotten first.
///
/// JetStream delivers at least once: a message whose ack was lost comes
/// again. The source remembers the ids it has handed to the bus and skips a
/// second copy. The window is bounded, so a copy that arrives after
/// `capacity` newer events would pass; the stream's own duplicate window and
/// confirmed acks make that rare.
#[derive(Debug)]
pub(crate) struct DedupWindow {
    seen: HashSet<Uuid>,
    order: VecDeque<Uuid>,
    capacity: usize,
}

impl DedupWindow {
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        DedupWindow {
            seen: HashSet::with_capacity(capacity.min(1 << 16)),
            order: VecDeque::with_capacity(capacity.min(1 << 16)),
            capacity,
        }
    }

    /// Remembers `id`; answers `false` if it was remembered already.
    pub(crate) fn insert(&mut self, id: Uuid) -> bool {
        if !self.seen.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_within_the_window_and_forgets_the_oldest() {
        let ids: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
        let mut w = DedupWindow::new(3);
        assert!(w.insert(ids[0]));
        assert!(!w.insert(ids[0]));
        assert!(w.insert(ids[1]));
        assert!(w.insert(ids[2]));
        assert!(w.insert(ids[3]));
        assert_eq!(w.len(), 3);
        // ids[0] fell out of the window.
        assert!(w.insert(ids[0]));
        assert!(!w.insert(ids[3]));
    }
}
