//! Task graphs: tasks with dependencies, priorities and resources, run as one
//! unit ([`Orchestrator::graphs`](crate::Orchestrator::graphs)).

pub use crate::orchestrator::Graphs;
pub use taskorch_actors::graph::{
    Access, DEFAULT_AGING, GraphInfo, GraphReport, GraphRun, GraphState, GraphStats, GraphTask,
    Resource, ResourceId, ResourceKind, ResourceUsage, TaskError, TaskGraph, TaskKey, TaskResult,
    TaskState, TaskStatus,
};
