//! Waking the scheduler when the next tick is due.
//!
//! tokio's timer wheel has a resolution of one millisecond and rounds every
//! deadline up to its next tick, so a `sleep_until` wakes 0.5-1.5 ms late
//! (a raw `tokio::time::interval(10ms)` starts ~1.4 ms late on the reference
//! machine). That is too coarse for a scheduler that promises sub-millisecond
//! starts, so each runtime has a small OS thread, [`PreciseWake`], that
//! sleeps until the exact deadline (futex precision, ~0.1 ms) and sends the
//! scheduler its `Tick` directly (one wake-up, not two). Each incarnation
//! also has a timer task on a tokio `sleep_until` of the same deadline, and
//! whichever comes first wins; the other finds nothing due. On paused tokio
//! time (tests) the tokio sleep is the one that counts, because the
//! thread's real-time wait knows nothing of `advance`; a tick from the
//! thread there finds nothing due yet and changes nothing.
//!
//! The thread is started on the first deadline (a runtime with no
//! schedules has none) and ends when the [`ScheduleStore`] is dropped.
//!
//! [`ScheduleStore`]: super::ScheduleStore

use std::sync::Arc;
use std::sync::OnceLock;
use std::time::Instant as StdInstant;

use parking_lot::{Condvar, Mutex};
use ractor::ActorRef;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::SchedulerMessage;
use super::store::ScheduleStore;

/// A thread that wakes the scheduler at an exact instant (module docs).
#[derive(Debug, Default)]
pub(crate) struct PreciseWake {
    shared: Arc<Shared>,
    started: OnceLock<()>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<Armed>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct Armed {
    deadline: Option<(StdInstant, ActorRef<SchedulerMessage>)>,
    closed: bool,
}

impl PreciseWake {
    /// Send `Tick` to `scheduler` at tokio instant `at` (replacing any
    /// earlier deadline).
    pub(crate) fn arm(&self, at: Instant, scheduler: &ActorRef<SchedulerMessage>) {
        self.start();
        // Map through "now" rather than `into_std`: on paused tokio time the
        // two clocks differ, and the offset from now is what both agree on.
        let now = StdInstant::now();
        let ahead = at.saturating_duration_since(Instant::now());
        let deadline = now
            .checked_add(ahead.min(crate::duration::MAX))
            .unwrap_or(now);
        let mut armed = self.shared.state.lock();
        armed.deadline = Some((deadline, scheduler.clone()));
        self.shared.changed.notify_one();
    }

    /// Forget the deadline.
    pub(crate) fn disarm(&self) {
        self.shared.state.lock().deadline = None;
    }

    fn start(&self) {
        self.started.get_or_init(|| {
            let shared = Arc::clone(&self.shared);
            let spawned = std::thread::Builder::new()
                .name("taskorch-timer".into())
                .spawn(move || wait_loop(&shared));
            if let Err(e) = spawned {
                // The tokio timer still wakes the scheduler, only less
                // precisely.
                tracing::warn!(error = %e, "could not start the precise timer thread");
            }
        });
    }
}

impl Drop for PreciseWake {
    fn drop(&mut self) {
        self.shared.state.lock().closed = true;
        self.shared.changed.notify_one();
    }
}

fn wait_loop(shared: &Shared) {
    let mut armed = shared.state.lock();
    loop {
        if armed.closed {
            return;
        }
        match &armed.deadline {
            None => shared.changed.wait(&mut armed),
            Some((deadline, _)) if StdInstant::now() >= *deadline => {
                if let Some((_, scheduler)) = armed.deadline.take() {
                    // A dead incarnation refuses it; its successor re-arms.
                    let _ = scheduler.cast(SchedulerMessage::Tick);
                }
            }
            Some((deadline, _)) => {
                let deadline = *deadline;
                // Woken early by a new deadline or by `closed`: the loop
                // looks again either way.
                let _ = shared.changed.wait_until(&mut armed, deadline);
            }
        }
    }
}

/// One incarnation's timer task: sleeps (tokio time) until the deadline the
/// actor publishes, or until a queued run may start, then sends it a
/// `Tick`, and waits for the next deadline before sleeping again (so a
/// deadline in the past cannot flood the mailbox with ticks). Ends with
/// `stop` or when the actor is gone.
pub(crate) async fn run(
    actor: ActorRef<SchedulerMessage>,
    store: Arc<ScheduleStore>,
    mut deadline: watch::Receiver<Option<Instant>>,
    stop: CancellationToken,
) {
    loop {
        let at = *deadline.borrow_and_update();
        let tick = tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            changed = deadline.changed() => {
                if changed.is_err() {
                    return;
                }
                false
            }
            // Runs ended with a queued run waiting to start.
            _ = store.ready_notified() => true,
            _ = sleep_until(at) => true,
        };
        if !tick {
            continue;
        }
        if actor.cast(SchedulerMessage::Tick).is_err() {
            return;
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            changed = deadline.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
