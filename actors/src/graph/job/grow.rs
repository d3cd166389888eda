//! A graph that grows ([`GraphRun::add`](crate::graph::GraphRun::add),
//! [`extend`](crate::graph::GraphRun::extend)): new tasks appended to a
//! graph in flight, or to one that had finished.
//!
//! # How
//! The new tasks are checked as a submit checks them (names, the cycle
//! check among them, claims, programs and actions, dependencies outside
//! the graph), before anything changes; then, under the state lock, the
//! job swaps in the grown plan (see `plan.rs`), appends the new tasks'
//! states (`Pending`) and asks the driver to recount, as a retry does.
//! Adds are serialized (`growing`), so two of them never build on the
//! same old plan.
//!
//! # A graph that had finished
//! It is reopened as a retry reopens it (see `retry.rs`): once the old
//! driver has let go, the graph goes back to the coordinator, which drives
//! it again without checking its tasks a second time.
//!
//! # With a store
//! The grown definition is journaled under the state lock, in order with
//! the graph's task changes (the whole definition row again, which also
//! makes the graph active again), so a restart adopts the new tasks.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{GraphJob, Lease, prepare_nodes};
use crate::error::{Error, Result};
use crate::graph::spec::{TaskGraph, TaskKey};

impl GraphJob {
    /// Append `more`'s tasks (see the module docs) and return their keys,
    /// in `more`'s order, and whether the graph had finished (then it must
    /// be handed to the coordinator again:
    /// [`drive_again`](Self::drive_again)).
    ///
    /// # Errors
    /// Nothing changed on any error: `ShuttingDown` once the runtime
    /// stopped (or before the graph was accepted); what a submit returns
    /// for the new tasks (`DuplicateTask`, also for a name of an existing
    /// task, `InvalidTask`, `DependencyCycle` among the new tasks,
    /// `UnknownDependency`, `UnknownRunDependency`, `NotFound`,
    /// `UnknownAction`, `UnknownQueue`, ...).
    pub(crate) fn grow(&self, more: TaskGraph) -> Result<(Vec<TaskKey>, bool)> {
        let (ctx, graphs) = self
            .runtime
            .get()
            .and_then(|(ctx, graphs)| Some((ctx.upgrade()?, graphs.upgrade()?)))
            .ok_or(Error::ShuttingDown)?;
        ctx.shutdown().check()?;
        if more.is_empty() {
            return Ok((Vec::new(), false));
        }
        let _growing = self.growing.lock();
        let current = self.plan();
        let old = current.len();
        let added = more.len();
        let grown = current.extend(more)?;
        let prepared = prepare_nodes(&ctx, &graphs, &grown, old)?;
        let keys: Vec<TaskKey> = (old..old + added).map(|i| grown.key(i)).collect();
        for i in old..grown.len() {
            self.names.set(i, &grown.nodes[i].name);
        }
        let grown = Arc::new(grown);
        let reopens = self.is_finished();
        self.update(|state| {
            if reopens {
                // Store retention may have removed a finished graph with its
                // task rows: written again with the definition, so a crash
                // never runs a finished task a second time.
                state.changed.extend(0..old as u32);
            }
            state.grow(added);
            *self.plan.write() = Arc::clone(&grown);
            let mut all = self.prepared.lock();
            // An adopted graph that had finished was never prepared: its
            // old tasks stay unprepared (prepared again if retried).
            all.resize(old, None);
            all.extend(prepared);
            drop(all);
            self.journal_definition(&graphs);
        });
        // As a retry decides it (see `reset_failed`): under the lease
        // lock, whether a driver still has the graph.
        let driven = {
            let lease = self.lease.lock();
            self.finished.lock().take();
            let driven = *lease != Lease::Done;
            if driven {
                self.recount.store(true, Ordering::Release);
            }
            driven
        };
        if driven {
            self.poke().notify_one();
        }
        Ok((keys, !driven))
    }
}
