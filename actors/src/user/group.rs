//! [`ActorGroup`]: a named sub-supervisor of user actors under the root.
//!
//! The group is a second instance of the root supervisor's actor, linked
//! to the root, with the group's strategy and intensity and escalation on
//! (see [`GroupSpec`]). Its member list lives outside it, in the handle:
//! every incarnation of the group starts every member from that list, so
//! a group the root restarts comes back whole.

use std::sync::Arc;

use parking_lot::Mutex;
use ractor::Actor;

use super::spec::GroupSpec;
use super::{ActorMessage, ActorSpec, SupervisedActor, UserActors};
use crate::error::{Error, Result};
use crate::slot::{ActorSlot, SlotControl};
use crate::supervisor::spec::{NestedFn, ProbeFn, StartFn};
use crate::supervisor::{
    ChildReport, ChildSpec, ChildState, ChildStatus, RootSupervisor, SupervisorArguments,
    SupervisorMessage, SupervisorPolicy,
};

/// The members' child specs, in start order.
type Members = Arc<Mutex<Vec<ChildSpec>>>;

/// A named group of user actors under its own supervisor (see
/// [`GroupSpec`]). Cheap to clone.
#[derive(Debug, Clone)]
pub struct ActorGroup {
    actors: UserActors,
    name: &'static str,
    slot: ActorSlot<SupervisorMessage>,
    members: Members,
}

impl ActorGroup {
    /// The group's handle and its child spec under the root.
    pub(super) fn build(
        actors: UserActors,
        name: &'static str,
        spec: GroupSpec,
    ) -> (ActorGroup, ChildSpec) {
        let shared = &actors.shared;
        let slot = ActorSlot::new(name, shared.restart_wait);
        let members: Members = Arc::default();
        let policy = SupervisorPolicy {
            strategy: spec.strategy,
            intensity: spec.intensity.unwrap_or(shared.policy.intensity),
            backoff: spec.backoff.unwrap_or(shared.policy.backoff),
            status_timeout: shared.policy.status_timeout,
        };
        let start: StartFn = {
            let ctx = Arc::clone(&shared.ctx);
            let slot = slot.clone();
            let members = Arc::clone(&members);
            let escalate = spec.escalate;
            Arc::new(move |root| {
                let args = SupervisorArguments {
                    children: members.lock().clone(),
                    policy,
                    trace: Arc::clone(ctx.trace()),
                    events: ctx.events().clone(),
                    metrics: Arc::clone(ctx.metrics()),
                    escalate,
                    name,
                };
                let slot = slot.clone();
                Box::pin(async move {
                    let (group, _join) = Actor::spawn_linked(None, RootSupervisor, args, root)
                        .await
                        .map_err(|e| e.to_string())?;
                    slot.set_up(group.clone());
                    Ok(group.get_cell())
                })
            })
        };
        let probe: ProbeFn = {
            let members = Arc::clone(&members);
            let strategy = spec.strategy;
            Arc::new(move || {
                let names: Vec<&str> = members.lock().iter().map(|m| m.name()).collect();
                let detail = format!("actor group ({strategy:?}): {}", names.join(", "));
                Box::pin(async move { Some(ChildReport { detail }) })
            })
        };
        let nested: NestedFn = {
            let slot = slot.clone();
            let members = Arc::clone(&members);
            Arc::new(move |state| {
                let slot = slot.clone();
                let names: Vec<&'static str> = members.lock().iter().map(|m| m.name()).collect();
                Box::pin(async move { member_lines(name, &slot, state, &names).await })
            })
        };
        let control = GroupControl {
            slot: slot.clone(),
            members: Arc::clone(&members),
        };
        let mut child = ChildSpec::from_parts(name, start, probe, Arc::new(control))
            .restart(spec.restart)
            .shutdown_timeout(spec.shutdown_timeout);
        child.alone = true;
        child.nested = Some(nested);
        let group = ActorGroup {
            actors,
            name,
            slot,
            members,
        };
        (group, child)
    }

    /// The group's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Start an actor as the group's last member: restarted per the
    /// group's strategy, stopped before the members started earlier.
    ///
    /// # Errors
    /// As [`UserActors::spawn`]; `ActorFailed` if the group itself failed
    /// for good.
    pub async fn spawn<A>(&self, spec: ActorSpec<A>) -> Result<SupervisedActor<A::Msg>>
    where
        A: Actor,
        A::Msg: ActorMessage,
    {
        let (child, handle) = self.actors.prepare(spec)?;
        let name = handle.name();
        // In the list first: an incarnation of the group started from now
        // on starts it too.
        self.members.lock().push(child.clone());
        let started = match self
            .slot
            .call(|port| SupervisorMessage::StartChild(child, port))
            .await
        {
            Ok(Ok(())) => Ok(()),
            // The name is ours (reserved above): the group restarted
            // meanwhile and its new incarnation started the member from
            // the list already.
            Ok(Err(Error::DuplicateActor { .. })) => Ok(()),
            Ok(Err(e)) | Err(e) => Err(e),
        };
        if started.is_err() {
            self.members.lock().retain(|m| m.name() != name);
        }
        self.actors.shared.names.settle(name, started.is_ok());
        started.map(|()| handle)
    }
}

/// The status lines of a group's members: the group's own answer while it
/// runs, else every member in the group's state.
async fn member_lines(
    group: &'static str,
    slot: &ActorSlot<SupervisorMessage>,
    state: ChildState,
    names: &[&'static str],
) -> Vec<ChildStatus> {
    let in_group = Some(format!("member of actor group {group}"));
    if state == ChildState::Running
        && let Ok(status) = slot.call(SupervisorMessage::Status).await
    {
        return status
            .children
            .into_iter()
            .map(|mut line| {
                if line.detail.is_none() {
                    line.detail = in_group.clone();
                }
                line
            })
            .collect();
    }
    names
        .iter()
        .map(|name| ChildStatus {
            name: (*name).to_string(),
            state: match state {
                // Between the group's answer and now it stopped running.
                ChildState::Running => ChildState::Restarting,
                other => other,
            },
            restarts: 0,
            last_failure: None,
            detail: in_group.clone(),
        })
        .collect()
}

/// The group's slot, which also tells every member's slot what happens to
/// the group as a whole (so their callers fail fast when the group fails
/// for good or stops, instead of waiting out the restart wait).
struct GroupControl {
    slot: ActorSlot<SupervisorMessage>,
    members: Members,
}

impl SlotControl for GroupControl {
    fn mark(&self, state: ChildState, reason: Option<&str>) {
        self.slot.mark(state, reason);
        if state == ChildState::Running {
            return;
        }
        let reason = reason.map(|r| format!("its actor group failed: {r}"));
        for member in self.members.lock().iter() {
            member.slot.mark(state, reason.as_deref());
        }
    }
}
