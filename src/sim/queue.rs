//! The engine's event queue: a binary heap keyed by `(time, rank, seq)`. It owns ordering
//! only; what an event means is the engine's business.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::record::SimTimeMs;

/// A min-queue of events by time. Events with equal times come out by rank (lower
/// first), then in the order they were pushed.
#[derive(Debug, Clone)]
pub struct EventQueue<E> {
    // The key is `(time, seq)` and not just `time`: a binary heap is not stable, so two
    // events at the same millisecond could otherwise come out in any order, and the run
    // would depend on heap internals. `seq` grows with every push, so equal times come
    // out in insertion order and runs are reproducible byte for byte.
    heap: BinaryHeap<Reverse<Entry<E>>>,
    next_seq: u64,
}

#[derive(Debug, Clone)]
struct Entry<E> {
    time_ms: SimTimeMs,
    rank: u8,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl<E> Eq for Entry<E> {}

impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> Ord for Entry<E> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl<E> Entry<E> {
    fn key(&self) -> (SimTimeMs, u8, u64) {
        (self.time_ms, self.rank, self.seq)
    }
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    /// An empty queue.
    pub fn new() -> Self {
        Self {
            heap: BinaryHeap::new(),
            next_seq: 0,
        }
    }

    /// Adds `event` at `time_ms` with rank 0, after every rank-0 event already queued at
    /// that time.
    pub fn push(&mut self, time_ms: SimTimeMs, event: E) {
        self.push_ranked(time_ms, 0, event);
    }

    /// Adds `event` at `time_ms`: after every event queued at that time with a rank up to
    /// `rank`, before those with a higher rank. Ranks let a caller fix the order of kinds
    /// of events at one time whatever order they were pushed in.
    pub fn push_ranked(&mut self, time_ms: SimTimeMs, rank: u8, event: E) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Reverse(Entry {
            time_ms,
            rank,
            seq,
            event,
        }));
    }

    /// Time of the earliest event, if any.
    pub fn peek_time(&self) -> Option<SimTimeMs> {
        self.heap.peek().map(|Reverse(e)| e.time_ms)
    }

    /// The earliest event and its time, if any.
    pub fn peek(&self) -> Option<(SimTimeMs, &E)> {
        self.heap.peek().map(|Reverse(e)| (e.time_ms, &e.event))
    }

    /// Removes and returns the earliest event (the lowest rank, then the first pushed,
    /// among equal times).
    pub fn pop(&mut self) -> Option<(SimTimeMs, E)> {
        self.heap.pop().map(|Reverse(e)| (e.time_ms, e.event))
    }

    /// Removes and returns the earliest event if it is at `time_ms`.
    pub fn pop_at(&mut self, time_ms: SimTimeMs) -> Option<E> {
        if self.peek_time() == Some(time_ms) {
            self.pop().map(|(_, e)| e)
        } else {
            None
        }
    }

    /// Number of queued events.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True when no event is queued.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use std::collections::BTreeMap;

    #[test]
    fn earlier_times_come_out_first() {
        let mut q = EventQueue::new();
        q.push(30, "c");
        q.push(10, "a");
        q.push(20, "b");
        assert_eq!(q.pop(), Some((10, "a")));
        assert_eq!(q.pop(), Some((20, "b")));
        assert_eq!(q.pop(), Some((30, "c")));
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn equal_times_come_out_in_insertion_order() {
        let mut q = EventQueue::new();
        for i in 0..100 {
            q.push(5, i);
        }
        q.push(1, -1);
        let order: Vec<i32> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        let expected: Vec<i32> = std::iter::once(-1).chain(0..100).collect();
        assert_eq!(order, expected);
    }

    #[test]
    fn lower_ranks_come_out_first_at_equal_times() {
        let mut q = EventQueue::new();
        q.push_ranked(5, 2, "finish");
        q.push_ranked(5, 0, "kill");
        q.push_ranked(4, 2, "early");
        q.push_ranked(5, 1, "node");
        q.push_ranked(5, 0, "kill-2");
        let order: Vec<&str> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, vec!["early", "kill", "kill-2", "node", "finish"]);
    }

    #[test]
    fn pop_at_takes_only_events_at_that_time() {
        let mut q = EventQueue::new();
        q.push(5, 'a');
        q.push(6, 'b');
        q.push(5, 'c');
        assert_eq!(q.pop_at(5), Some('a'));
        assert_eq!(q.pop_at(5), Some('c'));
        assert_eq!(q.pop_at(5), None);
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn matches_a_btreemap_shadow_under_random_operations() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut q = EventQueue::new();
        let mut shadow: BTreeMap<(u64, u64), u64> = BTreeMap::new();
        let mut seq = 0u64;
        for _ in 0..20_000 {
            if rng.next_u32() % 3 != 0 {
                let t = u64::from(rng.next_u32() % 50);
                q.push(t, seq);
                shadow.insert((t, seq), seq);
                seq += 1;
            } else {
                let expected = shadow.pop_first().map(|((t, _), v)| (t, v));
                assert_eq!(q.pop(), expected);
            }
            assert_eq!(q.len(), shadow.len());
        }
    }
}
