//! Queue priorities as Prefect keeps them: distinct in a pool, at least 1.
//!
//! Prefect 3.9.1 gives a queue created without a priority the first one not
//! taken (`create_work_queue`), and when a queue is created at, or moved to,
//! a priority another queue holds, shifts that queue and the ones behind it
//! down by one, as far as needed (`bulk_update_work_queue_priorities`).
//! These are the same rules, as pure functions over the pool's queues in
//! creation order; the pool applies what they return.

use uuid::Uuid;

/// The priority Prefect gives a queue created without one: the first of 1, 2,
/// 3, … that no queue of the pool holds below the highest, else one past it.
pub(crate) fn first_free(priorities: impl Iterator<Item = i64>) -> i64 {
    let mut taken: Vec<i64> = priorities.collect();
    taken.sort_unstable();
    for (expected, p) in (1..).zip(&taken) {
        if *p != expected {
            return expected;
        }
    }
    taken.last().map_or(1, |max| max + 1)
}

/// The queues whose priority changes when `moved` takes `target`: `(id,
/// from, to)`, in the order of their new priorities. `queues` are the pool's
/// `(id, priority)` in creation order, `moved` included (its own priority is
/// ignored: it is `target` now).
pub(crate) fn shifted(queues: &[(Uuid, i64)], moved: Uuid, target: i64) -> Vec<(Uuid, i64, i64)> {
    // The others by priority; a stable sort keeps creation order for ties, as
    // Prefect's query returns rows in insertion order.
    let mut order: Vec<(Uuid, i64)> = queues
        .iter()
        .copied()
        .filter(|(id, _)| *id != moved)
        .collect();
    order.sort_by_key(|(_, p)| *p);
    let at = order
        .iter()
        .position(|(_, p)| *p >= target)
        .unwrap_or(order.len());
    order.insert(at, (moved, target));
    // Walk up, keeping each priority above the last one seen: the fewest changes.
    let mut out = Vec::new();
    let mut last = 0;
    for (id, p) in order {
        if p <= last {
            last += 1;
            if id != moved {
                out.push((id, p, last));
            }
        } else {
            last = p;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: u128) -> Vec<Uuid> {
        (1..=n).map(Uuid::from_u128).collect()
    }

    #[test]
    fn a_new_queue_takes_the_first_free_priority() {
        assert_eq!(first_free([].into_iter()), 1);
        assert_eq!(first_free([1, 2, 3].into_iter()), 4);
        assert_eq!(first_free([3, 1].into_iter()), 2);
        assert_eq!(first_free([2, 3].into_iter()), 1);
        assert_eq!(first_free([1, 5, 2].into_iter()), 3);
    }

    #[test]
    fn taking_a_held_priority_shifts_the_holder_and_those_behind_it() {
        let q = ids(4);
        // 1, 2, 3, and a new queue created at 1.
        let queues = [(q[0], 1), (q[1], 2), (q[2], 3), (q[3], 1)];
        assert_eq!(
            shifted(&queues, q[3], 1),
            [(q[0], 1, 2), (q[1], 2, 3), (q[2], 3, 4)]
        );
        // A gap stops the shift: 1, 2, 5 and the third moved to 1.
        let queues = [(q[0], 1), (q[1], 2), (q[2], 5)];
        assert_eq!(shifted(&queues, q[2], 1), [(q[0], 1, 2), (q[1], 2, 3)]);
        // A free priority moves nobody.
        assert!(shifted(&queues, q[2], 4).is_empty());
        // Moving down past the others: nobody moves either.
        assert!(shifted(&queues, q[0], 9).is_empty());
        // Moving down onto a held one shifts only that one and what follows it.
        let queues = [(q[0], 1), (q[1], 2), (q[2], 3)];
        assert_eq!(shifted(&queues, q[0], 2), [(q[1], 2, 3), (q[2], 3, 4)]);
    }
}
