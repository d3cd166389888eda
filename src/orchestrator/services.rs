//! Supervised services: `supervise` (a contract method) and the
//! [`Services`] sub-handle of `observe()` that lists and finds them.

use taskorch_actors::{Result, Service, ServiceSpec, Services};

use super::Orchestrator;

impl Orchestrator {
    /// Supervise a service: start it (once the services it starts
    /// `after` are ready) and keep it running by its restart policy.
    /// Returns at once with its handle; [`Service::wait_ready`] waits for
    /// its readiness probe. See `docs/services.md`.
    ///
    /// With a store, a service restored from it (a permanent command
    /// service comes back with the orchestrator, a failed one stays
    /// failed) is returned as it is by a `supervise` of its name.
    ///
    /// # Errors
    /// `InvalidService` (bad settings: a zero restart window, a probe
    /// its kind cannot have, ...), `ServiceExists`,
    /// `UnknownServiceDependency` (an `after` no service has),
    /// `ServiceCycle`, `NotFound` / `PermissionDenied` for a program that
    /// cannot run, `ShuttingDown`. Nothing is started on an error.
    pub async fn supervise(&self, spec: ServiceSpec) -> Result<Service> {
        self.inner.services.supervise(spec)
    }
}

impl crate::events::Observer<'_> {
    /// The supervised services: `list` (every status, for a listing),
    /// `find`, `names`, `unhealthy`; `supervise_all` (a set checked
    /// together: cycles, unknown names), `remove`.
    pub fn services(&self) -> Services {
        self.orch.inner.services.clone()
    }
}
