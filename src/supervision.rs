//! How the root supervisor restarts its children: strategy and restart intensity
//! (the restart type, [`Restart`](crate::Restart), is at the crate root); and the
//! application's own actors under it
//! ([`orch.guard().actors()`](crate::guard::Guard::actors), see docs/actors.md):
//! [`ActorSpec`], [`SupervisedActor`], actor groups ([`GroupSpec`],
//! [`ActorGroup`]) and what their messages tell the trace ([`ActorMessage`],
//! [`Envelope`]).

/// The actor framework user actors are written in, at the version taskorch
/// supervises (ractor 0.16).
pub use ractor;
pub use taskorch_actors::trace::Envelope;
pub use taskorch_actors::user::{
    ActorGroup, ActorMessage, ActorSpec, GroupSpec, SupervisedActor, UserActors,
};
pub use taskorch_actors::{Reply, RestartIntensity, Strategy};
