//! The Pooled pattern: many small requests to warm worker processes.

use taskorch_actors::{Pool, PoolSpec, Result};

use super::Orchestrator;

impl Orchestrator {
    /// Open a pool of warm worker processes and return its handle.
    ///
    /// Starts `spec`'s workers (each in its own process group) before
    /// returning. Workers speak a line protocol: one request line on stdin,
    /// one reply line on stdout; what they write to stderr goes to the
    /// pool's log ring ([`Pool::logs`]). Send requests with
    /// [`Pool::request`]; find the pool again by name with
    /// [`pools().find`](Pools::find).
    ///
    /// # Errors
    /// `InvalidConfig` for a spec that cannot work (zero workers, ...),
    /// `NotFound` / `PermissionDenied` for a program that cannot run,
    /// `PoolExists` if a pool of that name is already open, `Spawn` if a
    /// worker could not be started, `ActorFailed` if the pool keeper
    /// failed meanwhile, `ShuttingDown`.
    pub async fn pool(&self, spec: PoolSpec) -> Result<Pool> {
        self.inner.pools.open(spec).await
    }
}

impl<'a> crate::events::Observer<'a> {
    /// The pools opened here: find one by name, list their names.
    pub fn pools(&self) -> Pools<'a> {
        Pools { orch: self.orch }
    }
}

/// The pools of an orchestrator ([`Observer::pools`](crate::events::Observer::pools)).
#[derive(Debug, Clone, Copy)]
pub struct Pools<'a> {
    orch: &'a Orchestrator,
}

impl Pools<'_> {
    /// The pool called `name` (open, closing, or failed), if there is one.
    pub fn find(&self, name: impl AsRef<str>) -> Option<Pool> {
        self.orch.inner.pools.get(name.as_ref())
    }

    /// Names of the pools, sorted.
    pub fn names(&self) -> Vec<String> {
        self.orch.inner.pools.names()
    }
}
