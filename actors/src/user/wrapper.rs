//! The wrapper a user actor runs in: the same message type, every message
//! recorded in the trace and checked for injected faults before the
//! actor's own `handle` (as `Context::handle` does for the pattern
//! actors); everything else is the actor's own.

use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use tracing::Instrument;

use super::ActorMessage;
use crate::context::Context;
use crate::trace::{MessageInfo, Outcome};

/// A user actor `A` under supervision (see the module docs).
pub(crate) struct Supervised<A> {
    actor: A,
    name: &'static str,
    ctx: Arc<Context>,
}

impl<A> Supervised<A> {
    pub(crate) fn new(actor: A, name: &'static str, ctx: Arc<Context>) -> Self {
        Supervised { actor, name, ctx }
    }
}

/// What the trace and the fault plan see of `message`.
pub(super) fn info<M: ActorMessage>(message: &M) -> MessageInfo {
    let info = MessageInfo::new(message.kind());
    match message.envelope() {
        Some(envelope) if message.has_reply() => info.request(envelope),
        Some(envelope) => MessageInfo {
            envelope: Some(envelope),
            ..info
        },
        None if message.has_reply() => info.replies(),
        None => info,
    }
}

impl<A> Actor for Supervised<A>
where
    A: Actor,
    A::Msg: ActorMessage,
{
    type Msg = A::Msg;
    type State = A::State;
    type Arguments = A::Arguments;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        self.actor.pre_start(myself, args).await
    }

    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        self.actor.post_start(myself, state).await
    }

    async fn post_stop(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        self.actor.post_stop(myself, state).await
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        mut message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        message.accept();
        let info = info(&message);
        let actor = self.name;
        // Records the event when dropped, so a panic unwinding out of the
        // actor's handler is recorded too.
        let handling = self.ctx.trace().begin(actor, info);
        let span = tracing::debug_span!(
            target: "taskorch::actor",
            "message",
            actor,
            message = info.kind(),
            correlation = tracing::field::Empty,
        );
        if let Some(correlation) = info.correlation() {
            span.record("correlation", tracing::field::display(correlation.id));
        }
        let (outcome, result) = crate::panic_hook::quiet(actor, async {
            #[cfg(feature = "fault-injection")]
            match self.ctx.faults().before(actor, &info).await {
                crate::fault::Verdict::Handle => {}
                crate::fault::Verdict::Fail(reason) => return (Outcome::Error, Err(reason.into())),
                crate::fault::Verdict::DropReply => {
                    // Dropped unhandled with its reply: the caller sees a
                    // closed reply port (or the reply guard's answer).
                    drop(message);
                    return (Outcome::ReplyDropped, Ok(()));
                }
            }
            match self.actor.handle(myself, message, state).await {
                Ok(()) => (Outcome::Ok, Ok(())),
                Err(e) => (Outcome::Error, Err(e)),
            }
        })
        .instrument(span)
        .await;
        handling.finish(outcome);
        result
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        self.actor.handle_supervisor_evt(myself, event, state).await
    }
}
