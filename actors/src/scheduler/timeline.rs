//! The scheduler's timing heap: which schedule is due next, in O(log n).
//!
//! A tick pops the earliest item and pushes the schedule's next one; no
//! tick looks at the schedules that are not due, so 10,000 idle schedules
//! cost a tick nothing but a deeper heap. Items are never removed from the
//! middle: a schedule that is disabled, re-enabled, removed or rescheduled
//! bumps its generation, and the stale item is dropped when it surfaces
//! (the scheduler compacts the heap when stale items pile up).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// A min-heap of `(time, value)` items, earliest first; items with equal
/// times come out in insertion order.
#[derive(Debug)]
pub struct TimerHeap<K, T> {
    heap: BinaryHeap<Reverse<Item<K, T>>>,
    seq: u64,
}

#[derive(Debug)]
struct Item<K, T> {
    at: K,
    seq: u64,
    value: T,
}

impl<K: Ord, T> PartialEq for Item<K, T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl<K: Ord, T> Eq for Item<K, T> {}

impl<K: Ord, T> PartialOrd for Item<K, T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<K: Ord, T> Ord for Item<K, T> {
    fn cmp(&self, other: &Self) -> Ordering {
        (&self.at, self.seq).cmp(&(&other.at, other.seq))
    }
}

impl<K: Ord + Copy, T> Default for TimerHeap<K, T> {
    fn default() -> Self {
        TimerHeap {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }
}

impl<K: Ord + Copy, T> TimerHeap<K, T> {
    /// An empty heap.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add `value`, due at `at`. O(log n).
    pub fn push(&mut self, at: K, value: T) {
        self.seq += 1;
        self.heap.push(Reverse(Item {
            at,
            seq: self.seq,
            value,
        }));
    }

    /// The earliest due time.
    pub fn peek(&self) -> Option<K> {
        self.heap.peek().map(|Reverse(item)| item.at)
    }

    /// Take the earliest item if it is due at or before `now`. O(log n).
    pub fn pop_due(&mut self, now: K) -> Option<(K, T)> {
        if self.peek()? > now {
            return None;
        }
        self.heap.pop().map(|Reverse(item)| (item.at, item.value))
    }

    /// Number of items (stale ones included).
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether the heap is empty.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Drop every item.
    pub fn clear(&mut self) {
        self.heap.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_time_order_then_insertion_order() {
        let mut heap = TimerHeap::new();
        for (at, v) in [(5, "e"), (1, "a"), (3, "c1"), (3, "c2"), (2, "b")] {
            heap.push(at, v);
        }
        assert_eq!(heap.peek(), Some(1));
        assert_eq!(heap.pop_due(0), None, "nothing due yet");
        let mut out = Vec::new();
        while let Some((_, v)) = heap.pop_due(4) {
            out.push(v);
        }
        assert_eq!(out, ["a", "b", "c1", "c2"]);
        assert_eq!(heap.len(), 1);
        assert_eq!(heap.pop_due(10), Some((5, "e")));
        assert!(heap.is_empty());
    }
}
