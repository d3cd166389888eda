//! The emergency halt: one switch that stops every run now and refuses new
//! work until it is turned off again.
//!
//! Unlike shutdown (see [`shutdown`](crate::shutdown)), a halt is
//! reversible and leaves the actor tree running:
//! - **halt**: the flag goes up first, so no run can start after it (the
//!   runner checks it before every attempt, `prepare` before accepting
//!   anything); then every unfinished run in the registry is cancelled
//!   through the same path as `Orchestrator::cancel` (its process group
//!   gets SIGTERM, `kill_grace`, SIGKILL; it ends `Cancelled`). Schedules
//!   stay enabled but their ticks are skipped (reason "halted").
//! - **resume**: the flag goes down; schedules fire again at their next
//!   tick.
//!
//! Halting while halted and resuming while running are no-ops (the first
//! reason stays).
//!
//! With a store the halt is durable: it is committed before the runs it
//! cancels and before `halt` returns (blocking its thread for that one
//! commit), and a start that finds it halts again before anything runs
//! (runs found queued end `Cancelled`, schedules skip their ticks) until
//! `resume`, which is journaled too.

use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::events::{EventBody, Events};
use crate::registry::Registry;
use crate::store::Op;

/// Longest a halt or resume waits for its commit (a plain function, it
/// blocks its thread for one fsync, normally milliseconds).
const HALT_COMMIT_BOUND: std::time::Duration = std::time::Duration::from_secs(5);

/// The halt switch of one runtime.
#[derive(Debug, Default)]
pub struct Halt {
    /// Up while halted: read on every attempt, so an atomic.
    halted: AtomicBool,
    /// The reason of the current halt.
    reason: Mutex<Option<String>>,
}

impl Halt {
    /// Whether the runtime is halted.
    #[inline]
    pub fn is_halted(&self) -> bool {
        self.halted.load(Ordering::Acquire)
    }

    /// `Ok` unless halted.
    ///
    /// # Errors
    /// `Halted { reason }` while halted.
    #[inline]
    pub fn check(&self) -> Result<()> {
        if self.is_halted() {
            return Err(Error::Halted {
                reason: self.reason().unwrap_or_default(),
            });
        }
        Ok(())
    }

    /// The reason of the current halt, if halted.
    pub fn reason(&self) -> Option<String> {
        self.reason.lock().clone()
    }

    /// Raise the flag; `false` if it was already up (a no-op).
    pub(crate) fn raise(&self, reason: &str) -> bool {
        let mut current = self.reason.lock();
        if current.is_some() {
            return false;
        }
        *current = Some(reason.to_string());
        self.halted.store(true, Ordering::SeqCst);
        true
    }

    /// Lower the flag; the reason it was raised for, `None` if it was not
    /// up (a no-op).
    pub(crate) fn lower(&self) -> Option<String> {
        let mut current = self.reason.lock();
        let reason = current.take()?;
        self.halted.store(false, Ordering::SeqCst);
        Some(reason)
    }
}

// Takes the registry (which holds the store) and the events, not the whole
// `Context`: the halt sits below the context, which wraps these two.
impl Halt {
    /// Halt the runtime (see the module docs): raise the flag, cancel every
    /// unfinished run, emit `Halted`. `None` if it was already halted (a
    /// no-op), otherwise how many runs were cancelled.
    pub(crate) fn halt(&self, registry: &Registry, events: &Events, reason: &str) -> Option<usize> {
        if !self.raise(reason) {
            return None;
        }
        // Durable before the runs' cancellations and before `halt`
        // returns: a crash after it never loses the halt (see the module
        // docs). A store that cannot commit does not stop the halt.
        registry.store().journal(|| Op::Halt {
            reason: Some(reason.to_string()),
        });
        if let Err(e) = registry.store().sync_blocking(HALT_COMMIT_BOUND) {
            tracing::error!(target: "taskorch::halt", error = %e, "the halt is not durable");
        }
        let cancelled = registry.cancel_unfinished();
        tracing::warn!(target: "taskorch::halt", reason, cancelled, "runtime halted");
        events.emit(None, || EventBody::Halted {
            reason: reason.to_string(),
            cancelled,
        });
        Some(cancelled)
    }

    /// Resume after a halt: `false` if it was not halted (a no-op).
    pub(crate) fn resume(&self, registry: &Registry, events: &Events) -> bool {
        let Some(reason) = self.lower() else {
            return false;
        };
        registry.store().journal(|| Op::Halt { reason: None });
        if let Err(e) = registry.store().sync_blocking(HALT_COMMIT_BOUND) {
            tracing::error!(target: "taskorch::halt", error = %e, "the resume is not durable");
        }
        tracing::info!(target: "taskorch::halt", %reason, "runtime resumed");
        events.emit(None, || EventBody::Resumed { reason });
        true
    }
}
