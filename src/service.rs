//! Supervised services (see `docs/services.md`): the application's own
//! long-running work — a command or an in-process async function — kept
//! running by a restart policy, with readiness and liveness probes,
//! dependencies and an ordered stop.
//!
//! [`ServiceSpec`](crate::ServiceSpec), [`Service`](crate::Service),
//! [`ServiceStatus`](crate::ServiceStatus),
//! [`ServiceState`](crate::ServiceState) and
//! [`Readiness`](crate::Readiness) are at the crate root;
//! `Orchestrator::supervise` starts one. Here: the other settings
//! ([`Liveness`], [`Escalation`], [`StopSignal`]), the listing of every
//! service ([`Services`], from `orch.observe().services()`), and the
//! label of a service's runs ([`SERVICE_LABEL`]: find a service's history
//! with `RunQuery::label(SERVICE_LABEL, name)`).

pub use taskorch_actors::StopSignal;
pub use taskorch_actors::service::{
    DEFAULT_START_TIMEOUT, DEFAULT_STOP_GRACE, Escalation, Liveness, SERVICE_LABEL, ServiceFn,
    Services,
};
