//! A checked graph: [`Plan::build`] turns a [`TaskGraph`] into the
//! immutable structure the driver and the handle share, or into the error
//! that names what is wrong with it (nothing runs then).
//!
//! Edges are kept in two compressed adjacency lists (dependencies and
//! dependents of every task, each one slice of a shared array), which costs
//! 8 bytes per edge and no allocation per task.
//!
//! # Growing
//! A plan never changes: a graph that grows ([`Plan::extend`], from
//! `GraphRun::add`) gets a new plan with the old tasks (shared, not copied:
//! nodes are behind `Arc`) and the new ones appended, which the job swaps
//! in under its state lock. New tasks depend only on tasks that exist
//! already or come with them, so a cycle can only lie among the new ones,
//! and that is what is checked.
//!
//! # Dependencies outside the graph
//! A dependency on a task of another graph or on a run
//! ([`External`]) is not an edge: the driver watches it and counts it as
//! one more dependency of its task until it succeeds (or skips the task
//! when it does not).

use std::collections::HashSet;
use std::sync::Arc;

use super::resource::{Resource, normalize};
use super::spec::{Priority, TaskGraph, TaskKey};
use crate::error::{Error, Result};
use crate::run::RunId;
use crate::task::Task;

/// A dependency on something outside the graph (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum External {
    /// A run of this runtime (launched, or another graph's task run),
    /// by id: ids survive a restart.
    Run(RunId),
    /// A task of another graph of this process, by key (checked when the
    /// graph is accepted or grown).
    Task(TaskKey),
    /// A task of another graph, as the store names it (an adopted graph:
    /// graph ids are per process); resolved when the graph is driven.
    Stored {
        /// The other graph's store key.
        graph: [u8; 16],
        /// The task's index in it.
        index: u32,
    },
}

/// One task of a checked graph.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) name: String,
    pub(crate) task: Arc<Task>,
    pub(crate) priority: Priority,
    /// One claim per resource, merged and sorted.
    pub(crate) claims: Box<[Resource]>,
    pub(crate) tags: Box<[String]>,
    pub(crate) metadata: serde_json::Value,
    /// What it waits for outside the graph, each once.
    pub(crate) externals: Box<[External]>,
}

/// A checked graph (see the module docs).
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) graph: u64,
    pub(crate) name: Option<String>,
    pub(crate) nodes: Box<[Arc<Node>]>,
    deps: Adjacency,
    dependents: Adjacency,
    pub(crate) limit: usize,
    pub(crate) aging: u32,
    /// Whether any task claims a resource (if none does, the driver never
    /// looks at the resource table).
    pub(crate) uses_resources: bool,
}

/// `list[start[i]..start[i + 1]]` are the neighbours of task `i`.
#[derive(Debug)]
struct Adjacency {
    start: Box<[u32]>,
    list: Box<[u32]>,
}

impl Adjacency {
    fn of(&self, i: usize) -> &[u32] {
        &self.list[self.start[i] as usize..self.start[i + 1] as usize]
    }

    /// From one neighbour list per task.
    fn from_lists(lists: &[Vec<u32>]) -> Self {
        let mut start = Vec::with_capacity(lists.len() + 1);
        let mut list = Vec::with_capacity(lists.iter().map(Vec::len).sum());
        start.push(0);
        for l in lists {
            list.extend_from_slice(l);
            start.push(list.len() as u32);
        }
        Adjacency {
            start: start.into(),
            list: list.into(),
        }
    }
}

impl Plan {
    /// Check `graph` and build its plan.
    ///
    /// # Errors
    /// `InvalidTask` for a limit or an aging of zero, or a task with an
    /// empty name; `DuplicateTask` for a name used twice;
    /// `StartNotSupported` for a task with a delayed start;
    /// `UnknownDependency` for a key of this graph past its tasks (a key
    /// of another graph is an [`External::Task`], checked at accept);
    /// `DependencyCycle` naming the tasks of a cycle (a task depending on
    /// itself is a cycle of one).
    pub(crate) fn build(graph: TaskGraph) -> Result<Plan> {
        if graph.limit == 0 {
            return Err(Error::InvalidTask(
                "graph limit must be at least 1 (got 0)".into(),
            ));
        }
        if graph.aging == 0 {
            return Err(Error::InvalidTask(
                "graph aging must be at least 1 (got 0)".into(),
            ));
        }
        let empty = Plan {
            graph: graph.id,
            name: graph.name.clone(),
            nodes: Box::new([]),
            deps: Adjacency::from_lists(&[]),
            dependents: Adjacency::from_lists(&[]),
            limit: graph.limit,
            aging: graph.aging,
            uses_resources: false,
        };
        empty.extend(graph)
    }

    /// This plan with `more`'s tasks appended (a graph that grows, see the
    /// module docs). A dependency of a new task may name a task of
    /// `more`, a task of this graph, or anything else: a key of another
    /// graph becomes an [`External::Task`] (checked by the caller, who
    /// knows the other graphs), a run an [`External::Run`].
    ///
    /// # Errors
    /// As [`build`](Self::build), for the new tasks: names are unique
    /// across old and new tasks; `UnknownDependency` for a key of this
    /// graph or of `more` past its tasks; `DependencyCycle` among the new
    /// tasks.
    pub(crate) fn extend(&self, more: TaskGraph) -> Result<Plan> {
        let old = self.len();
        let n = more.tasks.len();
        let mut names: HashSet<&str> = HashSet::with_capacity(old + n);
        names.extend(self.nodes.iter().map(|node| node.name.as_str()));
        for (i, task) in more.tasks.iter().enumerate() {
            if task.name.trim().is_empty() {
                return Err(Error::InvalidTask(format!(
                    "graph task #{} has an empty name (names tell the runs and skip reasons apart)",
                    old + i
                )));
            }
            if !names.insert(task.name.as_str()) {
                return Err(Error::DuplicateTask(task.name.clone()));
            }
            // A graph task starts when its dependencies allow: a start of
            // its own would be silently ignored, so it is refused.
            if task.task.job().start.is_some() {
                return Err(Error::StartNotSupported {
                    place: format!("graph task {:?}", task.name),
                });
            }
        }
        drop(names);

        // Dependencies of the new tasks: on new ones (local indices, for
        // the cycle check), on old ones, and outside the graph.
        let mut local: Vec<Vec<u32>> = Vec::with_capacity(n);
        let mut deps: Vec<Vec<u32>> = (0..old).map(|i| self.deps(i).to_vec()).collect();
        let mut dependents: Vec<Vec<u32>> = (0..old).map(|i| self.dependents(i).to_vec()).collect();
        dependents.resize(old + n, Vec::new());
        let mut externals: Vec<Vec<External>> = Vec::with_capacity(n);
        for (i, task) in more.tasks.iter().enumerate() {
            let me = (old + i) as u32;
            let mut mine = Vec::with_capacity(task.deps.len());
            let mut new_deps = Vec::new();
            let mut outside = Vec::new();
            for &key in &task.deps {
                let dep = if key.graph() == more.id {
                    if key.index() >= n {
                        return Err(Error::UnknownDependency {
                            task: task.name.clone(),
                            dependency: key,
                        });
                    }
                    if !new_deps.contains(&(key.index() as u32)) {
                        new_deps.push(key.index() as u32);
                    }
                    (old + key.index()) as u32
                } else if key.graph() == self.graph {
                    if key.index() >= old {
                        return Err(Error::UnknownDependency {
                            task: task.name.clone(),
                            dependency: key,
                        });
                    }
                    key.index() as u32
                } else {
                    if !outside.contains(&External::Task(key)) {
                        outside.push(External::Task(key));
                    }
                    continue;
                };
                // Declaring a dependency twice means it once.
                if !mine.contains(&dep) {
                    mine.push(dep);
                    dependents[dep as usize].push(me);
                }
            }
            for &run in &task.runs {
                if !outside.contains(&External::Run(run)) {
                    outside.push(External::Run(run));
                }
            }
            for &(graph, index) in &task.stored_deps {
                let stored = External::Stored { graph, index };
                if !outside.contains(&stored) {
                    outside.push(stored);
                }
            }
            deps.push(mine);
            local.push(new_deps);
            externals.push(outside);
        }
        if let Some(path) = find_cycle(&local) {
            let path = path
                .into_iter()
                .map(|i| more.tasks[i as usize].name.clone())
                .collect();
            return Err(Error::DependencyCycle { path });
        }

        let deps = Adjacency::from_lists(&deps);
        let dependents = Adjacency::from_lists(&dependents);
        let mut uses_resources = self.uses_resources;
        let mut nodes: Vec<Arc<Node>> = Vec::with_capacity(old + n);
        nodes.extend(self.nodes.iter().cloned());
        for (t, outside) in more.tasks.into_iter().zip(externals) {
            let claims = normalize(&t.resources);
            uses_resources |= !claims.is_empty();
            nodes.push(Arc::new(Node {
                name: t.name,
                // The graph task's own priority, or else its task's (as
                // every run of the task would have).
                priority: if t.priority == Priority::Normal {
                    t.task.job().priority
                } else {
                    t.priority
                },
                task: Arc::new(t.task),
                claims,
                tags: t.tags.into(),
                metadata: t.metadata,
                externals: outside.into(),
            }));
        }
        Ok(Plan {
            graph: self.graph,
            name: self.name.clone(),
            nodes: nodes.into(),
            deps,
            dependents,
            limit: self.limit,
            aging: self.aging,
            uses_resources,
        })
    }

    /// Number of tasks.
    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    /// The tasks `i` depends on.
    pub(crate) fn deps(&self, i: usize) -> &[u32] {
        self.deps.of(i)
    }

    /// The tasks that depend on `i`.
    pub(crate) fn dependents(&self, i: usize) -> &[u32] {
        self.dependents.of(i)
    }

    /// The key of task `i`.
    pub(crate) fn key(&self, i: usize) -> TaskKey {
        TaskKey::new(self.graph, i as u32)
    }

    /// The index of `key`, if it is one of this graph's.
    pub(crate) fn index(&self, key: TaskKey) -> Option<usize> {
        belongs(self.graph, self.len(), key).then_some(key.index())
    }

    /// `i` and every task downstream of it, each once (breadth first).
    pub(crate) fn downstream(&self, i: usize) -> Vec<usize> {
        let mut seen = vec![false; self.len()];
        let mut order = vec![i];
        seen[i] = true;
        let mut next = 0;
        while let Some(&at) = order.get(next) {
            next += 1;
            for &d in self.dependents(at) {
                let d = d as usize;
                if !seen[d] {
                    seen[d] = true;
                    order.push(d);
                }
            }
        }
        order
    }
}

fn belongs(graph: u64, len: usize, key: TaskKey) -> bool {
    key.graph() == graph && key.index() < len
}

/// A cycle of `deps`, as task indices each depending on the next, the
/// first repeated at the end; `None` if the graph is acyclic.
///
/// Kahn's algorithm peels off every task whose dependencies are all
/// peeled; what is left each has a dependency left, so walking from any of
/// them along such dependencies must come back to a task already seen.
/// Iterative throughout: a chain of 100,000 tasks must not overflow the
/// stack.
fn find_cycle(deps: &[Vec<u32>]) -> Option<Vec<u32>> {
    let n = deps.len();
    let mut waiting: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut dependents: Vec<Vec<u32>> = vec![Vec::new(); n];
    for (i, ds) in deps.iter().enumerate() {
        for &d in ds {
            dependents[d as usize].push(i as u32);
        }
    }
    let mut free: Vec<usize> = (0..n).filter(|&i| waiting[i] == 0).collect();
    let mut peeled = vec![false; n];
    while let Some(i) = free.pop() {
        peeled[i] = true;
        for &d in &dependents[i] {
            let d = d as usize;
            waiting[d] -= 1;
            if waiting[d] == 0 {
                free.push(d);
            }
        }
    }
    let start = (0..n).find(|&i| !peeled[i])?;
    // Position of each task on the walk, to cut the cycle out of it.
    let mut on_walk = vec![usize::MAX; n];
    let mut walk = Vec::new();
    let mut at = start;
    while on_walk[at] == usize::MAX {
        on_walk[at] = walk.len();
        walk.push(at as u32);
        // Unpeeled tasks always have an unpeeled dependency.
        at = deps[at]
            .iter()
            .map(|&d| d as usize)
            .find(|&d| !peeled[d])
            .expect("an unpeeled task has an unpeeled dependency");
    }
    let mut cycle = walk.split_off(on_walk[at]);
    cycle.push(at as u32);
    Some(cycle)
}
