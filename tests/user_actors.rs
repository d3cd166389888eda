//! The application's own actors under the root supervisor
//! (`orch.guard().actors()`): restart per policy and intensity, actor
//! groups (strategies, escalation), the status listing, the message trace,
//! fault injection by name, refusals, and the stop order at shutdown.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use taskorch::supervision::RestartIntensity;
use taskorch::supervision::{
    ActorMessage, ActorSpec, Envelope, GroupSpec, Reply, Strategy, SupervisedActor,
};
use taskorch::trace::{EventKind, Outcome};
use taskorch::{Backoff, ChildState, Config, Error, Restart, SystemStatus};

use crate::common::*;

/// What survives a restart of a test actor: it lives outside the actor,
/// and every incarnation gets it from the factory.
#[derive(Debug, Default)]
struct Outside {
    total: AtomicU64,
    /// Incarnations started so far.
    starts: AtomicU32,
    /// Names of the actors that stopped, in order (shared by several).
    stops: Option<Arc<Mutex<Vec<String>>>>,
}

#[derive(Debug)]
enum Probe {
    Add { n: u64, sent: Envelope },
    Total { reply: Reply<u64> },
    Incarnation(RpcReplyPort<u32>),
    Panic,
    Fail,
    Stop,
}

impl ActorMessage for Probe {
    const KINDS: &'static [&'static str] =
        &["Add", "Total", "Incarnation", "Panic", "Fail", "Stop"];

    fn kind(&self) -> &'static str {
        match self {
            Probe::Add { .. } => "Add",
            Probe::Total { .. } => "Total",
            Probe::Incarnation(_) => "Incarnation",
            Probe::Panic => "Panic",
            Probe::Fail => "Fail",
            Probe::Stop => "Stop",
        }
    }

    fn envelope(&self) -> Option<Envelope> {
        match self {
            Probe::Add { sent, .. } => Some(*sent),
            Probe::Total { reply } => Some(reply.envelope()),
            _ => None,
        }
    }

    fn has_reply(&self) -> bool {
        matches!(self, Probe::Total { .. } | Probe::Incarnation(_))
    }

    fn accept(&mut self) {
        if let Probe::Total { reply } = self {
            reply.accept();
        }
    }
}

struct ProbeActor {
    name: String,
}

impl Actor for ProbeActor {
    type Msg = Probe;
    type State = (Arc<Outside>, u32);
    type Arguments = Arc<Outside>;

    async fn pre_start(
        &self,
        _myself: ActorRef<Probe>,
        outside: Arc<Outside>,
    ) -> Result<Self::State, ActorProcessingErr> {
        let n = outside.starts.fetch_add(1, Ordering::SeqCst) + 1;
        Ok((outside, n))
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Probe>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(stops) = &state.0.stops {
            stops.lock().unwrap().push(self.name.clone());
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Probe>,
        message: Probe,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            Probe::Add { n, .. } => {
                state.0.total.fetch_add(n, Ordering::SeqCst);
            }
            Probe::Total { reply } => reply.send(Ok(state.0.total.load(Ordering::SeqCst))),
            Probe::Incarnation(port) => {
                let _ = port.send(state.1);
            }
            Probe::Panic => panic!("asked to panic"),
            Probe::Fail => return Err("asked to fail".into()),
            Probe::Stop => myself.stop(None),
        }
        Ok(())
    }
}

fn probe(name: &str, outside: &Arc<Outside>) -> ActorSpec<ProbeActor> {
    let outside = Arc::clone(outside);
    let actor = name.to_string();
    ActorSpec::new(name, move || {
        (
            ProbeActor {
                name: actor.clone(),
            },
            Arc::clone(&outside),
        )
    })
    .backoff(Backoff::fixed(Duration::from_millis(1)))
}

async fn status(orch: &taskorch::Orchestrator) -> SystemStatus {
    orch.system_status().await.expect("status answers")
}

/// Wait until `name`'s status line says `state` with `restarts`.
async fn wait_for_child(
    orch: &taskorch::Orchestrator,
    name: &str,
    state: ChildState,
    restarts: u32,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = status(orch).await;
        if let Some(line) = now.child(name)
            && line.state == state
            && line.restarts == restarts
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} never reached {state:?} with {restarts} restarts: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_user_actor_is_listed_beside_the_pattern_actors() {
    let orch = start_runtime().await;
    let outside = Arc::new(Outside::default());
    let counter = orch
        .guard()
        .actors()
        .spawn(probe("counter", &outside))
        .await
        .unwrap();
    assert_eq!(counter.name(), "counter");
    let names: Vec<String> = status(&orch)
        .await
        .children
        .iter()
        .map(|c| c.name.clone())
        .collect();
    assert_eq!(
        names,
        [
            "executor",
            "batch",
            "launcher",
            "scheduler",
            "pool_keeper",
            "counter"
        ]
    );
    let line = status(&orch).await.child("counter").cloned().unwrap();
    assert_eq!((line.state, line.restarts), (ChildState::Running, 0));
    assert_eq!(orch.guard().actors().names(), ["counter"]);
    orch.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_permanent_actor_comes_back_after_a_panic_with_its_state_outside() {
    let orch = start_runtime().await;
    let outside = Arc::new(Outside::default());
    let counter = orch
        .guard()
        .actors()
        .spawn(probe("counter", &outside))
        .await
        .unwrap();
    counter
        .cast(Probe::Add {
            n: 5,
            sent: Envelope::now(),
        })
        .await
        .unwrap();
    let old = counter.actor_ref().unwrap();
    counter.cast(Probe::Panic).await.unwrap();
    wait_for_child(&orch, "counter", ChildState::Running, 1).await;
    // The handle reaches the new incarnation; the old reference is dead.
    assert_eq!(counter.call(Probe::Incarnation).await.unwrap(), 2);
    assert_ne!(counter.actor_ref().unwrap().get_id(), old.get_id());
    assert!(old.cast(Probe::Panic).is_err(), "the old ActorRef is dead");
    // What lives outside the actor survived the restart.
    let total = counter
        .request(|reply| Probe::Total { reply })
        .await
        .unwrap();
    assert_eq!(total, 5);
    // A normal stop of a permanent actor restarts it too.
    counter.cast(Probe::Stop).await.unwrap();
    wait_for_child(&orch, "counter", ChildState::Running, 2).await;
    assert_eq!(counter.call(Probe::Incarnation).await.unwrap(), 3);
    orch.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_transient_actor_restarts_on_failure_only() {
    let orch = start_runtime().await;
    let outside = Arc::new(Outside::default());
    let worker = orch
        .guard()
        .actors()
        .spawn(probe("worker", &outside).restart(Restart::Transient))
        .await
        .unwrap();
    worker.cast(Probe::Fail).await.unwrap();
    wait_for_child(&orch, "worker", ChildState::Running, 1).await;
    worker.cast(Probe::Stop).await.unwrap();
    wait_for_child(&orch, "worker", ChildState::Stopped, 1).await;
    assert!(matches!(
        worker.cast(Probe::Panic).await,
        Err(Error::ShuttingDown)
    ));
    orch.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_temporary_actor_is_never_restarted() {
    let orch = start_runtime().await;
    let outside = Arc::new(Outside::default());
    let once = orch
        .guard()
        .actors()
        .spawn(probe("once", &outside).restart(Restart::Temporary))
        .await
        .unwrap();
    once.cast(Probe::Panic).await.unwrap();
    wait_for_child(&orch, "once", ChildState::Failed, 0).await;
    let line = status(&orch).await.child("once").cloned().unwrap();
    assert!(line.last_failure.unwrap().contains("asked to panic"));
    assert!(matches!(
        once.cast(Probe::Add {
            n: 1,
            sent: Envelope::now()
        })
        .await,
        Err(Error::ActorFailed { ref actor, .. }) if actor == "once"
    ));
    assert_eq!(outside.starts.load(Ordering::SeqCst), 1);
    orch.shutdown().await.unwrap();
}

#[tokio::test]
async fn past_its_intensity_an_actor_is_given_up_on_and_the_others_keep_running() {
    let orch = start_runtime().await;
    let outside = Arc::new(Outside::default());
    let flaky = orch
        .guard()
        .actors()
        .spawn(probe("flaky", &outside).intensity(2, Duration::from_secs(60)))
        .await
        .unwrap();
    for restarts in 1..=2 {
        flaky.cast(Probe::Panic).await.unwrap();
        wait_for_child(&orch, "flaky", ChildState::Running, restarts).await;
    }
    flaky.cast(Probe::Panic).await.unwrap();
    wait_for_child(&orch, "flaky", ChildState::Failed, 2).await;
    let now = status(&orch).await;
    let line = now.child("flaky").unwrap();
    assert!(
        line.last_failure
            .as_deref()
            .unwrap()
            .contains("gave up after 2 restarts"),
        "{line:?}"
    );
    // One actor given up on takes nothing else down.
    for name in ["executor", "batch", "launcher", "scheduler", "pool_keeper"] {
        assert_eq!(now.child(name).unwrap().state, ChildState::Running);
    }
    assert!(matches!(
        flaky.call(Probe::Incarnation).await,
        Err(Error::ActorFailed { .. })
    ));
    orch.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_factory_that_fails_at_start_is_a_typed_error_and_frees_the_name() {
    let orch = start_runtime().await;
    let actors = orch.guard().actors();
    let refused = actors
        .spawn(ActorSpec::<ProbeActor>::try_new("broken", || {
            Err("no database".to_string())
        }))
        .await;
    match refused {
        Err(Error::ActorStart { actor, reason }) => {
            assert_eq!(actor, "broken");
            assert!(reason.contains("no database"), "{reason}");
        }
        other => panic!("expected ActorStart, got {other:?}"),
    }
    // A factory that panics is a failed start too, not a dead supervisor.
    let panicked = actors
        .spawn(ActorSpec::<ProbeActor>::try_new("broken", || {
            panic!("factory bug")
        }))
        .await;
    assert!(
        matches!(&panicked, Err(Error::ActorStart { actor, reason })
            if actor == "broken" && reason.contains("factory bug")),
        "{panicked:?}"
    );
    assert!(status(&orch).await.child("broken").is_none());
    // Nothing was added: the name can be used.
    let outside = Arc::new(Outside::default());
    actors.spawn(probe("broken", &outside)).await.unwrap();
    orch.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_factory_that_fails_on_restart_trips_the_intensity() {
    let orch = start_runtime().await;
    let outside = Arc::new(Outside::default());
    let builds = Arc::new(AtomicU32::new(0));
    let spec = {
        let outside = Arc::clone(&outside);
        let builds = Arc::clone(&builds);
        ActorSpec::try_new("fragile", move || {
            // Only the first build succeeds.
            if builds.fetch_add(1, Ordering::SeqCst) > 0 {
                return Err("config vanished".to_string());
            }
            let actor = ProbeActor {
                name: "fragile".into(),
            };
            Ok((actor, Arc::clone(&outside)))
        })
        .intensity(3, Duration::from_secs(60))
        .backoff(Backoff::fixed(Duration::from_millis(1)))
    };
    let fragile = orch.guard().actors().spawn(spec).await.unwrap();
    fragile.cast(Probe::Panic).await.unwrap();
    wait_for_child(&orch, "fragile", ChildState::Failed, 0).await;
    let line = status(&orch).await.child("fragile").cloned().unwrap();
    assert!(
        line.last_failure
            .as_deref()
            .unwrap()
            .contains("config vanished"),
        "{line:?}"
    );
    // One build that worked, then one per restart the intensity allowed.
    assert_eq!(builds.load(Ordering::SeqCst), 4);
    orch.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_names_and_windows_are_refused_with_typed_errors() {
    let orch = start_runtime().await;
    let actors = orch.guard().actors();
    let outside = Arc::new(Outside::default());
    actors.spawn(probe("dup", &outside)).await.unwrap();
    assert!(matches!(
        actors.spawn(probe("dup", &outside)).await,
        Err(Error::DuplicateActor { ref name }) if name == "dup"
    ));
    // Actors and groups share one namespace.
    assert!(matches!(
        actors.group(GroupSpec::new("dup")).await,
        Err(Error::DuplicateActor { ref name }) if name == "dup"
    ));
    for reserved in ["executor", "pool_keeper", "supervisor", "store"] {
        assert!(
            matches!(
                actors.spawn(probe(reserved, &outside)).await,
                Err(Error::InvalidActorName { ref name, .. }) if name == reserved
            ),
            "{reserved} must be refused"
        );
    }
    assert!(matches!(
        actors.spawn(probe("", &outside)).await,
        Err(Error::InvalidActorName { .. })
    ));
    assert!(matches!(
        actors.group(GroupSpec::new("batch")).await,
        Err(Error::InvalidActorName { .. })
    ));
    assert!(matches!(
        actors
            .spawn(probe("windowless", &outside).intensity(3, Duration::ZERO))
            .await,
        Err(Error::InvalidDuration { ref field, .. }) if field == "ActorSpec::intensity"
    ));
    // A member of a group takes a name in the same namespace too.
    let group = actors.group(GroupSpec::new("g")).await.unwrap();
    assert!(matches!(
        group.spawn(probe("dup", &outside)).await,
        Err(Error::DuplicateActor { .. })
    ));
    assert_eq!(actors.names(), ["dup", "g"]);
    orch.shutdown().await.unwrap();
}

#[tokio::test]
async fn actors_and_services_share_one_namespace_in_both_directions() {
    let orch = start_runtime().await;
    let actors = orch.guard().actors();
    let outside = Arc::new(Outside::default());
    actors.spawn(probe("worker", &outside)).await.unwrap();
    actors.group(GroupSpec::new("crew")).await.unwrap();
    // A service may not take an actor's or a group's name: fault
    // injection finds either by name.
    for taken in ["worker", "crew"] {
        assert!(
            matches!(
                orch.supervise(taskorch::ServiceSpec::command(taken, "/bin/sleep").args(["30"]))
                    .await,
                Err(Error::DuplicateActor { ref name }) if name == taken
            ),
            "service {taken} must be refused"
        );
    }
    // Nor may one of a set; nothing of the set starts.
    assert!(matches!(
        orch.observe().services().supervise_all(vec![
            taskorch::ServiceSpec::command("fine", "/bin/sleep").args(["30"]),
            taskorch::ServiceSpec::command("worker", "/bin/sleep").args(["30"]),
        ]),
        Err(Error::DuplicateActor { ref name }) if name == "worker"
    ));
    assert!(orch.observe().services().names().is_empty());
    // And an actor (or a group, or a group's member) may not take a
    // service's name.
    orch.supervise(taskorch::ServiceSpec::command("db", "/bin/sleep").args(["30"]))
        .await
        .unwrap();
    assert!(matches!(
        actors.spawn(probe("db", &outside)).await,
        Err(Error::ServiceExists(ref name)) if name == "db"
    ));
    assert!(matches!(
        actors.group(GroupSpec::new("db")).await,
        Err(Error::ServiceExists(ref name)) if name == "db"
    ));
    let crew = actors.group(GroupSpec::new("crew2")).await.unwrap();
    assert!(matches!(
        crew.spawn(probe("db", &outside)).await,
        Err(Error::ServiceExists(ref name)) if name == "db"
    ));
    assert_eq!(actors.names(), ["worker", "crew", "crew2"]);
    orch.shutdown().await.unwrap();
}

#[tokio::test]
async fn spawning_after_shutdown_is_refused() {
    let orch = start_runtime().await;
    let actors = orch.guard().actors();
    let outside = Arc::new(Outside::default());
    let group = actors.group(GroupSpec::new("late_group")).await.unwrap();
    orch.shutdown().await.unwrap();
    assert!(matches!(
        actors.spawn(probe("late", &outside)).await,
        Err(Error::ShuttingDown)
    ));
    assert!(matches!(
        actors.group(GroupSpec::new("later")).await,
        Err(Error::ShuttingDown)
    ));
    assert!(matches!(
        group.spawn(probe("member", &outside)).await,
        Err(Error::ShuttingDown)
    ));
    // A refused start leaves its name free.
    assert!(actors.names() == ["late_group"]);
}

#[tokio::test]
async fn messages_are_traced_with_queue_time_handling_time_and_correlation() {
    let orch = start_runtime().await;
    let outside = Arc::new(Outside::default());
    let counter = orch
        .guard()
        .actors()
        .spawn(probe("traced", &outside))
        .await
        .unwrap();
    counter
        .cast(Probe::Add {
            n: 2,
            sent: Envelope::now(),
        })
        .await
        .unwrap();
    assert_eq!(
        counter
            .request(|reply| Probe::Total { reply })
            .await
            .unwrap(),
        2
    );
    counter.cast(Probe::Panic).await.unwrap();
    wait_for_child(&orch, "traced", ChildState::Running, 1).await;
    let log = orch.trace().for_actor("traced");
    let find = |name: &str, kind: EventKind| {
        log.events()
            .iter()
            .find(|e| e.name() == name && e.kind() == kind)
            .copied()
            .unwrap_or_else(|| panic!("no {name} event in {:?}", log.events()))
    };
    let add = find("Add", EventKind::Message);
    assert_eq!(add.outcome(), Outcome::Ok);
    assert!(
        add.queue_time().is_some(),
        "a stamped message has a queue time"
    );
    assert!(add.correlation().is_some());
    let total = find("Total", EventKind::Message);
    assert!(total.queue_time().is_some());
    let correlation = total.correlation().expect("a request is correlated");
    assert_eq!(orch.trace().for_correlation(correlation).len(), 1);
    assert_ne!(add.correlation(), total.correlation());
    assert_eq!(find("Panic", EventKind::Message).outcome(), Outcome::Panic);
    assert_eq!(
        find("ChildFailed", EventKind::Supervisor).outcome(),
        Outcome::Error
    );
    assert_eq!(
        find("ChildRestarted", EventKind::Supervisor).outcome(),
        Outcome::Ok
    );
    orch.shutdown().await.unwrap();
}

/// A group of three probes `a`, `b`, `c`; their outside states and
/// handles, in that order.
async fn group_of_three(
    orch: &taskorch::Orchestrator,
    group: GroupSpec,
) -> (Vec<Arc<Outside>>, Vec<SupervisedActor<Probe>>) {
    let group = orch.guard().actors().group(group).await.unwrap();
    let mut outsides = Vec::new();
    let mut handles = Vec::new();
    for name in ["a", "b", "c"] {
        let outside = Arc::new(Outside::default());
        handles.push(group.spawn(probe(name, &outside)).await.unwrap());
        outsides.push(outside);
    }
    (outsides, handles)
}

fn starts(outsides: &[Arc<Outside>]) -> Vec<u32> {
    outsides
        .iter()
        .map(|o| o.starts.load(Ordering::SeqCst))
        .collect()
}

#[tokio::test]
async fn a_one_for_all_group_restarts_every_member() {
    let orch = start_runtime().await;
    let (outsides, members) =
        group_of_three(&orch, GroupSpec::new("all").strategy(Strategy::OneForAll)).await;
    let now = status(&orch).await;
    let names: Vec<&str> = now.children.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(&names[5..], ["all", "a", "b", "c"]);
    assert_eq!(
        now.child("b").unwrap().detail.as_deref(),
        Some("member of actor group all")
    );
    assert!(
        now.child("all")
            .unwrap()
            .detail
            .as_deref()
            .unwrap()
            .contains("a, b, c")
    );
    members[1].cast(Probe::Panic).await.unwrap();
    for name in ["a", "b", "c"] {
        wait_for_child(&orch, name, ChildState::Running, 1).await;
    }
    assert_eq!(starts(&outsides), [2, 2, 2]);
    for member in &members {
        assert_eq!(member.call(Probe::Incarnation).await.unwrap(), 2);
    }
    // The group itself was not restarted: its strategy handled it.
    assert_eq!(status(&orch).await.child("all").unwrap().restarts, 0);
    orch.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_rest_for_one_group_restarts_the_failed_member_and_those_after_it() {
    let orch = start_runtime().await;
    let (outsides, members) =
        group_of_three(&orch, GroupSpec::new("rest").strategy(Strategy::RestForOne)).await;
    members[1].cast(Probe::Panic).await.unwrap();
    wait_for_child(&orch, "b", ChildState::Running, 1).await;
    wait_for_child(&orch, "c", ChildState::Running, 1).await;
    assert_eq!(starts(&outsides), [1, 2, 2]);
    assert_eq!(status(&orch).await.child("a").unwrap().restarts, 0);
    orch.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_one_for_one_group_restarts_only_the_failed_member() {
    let orch = start_runtime().await;
    let (outsides, members) = group_of_three(&orch, GroupSpec::new("one")).await;
    members[1].cast(Probe::Panic).await.unwrap();
    wait_for_child(&orch, "b", ChildState::Running, 1).await;
    assert_eq!(starts(&outsides), [1, 2, 1]);
    orch.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_user_actor_under_the_root_is_restarted_alone_whatever_the_roots_strategy() {
    let orch = start_with(Config {
        strategy: Strategy::OneForAll,
        ..fast_config()
    })
    .await;
    let outside = Arc::new(Outside::default());
    let loner = orch
        .guard()
        .actors()
        .spawn(probe("loner", &outside))
        .await
        .unwrap();
    loner.cast(Probe::Panic).await.unwrap();
    wait_for_child(&orch, "loner", ChildState::Running, 1).await;
    let now = status(&orch).await;
    for name in ["executor", "batch", "launcher", "scheduler", "pool_keeper"] {
        assert_eq!(now.child(name).unwrap().restarts, 0, "{name}");
    }
    orch.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_group_escalates_past_a_members_intensity_and_the_root_restarts_it_whole() {
    // The root's intensity governs the group itself: one restart.
    let orch = start_with(Config {
        restart_intensity: RestartIntensity {
            max_restarts: 1,
            within: Duration::from_secs(60),
        },
        restart_backoff: Backoff::fixed(Duration::from_millis(1)),
        ..fast_config()
    })
    .await;
    let (outsides, members) = group_of_three(
        &orch,
        GroupSpec::new("esc").intensity(1, Duration::from_secs(60)),
    )
    .await;
    // First failure: restarted by the group; second: past the group's
    // intensity, so the group stops its members and fails, and the root
    // restarts it with every member.
    members[0].cast(Probe::Panic).await.unwrap();
    wait_for_child(&orch, "a", ChildState::Running, 1).await;
    members[0].cast(Probe::Panic).await.unwrap();
    wait_for_child(&orch, "esc", ChildState::Running, 1).await;
    for member in &members {
        // Back through the handle the application already held.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            match member.call(Probe::Incarnation).await {
                Ok(_) => break,
                Err(e) => assert!(tokio::time::Instant::now() < deadline, "{e}"),
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    assert_eq!(starts(&outsides), [3, 2, 2]);
    // Twice more past the member's intensity: the root gives up on the
    // group, and every member's callers hear it at once.
    members[2].cast(Probe::Panic).await.unwrap();
    wait_for_child(&orch, "c", ChildState::Running, 1).await;
    members[2].cast(Probe::Panic).await.unwrap();
    wait_for_child(&orch, "esc", ChildState::Failed, 1).await;
    let now = status(&orch).await;
    for name in ["a", "b", "c"] {
        assert_eq!(
            now.child(name).unwrap().state,
            ChildState::Failed,
            "{now:?}"
        );
    }
    for member in &members {
        assert!(matches!(
            member.call(Probe::Incarnation).await,
            Err(Error::ActorFailed { .. })
        ));
    }
    // The pattern actors are untouched.
    assert_eq!(now.child("executor").unwrap().state, ChildState::Running);
    orch.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_group_that_does_not_escalate_gives_up_on_the_member_only() {
    let orch = start_runtime().await;
    let (_outsides, members) = group_of_three(
        &orch,
        GroupSpec::new("calm")
            .intensity(0, Duration::from_secs(60))
            .escalate(false),
    )
    .await;
    members[1].cast(Probe::Panic).await.unwrap();
    wait_for_child(&orch, "b", ChildState::Failed, 0).await;
    let now = status(&orch).await;
    assert_eq!(now.child("calm").unwrap().state, ChildState::Running);
    assert_eq!(now.child("a").unwrap().state, ChildState::Running);
    assert_eq!(members[2].call(Probe::Incarnation).await.unwrap(), 1);
    orch.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_stops_user_actors_in_reverse_start_order() {
    let orch = start_runtime().await;
    let stops = Arc::new(Mutex::new(Vec::new()));
    let outside = Arc::new(Outside {
        stops: Some(Arc::clone(&stops)),
        ..Outside::default()
    });
    let actors = orch.guard().actors();
    actors.spawn(probe("first", &outside)).await.unwrap();
    let group = actors.group(GroupSpec::new("middle")).await.unwrap();
    group.spawn(probe("m1", &outside)).await.unwrap();
    group.spawn(probe("m2", &outside)).await.unwrap();
    actors.spawn(probe("last", &outside)).await.unwrap();
    orch.shutdown().await.unwrap();
    assert_eq!(*stops.lock().unwrap(), ["last", "m2", "m1", "first"]);
    let now = orch.system_status().await;
    assert!(matches!(now, Err(Error::ShuttingDown)), "{now:?}");
}

#[cfg(feature = "fault-injection")]
mod faults {
    use taskorch::fault::{Fault, FaultTarget};

    use super::*;

    #[tokio::test]
    async fn inject_fault_reaches_a_user_actor_by_name() {
        let orch = start_runtime().await;
        let outside = Arc::new(Outside::default());
        let target = orch
            .guard()
            .actors()
            .spawn(probe("target", &outside))
            .await
            .unwrap();
        orch.inject_fault("target", Fault::PanicNextMessage);
        let lost = target.request(|reply| Probe::Total { reply }).await;
        // The panic hit the request's first delivery after it was
        // accepted: the reply guard answers, the actor is restarted.
        assert!(
            matches!(&lost, Err(Error::ActorFailed { actor, .. }) if actor == "target"),
            "{lost:?}"
        );
        wait_for_child(&orch, "target", ChildState::Running, 1).await;
        let log = orch.trace().for_actor("target");
        assert!(
            log.events()
                .iter()
                .any(|e| e.name() == "Total" && e.outcome() == Outcome::Panic)
        );

        // Aimed at the second `Add` from now: the first passes.
        orch.faults()
            .inject_at(
                "target",
                FaultTarget::message("Add").nth(2),
                Fault::ErrorNextMessage,
            )
            .unwrap();
        for n in [1, 10] {
            target
                .cast(Probe::Add {
                    n,
                    sent: Envelope::now(),
                })
                .await
                .unwrap();
        }
        wait_for_child(&orch, "target", ChildState::Running, 2).await;
        assert_eq!(
            target
                .request(|reply| Probe::Total { reply })
                .await
                .unwrap(),
            1
        );

        // A dropped reply: the caller is answered, the actor keeps running.
        orch.inject_fault("target", Fault::DropReply);
        assert!(matches!(
            target.call(Probe::Incarnation).await,
            Err(Error::ActorFailed { .. })
        ));
        assert_eq!(target.call(Probe::Incarnation).await.unwrap(), 3);

        // A delay shows as handling time.
        orch.inject_fault("target", Fault::DelayNextMessage(Duration::from_millis(50)));
        target.call(Probe::Incarnation).await.unwrap();
        // The reply can come a moment before the handler's event is
        // written (when the handler returns).
        wait_for("a slow Incarnation event", || {
            orch.trace().for_actor("target").events().iter().any(|e| {
                e.name() == "Incarnation" && e.handling_time() >= Duration::from_millis(50)
            })
        })
        .await;
        orch.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn faults_a_user_actor_cannot_take_are_refused() {
        let orch = start_runtime().await;
        let outside = Arc::new(Outside::default());
        orch.guard()
            .actors()
            .spawn(probe("picky", &outside))
            .await
            .unwrap();
        for (target, fault) in [
            (FaultTarget::next(), Fault::KillChildProcess),
            (FaultTarget::next(), Fault::PanicInRun),
            (FaultTarget::message("Launch"), Fault::PanicNextMessage),
            (FaultTarget::next().nth(0), Fault::PanicNextMessage),
        ] {
            let refused = orch.faults().inject_at("picky", target, fault);
            assert!(
                matches!(&refused, Err(Error::InvalidFault { actor, .. }) if actor == "picky"),
                "{refused:?}"
            );
        }
        // An unknown name lists the user actors among the known ones.
        match orch
            .faults()
            .inject_at("pciky", FaultTarget::next(), Fault::PanicNextMessage)
        {
            Err(Error::InvalidFault { reason, .. }) => {
                assert!(reason.contains("picky"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        orch.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn a_fault_reaches_a_group_member_and_the_group_restarts_it() {
        let orch = start_runtime().await;
        let (outsides, members) = group_of_three(
            &orch,
            GroupSpec::new("faulty").strategy(Strategy::RestForOne),
        )
        .await;
        orch.inject_fault("a", Fault::ErrorNextMessage);
        members[0].cast(Probe::Stop).await.unwrap();
        for name in ["a", "b", "c"] {
            wait_for_child(&orch, name, ChildState::Running, 1).await;
        }
        assert_eq!(starts(&outsides), [2, 2, 2]);
        orch.shutdown().await.unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn the_first_restart_in_the_window_is_immediate_and_later_ones_wait_the_backoff() {
    let orch = start_runtime().await;
    let outside = Arc::new(Outside::default());
    let spec = probe("paced", &outside)
        .intensity(5, Duration::from_secs(60))
        .backoff(Backoff::fixed(Duration::from_secs(1)));
    let paced = orch.guard().actors().spawn(spec).await.unwrap();
    let starts = || outside.starts.load(Ordering::SeqCst);
    paced.cast(Probe::Panic).await.unwrap();
    // Back without any time passing.
    assert!(settle_until(|| starts() == 2 && paced.actor_ref().is_some()).await);
    paced.cast(Probe::Panic).await.unwrap();
    assert!(settle_until(|| paced.actor_ref().is_none()).await);
    advance(Duration::from_millis(990)).await;
    assert_eq!(starts(), 2, "the second restart waits its backoff");
    assert!(paced.actor_ref().is_none());
    advance(Duration::from_millis(10) + WHEEL).await;
    assert!(settle_until(|| starts() == 3 && paced.actor_ref().is_some()).await);
    orch.shutdown().await.unwrap();
}

#[tokio::test]
async fn callers_of_an_escalated_group_wait_for_its_next_incarnation() {
    // The root restarts the group at once the first time, after 300 ms
    // the second time.
    let orch = start_with(Config {
        restart_backoff: Backoff::fixed(Duration::from_millis(300)),
        ..fast_config()
    })
    .await;
    let (outsides, members) = group_of_three(
        &orch,
        GroupSpec::new("waiting").intensity(0, Duration::from_secs(60)),
    )
    .await;
    members[0].cast(Probe::Panic).await.unwrap();
    wait_for_child(&orch, "waiting", ChildState::Running, 1).await;
    assert_eq!(members[1].call(Probe::Incarnation).await.unwrap(), 2);
    members[0].cast(Probe::Panic).await.unwrap();
    wait_for_child(&orch, "waiting", ChildState::Restarting, 1).await;
    // The group is down for its backoff: a caller waits for it instead of
    // being told the actor stopped for good.
    assert_eq!(members[1].call(Probe::Incarnation).await.unwrap(), 3);
    assert_eq!(starts(&outsides), [3, 3, 3]);
    orch.shutdown().await.unwrap();
}
