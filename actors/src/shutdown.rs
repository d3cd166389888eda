//! The runtime's one shutdown mechanism.
//!
//! **Graceful shutdown** (`Orchestrator::shutdown`) is the only way the
//! runtime stops on purpose:
//! 1. [`Shutdown::begin`] flips `closing`: every entry point now answers
//!    `Error::ShuttingDown`, so no new work is accepted.
//! 2. The root supervisor stops its children in reverse start order. Each
//!    pattern actor gives its in-flight runs up to `shutdown_grace` to
//!    finish, then terminates the rest (SIGTERM, `kill_grace`, SIGKILL to
//!    each process group); those runs end `Interrupted` and their callers
//!    get `ShuttingDown`.
//! 3. The runtime waits for every run task (the [`TaskTracker`] in the
//!    context) to finish its clean-up, so when `shutdown` returns no process
//!    of ours is left.
//!
//! Calling it again, from any task, waits for the same shutdown and returns
//! `Ok`: it is idempotent.
//!
//! **Emergency stop** happens when the last `Orchestrator` handle is
//! dropped without `shutdown`: the root token is cancelled, which stops every
//! run at once (still SIGTERM then SIGKILL per group), and the supervisor is
//! killed. Nothing waits for it, because `Drop` cannot.
//!
//! [`TaskTracker`]: tokio_util::task::TaskTracker

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};

/// Shutdown state shared by the facade and every actor.
#[derive(Debug, Default)]
pub struct Shutdown {
    /// Set when shutdown begins; entry points check it and refuse new work.
    closing: AtomicBool,
    /// Completed once shutdown has finished; concurrent and later callers
    /// of [`Shutdown::run_once`] wait on it instead of starting another.
    done: OnceCell<()>,
    /// Parent of every actor incarnation's token: cancelling it stops every
    /// run at once (the emergency stop).
    root: CancellationToken,
}

impl Shutdown {
    /// Whether shutdown has begun.
    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// `Ok` while the runtime accepts work.
    ///
    /// # Errors
    /// `ShuttingDown` once shutdown has begun.
    pub fn check(&self) -> Result<()> {
        if self.is_closing() {
            Err(Error::ShuttingDown)
        } else {
            Ok(())
        }
    }

    /// Refuse new work from now on.
    pub fn begin(&self) {
        self.closing.store(true, Ordering::Release);
    }

    /// Run the shutdown sequence `f` exactly once; every caller (first,
    /// concurrent or later) returns when it has completed.
    pub async fn run_once<F, Fut>(&self, f: F)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = ()>,
    {
        self.begin();
        self.done.get_or_init(f).await;
    }

    /// Whether the shutdown sequence has completed.
    pub fn is_done(&self) -> bool {
        self.done.initialized()
    }

    /// The root token (see the module docs).
    pub fn root(&self) -> &CancellationToken {
        &self.root
    }

    /// Emergency stop: refuse new work and stop every run now.
    pub fn emergency(&self) {
        self.begin();
        self.root.cancel();
    }
}
