//! A failed task retried by hand ([`GraphRun::retry`](crate::graph::GraphRun::retry)):
//! the task and the tasks skipped because of it go back to `Pending`, and
//! the graph is driven again.
//!
//! # A graph that had finished
//! A failure usually finishes its graph (its dependents are `Skipped`, so
//! nothing is left to run), and the driver lets go of it. A retry then
//! reopens it: once the old driver has let go of the lease, the graph goes
//! back to the coordinator, which drives it again without checking its
//! tasks a second time. Its handle's `wait` waits for the new finish; a
//! report taken before the retry stays as it was.
//!
//! # With a store
//! The reset is journaled (`Op::GraphReopened`: the graph is active again,
//! the reset tasks' rows are removed, as `Pending` is never stored), in
//! order with the graph's other changes, so a restart adopts the reopened
//! graph and runs the retried task.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{GraphJob, GraphTable, Lease};
use crate::error::{Error, Result};
use crate::graph::driver::skip_downstream;
use crate::graph::state::TaskStatus;
use crate::store::Op;

impl GraphJob {
    /// Put failed task `i` and every task skipped because of it back to
    /// `Pending`. Returns whether the graph had finished (then it must be
    /// handed to the coordinator again: [`drive_again`](Self::drive_again)).
    ///
    /// # Errors
    /// `TaskNotFailed` naming the task and its status, if it did not end
    /// `Failed`, `TimedOut` or `Interrupted`.
    pub(crate) fn reset_failed(&self, i: usize) -> Result<bool> {
        let store = self.registry().store();
        let store_key = self.store_key;
        self.update_planned(|state, plan| {
            let status = state.status(i);
            if !matches!(
                status,
                TaskStatus::Failed | TaskStatus::TimedOut | TaskStatus::Interrupted
            ) {
                return Err(Error::TaskNotFailed {
                    task: plan.nodes[i].name.clone(),
                    status: status.to_string(),
                });
            }
            // Only keyed tasks can be answered by their old run.
            if plan.nodes[i].task.job().key.is_some()
                && let Some(old) = state.tasks[i].run
            {
                self.superseded.lock().push(old);
            }
            state.reopen(i);
            let mut reset = vec![i];
            let mut stack: Vec<usize> = plan.dependents(i).iter().map(|&d| d as usize).collect();
            while let Some(j) = stack.pop() {
                if state.status(j) == TaskStatus::Skipped && state.reopen(j) {
                    reset.push(j);
                    stack.extend(plan.dependents(j).iter().map(|&d| d as usize));
                }
            }
            if let Some(key) = store_key {
                let rows = reset.iter().map(|&j| j as u32).collect();
                store.journal(|| Op::GraphReopened { key, reset: rows });
            }
            // A task skipped for `i` may wait on another task that did not
            // succeed either: it stays skipped, now for that one (journaled
            // after the reset, by `update`).
            for &j in &reset[1..] {
                for &d in plan.deps(j) {
                    let dep = state.status(d as usize);
                    if dep.is_terminal() && dep != TaskStatus::Succeeded {
                        skip_downstream(state, plan, d as usize);
                    }
                }
            }
            Ok(())
        })?;
        // Nothing can finish the graph now that a task is pending again.
        // Whether a driver still has it is decided under the lease lock, as
        // the driver decides whether to let go (`close_if_finished`).
        let driven = {
            let lease = self.lease.lock();
            self.finished.lock().take();
            let driven = *lease != Lease::Done;
            if driven {
                // Set before the driver can look: it recounts, then runs
                // what became ready.
                self.recount.store(true, Ordering::Release);
            }
            driven
        };
        if driven {
            self.poke().notify_one();
        }
        Ok(!driven)
    }

    /// Whether a retry asked the driver to recount what each task waits
    /// for (and clear the request).
    pub(crate) fn take_recount(&self) -> bool {
        self.recount.swap(false, Ordering::AcqRel)
    }

    /// Hand a graph a retry reopened to the coordinator again (its driver
    /// has let go of it: see `reset_failed`). If no coordinator takes it, what
    /// the retry reopened ends `Interrupted` with that reason, so no waiter
    /// is left hanging.
    ///
    /// # Errors
    /// The coordinator's refusal: `ShuttingDown`, `ActorFailed`.
    pub(crate) async fn drive_again(self: &Arc<Self>) -> Result<()> {
        {
            let mut lease = self.lease.lock();
            if *lease == Lease::Done {
                *lease = Lease::Free;
            }
        }
        self.reopened.store(true, Ordering::Release);
        let started = self.coordinator().start(Arc::clone(self)).await;
        if let Err(e) = &started {
            self.reopened.store(false, Ordering::Release);
            self.interrupt_unfinished(e);
            self.close_lease();
        }
        started
    }

    /// For the driver that saw the graph finished: close the lease and take
    /// the graph out of the table, unless a retry reopened it meanwhile
    /// (then `false`: the driver drives on). Decided under the lease lock,
    /// as `reset_failed` decides whether a driver still has the graph.
    pub(crate) fn close_if_finished(&self, graphs: &GraphTable) -> bool {
        {
            let mut lease = self.lease.lock();
            if self.finished.lock().is_none() {
                return false;
            }
            // Out of the table before the lease says done: a retry that
            // sees it done puts the graph back.
            graphs.remove(self.id());
            *lease = Lease::Done;
        }
        self.lease_changed.notify_waiters();
        true
    }
}
