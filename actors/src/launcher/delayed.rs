//! Delayed launches (`Task::start_at`, `Task::start_after`): runs accepted
//! now, `Queued` until their due time, then started like any launch.
//!
//! # One timer for all of them
//! A delayed run is not a task while it waits: it is an entry in one
//! ordered map (by due time) shared by every launcher incarnation, and one
//! timer task per runtime sleeps until the earliest entry is due. Ten
//! thousand delayed runs cost ten thousand map entries and ten thousand
//! cancellation watches (a few words each, polled only when woken), not ten
//! thousand tasks and timers. Adding an entry earlier than the rest wakes
//! the timer, which then sleeps until the new earliest.
//!
//! Due times are wall-clock times read on the runtime's [`Clock`], so
//! tests drive them on paused time with a simulated clock. As with cron
//! schedules, the timer never sleeps more than [`RESYNC`] at a time, so a
//! jump of the system clock delays a run by at most that much; it never
//! starts a run before its due time on the clock.
//!
//! # Cancel and stop
//! Each waiting run's cancellation token is watched by the timer: a
//! [`cancel`](crate::registry::Registry::cancel) takes the run off the map
//! and ends it `Cancelled` at once; nothing was ever started for it. At
//! shutdown (graceful or the emergency stop) waiting runs are let go of:
//! their waiters get `ShuttingDown`, and with a durable store they stay
//! `Queued` there with their due time, so the next start runs them when
//! they are due (at once, and once, if the due time passed meanwhile).
//! Without a store they end `Interrupted`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Admitted, Launches, Settle};
use crate::error::Error;
use crate::registry::RunRecord;
use crate::run::RunId;
use crate::scheduler::Clock;
use crate::task::Task;

/// The longest the timer sleeps between looks at the wall clock (which may
/// jump: NTP, a suspended laptop).
const RESYNC: Duration = Duration::from_secs(1);

/// A run waiting for its due time, and what starts it.
pub(super) enum Pending {
    /// Launched in this run of the application.
    Launched(Admitted),
    /// Found `Queued` in the store after a restart.
    Resumed {
        /// What to run.
        task: Arc<Task>,
        /// Ends the run if it is dropped unstarted.
        settle: Settle,
    },
}

impl Pending {
    fn settle(&self) -> &Settle {
        match self {
            Pending::Launched(admitted) => &admitted.settle,
            Pending::Resumed { settle, .. } => settle,
        }
    }

    fn record(&self) -> &Arc<RunRecord> {
        &self.settle().record
    }

    /// Let go of the run, unstarted, as at shutdown: its waiters get
    /// `ShuttingDown`; with a store it stays `Queued` there (with its due
    /// time) for the next start, without one it ends `Interrupted`.
    fn release(self) {
        let Settle { ctx, record } = self.settle();
        let registry = ctx.registry();
        let stopped = Err(Error::ShuttingDown);
        let _ = if registry.store().is_enabled() {
            registry.finish_unjournaled(record, stopped)
        } else {
            registry.finish_now(record, stopped)
        };
        // Its guard now finds the run ended and journals nothing.
        drop(self);
    }
}

/// The waiting runs of one runtime (see the module docs).
pub(super) struct Delayed {
    clock: Clock,
    waiting: Mutex<Waiting>,
    // Wakes the timer: a new entry, or shutdown. `notify_one` keeps a
    // permit, so a wake between the timer's look and its sleep is not lost.
    wake: Notify,
}

impl std::fmt::Debug for Delayed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delayed")
            .field("waiting", &self.len())
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Waiting {
    by_due: BTreeMap<(SystemTime, RunId), Pending>,
    due_of: HashMap<RunId, SystemTime>,
    // Cancellation watches the timer has not picked up yet.
    fresh: Vec<(RunId, CancellationToken)>,
    // Shutdown has let go of everything: no entry is taken any more.
    closed: bool,
}

impl Drop for Delayed {
    fn drop(&mut self) {
        // The runtime was dropped without a shutdown: waiting runs are let
        // go of all the same, so a store keeps them (their guards would
        // otherwise journal them `Interrupted`).
        let waiting = std::mem::take(&mut self.waiting.get_mut().by_due);
        for pending in waiting.into_values() {
            pending.release();
        }
    }
}

impl Delayed {
    pub(super) fn new(clock: Clock) -> Self {
        Delayed {
            clock,
            waiting: Mutex::new(Waiting::default()),
            wake: Notify::new(),
        }
    }

    /// The clock due times are read on.
    pub(super) fn clock(&self) -> &Clock {
        &self.clock
    }

    /// How many runs wait.
    pub(super) fn len(&self) -> usize {
        self.waiting.lock().by_due.len()
    }

    /// Hold `pending` until `due`. Given back if shutdown has already let
    /// go of the waiting runs (the caller ends it).
    pub(super) fn hold(&self, due: SystemTime, pending: Pending) -> Result<(), Pending> {
        let record = pending.record();
        let (id, token) = (record.id(), record.token());
        let mut waiting = self.waiting.lock();
        if waiting.closed {
            return Err(pending);
        }
        if let Some(token) = token {
            waiting.fresh.push((id, token));
        }
        waiting.due_of.insert(id, due);
        waiting.by_due.insert((due, id), pending);
        drop(waiting);
        self.wake.notify_one();
        Ok(())
    }

    /// Take run `id` off the map, if it still waits.
    pub(super) fn take(&self, id: RunId) -> Option<Pending> {
        let mut waiting = self.waiting.lock();
        let due = waiting.due_of.remove(&id)?;
        waiting.by_due.remove(&(due, id))
    }

    /// Take every run due at `now`, earliest first.
    fn take_due(&self, now: SystemTime) -> Vec<Pending> {
        let mut waiting = self.waiting.lock();
        let mut due = Vec::new();
        while let Some(entry) = waiting.by_due.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((_, id), pending) = entry.remove_entry();
            waiting.due_of.remove(&id);
            due.push(pending);
        }
        due
    }

    /// Shutdown: take every waiting run, and refuse new ones from now on.
    pub(super) fn close(&self) -> Vec<Pending> {
        let mut waiting = self.waiting.lock();
        waiting.closed = true;
        waiting.due_of.clear();
        waiting.fresh.clear();
        let all = std::mem::take(&mut waiting.by_due).into_values().collect();
        drop(waiting);
        self.wake.notify_one();
        all
    }
}

/// The timer task: start each run when it is due, end each run cancelled
/// while it waits. Holds the launches weakly, so it never keeps a dropped
/// runtime alive; it ends at shutdown.
pub(super) async fn timer(delayed: Arc<Delayed>, launches: Weak<Launches>) {
    let mut cancels = FuturesUnordered::new();
    loop {
        let (next, fresh) = {
            let mut waiting = delayed.waiting.lock();
            if waiting.closed {
                return;
            }
            let next = waiting.by_due.first_key_value().map(|((due, _), _)| *due);
            (next, std::mem::take(&mut waiting.fresh))
        };
        for (id, token) in fresh {
            cancels.push(async move {
                token.cancelled_owned().await;
                id
            });
        }
        // Nothing waiting: sleep until woken (no periodic wake-ups).
        let wake_at = next.map(|due| delayed.clock.instant_at(due).min(Instant::now() + RESYNC));
        let sleep = tokio::time::sleep_until(wake_at.unwrap_or_else(Instant::now));
        tokio::select! {
            () = sleep, if wake_at.is_some() => {
                let due = delayed.take_due(delayed.clock.now());
                if due.is_empty() {
                    continue;
                }
                let Some(launches) = launches.upgrade() else {
                    return;
                };
                for pending in due {
                    launches.start_pending(pending);
                }
            }
            () = delayed.wake.notified() => {}
            Some(id) = cancels.next(), if !cancels.is_empty() => {
                // Gone already if it came due first (its run task handles
                // the cancel) or shutdown took it.
                if let Some(pending) = delayed.take(id) {
                    let Some(launches) = launches.upgrade() else {
                        return;
                    };
                    launches.stop_pending(pending);
                }
            }
        }
    }
}

impl Launches {
    /// End `pending`, stopped before its due time: `Cancelled` if a cancel
    /// stopped it, else let go of as at shutdown.
    pub(super) fn stop_pending(&self, pending: Pending) {
        let record = Arc::clone(pending.record());
        if !record.cancel_requested() {
            self.let_go(pending);
            return;
        }
        let ctx = Arc::clone(&self.ctx);
        let alive = ctx.tasks().token();
        self.runs.spawn(async move {
            let _alive = alive;
            let cancelled = Err(Error::Cancelled {
                run: Some(record.id()),
            });
            // Durable before its waiters hear of it; `pending` (its guard)
            // is dropped after, when there is nothing left to end.
            let _ = ctx.registry().finish(&record, cancelled).await;
            drop(pending);
        });
    }

    /// Let go of `pending` at shutdown: its waiters get `ShuttingDown`;
    /// with a store it stays `Queued` there (with its due time) for the
    /// next start, without one it ends `Interrupted`.
    pub(super) fn let_go(&self, pending: Pending) {
        pending.release();
    }
}
