//! The ready queue: tasks whose dependencies succeeded, most urgent first,
//! with aging.
//!
//! Aging without re-sorting: a task that became ready as the `seq`-th one
//! and has priority level `p` (0 `Low` .. 3 `Critical`) is ranked by
//! `seq - p * aging`. A task passed over keeps its rank while every later
//! arrival's rank grows with its `seq`, so after `aging` later arrivals a
//! waiting task ranks like one a level higher: a `Low` task is overtaken by
//! at most `3 * aging` later `Critical` ones. The rank never changes once
//! pushed, so a plain binary heap keeps the order (O(log n) per push and
//! pop). The rule itself is [`Priority::aged_rank`], shared with the
//! execution permits of every run (see `queues`).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::spec::Priority;

/// See the module docs.
#[derive(Debug)]
pub(crate) struct ReadyQueue {
    aging: u32,
    // (rank, seq, index), smallest first; `seq` breaks ties for the task
    // that waited longer.
    heap: BinaryHeap<Reverse<(i64, u64, u32)>>,
}

impl ReadyQueue {
    pub(crate) fn new(aging: u32) -> Self {
        ReadyQueue {
            aging,
            heap: BinaryHeap::new(),
        }
    }

    /// Queue task `index`, which became ready as the `seq`-th one.
    pub(crate) fn push(&mut self, index: usize, priority: Priority, seq: u64) {
        let rank = priority.aged_rank(seq, self.aging);
        self.heap.push(Reverse((rank, seq, index as u32)));
    }

    /// The most urgent task.
    pub(crate) fn pop(&mut self) -> Option<Entry> {
        self.heap.pop().map(|Reverse(entry)| Entry(entry))
    }

    /// Put back an entry taken by [`pop`](Self::pop) (a task that could not
    /// start yet keeps its rank).
    pub(crate) fn put_back(&mut self, entry: Entry) {
        self.heap.push(Reverse(entry.0));
    }
}

/// A popped task, with its rank kept for [`ReadyQueue::put_back`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry((i64, u64, u32));

impl Entry {
    pub(crate) fn index(&self) -> usize {
        self.0.2 as usize
    }
}
