//! The key of one task of a task graph, apart from the graph code: errors
//! name it (`Error::UnknownDependency`), and the error vocabulary must not
//! import the graph engine. Public as `graph::TaskKey`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Names one task of one [`TaskGraph`](crate::graph::TaskGraph): returned by [`TaskGraph::add`](crate::graph::TaskGraph::add),
/// used to declare dependencies and to ask a [`GraphRun`](crate::graph::GraphRun)
/// about the task. A key of another graph is a dependency outside the
/// graph ([`GraphTask::after`](crate::graph::GraphTask::after); refused
/// with `UnknownDependency` if the runtime does not know that graph), and
/// refused by a handle (`UnknownTask`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TaskKey {
    graph: u64,
    index: u32,
}

impl TaskKey {
    /// The task's position in its graph (0 for the first one added).
    pub fn index(&self) -> usize {
        self.index as usize
    }

    /// The id of the graph the key belongs to.
    pub fn graph(&self) -> u64 {
        self.graph
    }

    pub(crate) fn new(graph: u64, index: u32) -> Self {
        TaskKey { graph, index }
    }
}

impl fmt::Display for TaskKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task #{} of graph {}", self.index, self.graph)
    }
}
