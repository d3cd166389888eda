//! User actors in the chaos workload ([`Chaos::user_actors`](super::Chaos::user_actors)):
//! one under the root and a one_for_all actor group of two, each counting
//! acknowledged additions in state kept outside the actor. Each round
//! adds to every one of them while the plan's faults hit them by name;
//! at the end, each total must equal the additions acknowledged: an
//! acknowledged request was applied exactly once, across every crash,
//! lost reply and group restart.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ractor::{Actor, ActorProcessingErr, ActorRef};
use taskorch_actors::user::{ActorMessage, ActorSpec, GroupSpec, SupervisedActor};
use taskorch_actors::{Reply, Result, Strategy};

use super::workload::Workload;
use crate::Orchestrator;

/// The actor under the root.
const ROOT_ACTOR: &str = "chaos_actor";
/// The group and its members, in start order.
const GROUP: &str = "chaos_group";
const MEMBERS: [&str; 2] = ["chaos_member_a", "chaos_member_b"];

/// The user actors the plan aims at, with the message kinds each handles.
pub(super) const TARGETS: &[(&str, &[&str])] = &[
    (ROOT_ACTOR, Tally::KINDS),
    (MEMBERS[0], Tally::KINDS),
    (MEMBERS[1], Tally::KINDS),
];

/// The one message: add `n`, answer the new total.
#[derive(Debug)]
pub(super) enum Tally {
    Add { n: u64, reply: Reply<u64> },
}

impl ActorMessage for Tally {
    const KINDS: &'static [&'static str] = &["Add"];

    fn kind(&self) -> &'static str {
        "Add"
    }

    fn envelope(&self) -> Option<taskorch_actors::trace::Envelope> {
        let Tally::Add { reply, .. } = self;
        Some(reply.envelope())
    }

    fn has_reply(&self) -> bool {
        true
    }

    fn accept(&mut self) {
        let Tally::Add { reply, .. } = self;
        reply.accept();
    }
}

/// Adds to a total kept outside it, so a restart loses nothing.
struct Counter;

impl Actor for Counter {
    type Msg = Tally;
    type State = Arc<AtomicU64>;
    type Arguments = Arc<AtomicU64>;

    async fn pre_start(
        &self,
        _myself: ActorRef<Tally>,
        total: Arc<AtomicU64>,
    ) -> std::result::Result<Arc<AtomicU64>, ActorProcessingErr> {
        Ok(total)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Tally>,
        message: Tally,
        total: &mut Arc<AtomicU64>,
    ) -> std::result::Result<(), ActorProcessingErr> {
        let Tally::Add { n, reply } = message;
        // Applied and answered with no await between: an acknowledged
        // addition is one that was applied.
        reply.send(Ok(total.fetch_add(n, Ordering::SeqCst) + n));
        Ok(())
    }
}

/// One user actor of the workload: its handle, its total (outside the
/// actor), and what callers had acknowledged.
#[derive(Debug)]
struct Tallied {
    handle: SupervisedActor<Tally>,
    total: Arc<AtomicU64>,
    acknowledged: AtomicU64,
}

/// The workload's user actors.
#[derive(Debug, Default)]
pub(super) struct UserActors {
    actors: Vec<Tallied>,
}

fn spec(name: &str, total: &Arc<AtomicU64>) -> ActorSpec<Counter> {
    let total = Arc::clone(total);
    ActorSpec::new(name, move || (Counter, Arc::clone(&total)))
}

impl UserActors {
    /// Start the actor under the root and the group with its members.
    pub(super) async fn start(orch: &Orchestrator) -> Result<UserActors> {
        let actors = orch.guard().actors();
        let mut started = Vec::new();
        let total = Arc::default();
        let handle = actors.spawn(spec(ROOT_ACTOR, &total)).await?;
        started.push((handle, total));
        let group = actors
            .group(GroupSpec::new(GROUP).strategy(Strategy::OneForAll))
            .await?;
        for name in MEMBERS {
            let total = Arc::default();
            let handle = group.spawn(spec(name, &total)).await?;
            started.push((handle, total));
        }
        Ok(UserActors {
            actors: started
                .into_iter()
                .map(|(handle, total)| Tallied {
                    handle,
                    total,
                    acknowledged: AtomicU64::new(0),
                })
                .collect(),
        })
    }
}

impl Workload {
    /// Add `round + 1` to every user actor, twice, at once.
    pub(super) async fn user_round(&self, round: usize) {
        let n = round as u64 + 1;
        let adds = self.users.actors.iter().flat_map(|actor| {
            (0..2).map(move |k| async move {
                let name = actor.handle.name();
                let added = actor.handle.request(|reply| Tally::Add { n, reply });
                if self
                    .call(format!("add to {name} {round}.{k}"), added)
                    .await
                    .is_some()
                {
                    actor.acknowledged.fetch_add(n, Ordering::SeqCst);
                }
            })
        });
        futures::future::join_all(adds).await;
    }

    /// Every user actor's total is exactly what was acknowledged.
    pub(super) fn check_user_actors(&self) {
        for actor in &self.users.actors {
            let total = actor.total.load(Ordering::SeqCst);
            let acknowledged = actor.acknowledged.load(Ordering::SeqCst);
            if total != acknowledged {
                self.note_violation(format!(
                    "user actor {} applied {total} but callers were acknowledged {acknowledged}",
                    actor.handle.name()
                ));
            }
        }
    }
}
