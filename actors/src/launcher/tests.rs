//! Launcher behaviour on paused time with in-process actions: admission,
//! back-pressure, runs outliving the actor, shutdown and emergency stop.

use std::sync::Arc;
use std::time::Duration;

use ractor::Actor;
use serde_json::json;
use tokio::sync::Semaphore;

use super::*;
use crate::context::Limits;
use crate::registry::Retention;
use crate::run::RunStatus;
use crate::slot::ActorSlot;

/// A runtime context whose action "gate" finishes only when the test adds
/// a permit to the returned semaphore, and whose action "noop" finishes at
/// once.
fn context(max_concurrency: usize) -> (Arc<Context>, Arc<Semaphore>) {
    let ctx = Context::new(
        Limits {
            max_concurrency,
            ..Limits::default()
        },
        Retention::default(),
    );
    let gate = Arc::new(Semaphore::new(0));
    let held = Arc::clone(&gate);
    ctx.actions().register("gate", move |_| {
        let gate = Arc::clone(&held);
        async move {
            gate.acquire().await.map_err(|e| e.to_string())?.forget();
            Ok(json!("done"))
        }
    });
    ctx.actions()
        .register("noop", |_| async { Ok(json!(null)) });
    (ctx, gate)
}

struct Fixture {
    ctx: Arc<Context>,
    gate: Arc<Semaphore>,
    launches: Arc<Launches>,
    slot: ActorSlot<LauncherMessage>,
    actor: ActorRef<LauncherMessage>,
}

async fn start(max_concurrency: usize, max_queued: usize) -> Fixture {
    let (ctx, gate) = context(max_concurrency);
    let launches = Launches::new(Arc::clone(&ctx), max_queued);
    let (actor, _) = Actor::spawn(
        None,
        Launcher,
        LauncherArguments {
            launches: Arc::clone(&launches),
        },
    )
    .await
    .unwrap();
    let slot = ActorSlot::new(LAUNCHER, Duration::from_secs(1));
    slot.set_up(actor.clone());
    Fixture {
        ctx,
        gate,
        launches,
        slot,
        actor,
    }
}

impl Fixture {
    async fn launch(&self, task: Task) -> Result<RunId> {
        let task = Arc::new(task);
        self.slot
            .request(|reply| LauncherMessage::Launch {
                task: Arc::clone(&task),
                rerun_of: None,
                reply,
            })
            .await
            .map(|launched| launched.id())
    }

    fn status(&self, id: RunId) -> Option<RunStatus> {
        self.ctx.registry().status(id)
    }

    /// Let the runtime make progress until `cond` holds (bounded).
    async fn settle_until(&self, cond: impl Fn(&Self) -> bool) {
        for _ in 0..1000 {
            if cond(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("condition never held");
    }
}

fn gate() -> Task {
    Task::action("gate", json!(null))
}

#[tokio::test(start_paused = true)]
async fn launch_answers_with_a_queued_run_before_it_starts() {
    let f = start(1, 100).await;
    let first = f.launch(gate().name("first")).await.unwrap();
    f.settle_until(|f| f.status(first) == Some(RunStatus::Running))
        .await;
    // The only execution slot is taken: the second run is accepted and
    // stays queued.
    let second = f.launch(gate().name("second")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(f.status(second), Some(RunStatus::Queued));
    let info = f.ctx.registry().info(second).unwrap();
    assert_eq!(
        (info.name.as_str(), info.pattern),
        ("second", Pattern::FireAndForget)
    );
    assert!(info.started.is_none());
    assert_eq!(f.launches.in_flight(), 2);

    f.gate.add_permits(2);
    for id in [first, second] {
        let out = f.ctx.registry().wait(id).await.unwrap();
        assert_eq!(out.value, Some(json!("done")));
        assert_eq!(f.status(id), Some(RunStatus::Succeeded));
    }
    f.settle_until(|f| f.launches.in_flight() == 0).await;
}

#[tokio::test(start_paused = true)]
async fn bad_input_is_refused_and_nothing_is_registered() {
    let f = start(4, 100).await;
    let err = f
        .launch(Task::action("nope", json!(null)))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::UnknownAction(name) if name == "nope"),
        "{err:?}"
    );
    let err = f.launch(Task::command("")).await.unwrap_err();
    assert!(matches!(err, Error::InvalidTask(_)), "{err:?}");
    let err = f
        .launch(Task::command("no-such-program-xyz"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::NotFound { program } if program == "no-such-program-xyz"),
        "{err:?}"
    );
    assert!(f.ctx.registry().is_empty());
    assert_eq!(f.launches.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn past_max_queued_launch_is_refused_with_queue_full() {
    let f = start(1, 2).await;
    let a = f.launch(gate()).await.unwrap();
    f.launch(gate()).await.unwrap();
    let err = f.launch(gate()).await.unwrap_err();
    assert!(matches!(err, Error::QueueFull { limit: 2 }), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(f.ctx.registry().len(), 2, "the refused launch left no run");

    // Room again once one has finished.
    f.gate.add_permits(1);
    f.ctx.registry().wait(a).await.unwrap();
    f.settle_until(|f| f.launches.in_flight() == 1).await;
    let c = f.launch(Task::action("noop", json!(null))).await.unwrap();
    f.gate.add_permits(1);
    assert!(f.ctx.registry().wait(c).await.unwrap().success());
}

#[tokio::test(start_paused = true)]
async fn launched_runs_outlive_the_launcher() {
    let f = start(4, 100).await;
    let id = f.launch(gate()).await.unwrap();
    f.settle_until(|f| f.status(id) == Some(RunStatus::Running))
        .await;
    // A stop that is not a shutdown (a supervisor restart) leaves the run
    // alone, and so does a drain outside shutdown.
    f.actor.stop_and_wait(None, None).await.unwrap();
    f.launches.drain_at_shutdown().await;
    assert_eq!(f.status(id), Some(RunStatus::Running));
    f.gate.add_permits(1);
    assert!(f.ctx.registry().wait(id).await.unwrap().success());
}

#[tokio::test(start_paused = true)]
async fn shutdown_gives_grace_then_interrupts_launched_runs() {
    let f = start(4, 100).await;
    let stuck = f.launch(gate()).await.unwrap();
    let quick = f.launch(Task::action("noop", json!(null))).await.unwrap();
    f.settle_until(|f| f.status(stuck) == Some(RunStatus::Running))
        .await;

    f.ctx.shutdown().begin();
    let err = f.launch(gate()).await.unwrap_err();
    assert!(matches!(err, Error::ShuttingDown), "{err:?}");
    let started = tokio::time::Instant::now();
    f.actor.stop_and_wait(None, None).await.unwrap();
    assert!(started.elapsed() >= f.ctx.limits().shutdown_grace);

    let err = f.ctx.registry().wait(stuck).await.unwrap_err();
    assert!(matches!(err, Error::ShuttingDown), "{err:?}");
    assert_eq!(f.status(stuck), Some(RunStatus::Interrupted));
    assert_eq!(f.status(quick), Some(RunStatus::Succeeded));
    assert_eq!(f.launches.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn emergency_stop_interrupts_launched_runs_at_once() {
    let f = start(1, 100).await;
    let running = f.launch(gate()).await.unwrap();
    let queued = f.launch(gate()).await.unwrap();
    f.settle_until(|f| f.status(running) == Some(RunStatus::Running))
        .await;
    f.ctx.shutdown().emergency();
    for id in [running, queued] {
        let err = f.ctx.registry().wait(id).await.unwrap_err();
        assert!(matches!(err, Error::ShuttingDown), "{err:?}");
        assert_eq!(f.status(id), Some(RunStatus::Interrupted));
    }
}

#[tokio::test]
async fn a_run_task_that_dies_settles_its_run() {
    let (ctx, _gate) = context(1);
    let record = ctx
        .registry()
        .admit(crate::registry::Admission::new("t", Pattern::FireAndForget));
    drop(Settle {
        ctx: Arc::clone(&ctx),
        record: Arc::clone(&record),
    });
    assert_eq!(record.status(), RunStatus::Interrupted);
    let err = record.wait().await.unwrap_err();
    assert!(
        matches!(&err, Error::ActorFailed { actor, .. } if actor == LAUNCHER),
        "{err:?}"
    );

    // A run that finished keeps its outcome.
    let done = ctx
        .registry()
        .admit(crate::registry::Admission::new("t", Pattern::FireAndForget));
    ctx.registry()
        .finish_now(&done, Err(Error::Cancelled { run: None }))
        .unwrap();
    drop(Settle {
        ctx: Arc::clone(&ctx),
        record: Arc::clone(&done),
    });
    assert_eq!(done.status(), RunStatus::Cancelled);
}

#[tokio::test]
async fn an_admitted_run_dropped_unstarted_is_interrupted() {
    let (ctx, _gate) = context(1);
    let launches = Launches::new(Arc::clone(&ctx), 10);
    let admitted = launches
        .admit(
            Arc::new(Task::action("noop", json!(null))),
            Correlation::for_caller(),
        )
        .unwrap();
    let id = admitted.settle.record.id();
    assert_eq!(ctx.registry().status(id), Some(RunStatus::Queued));
    drop(admitted);
    assert_eq!(ctx.registry().status(id), Some(RunStatus::Interrupted));
    assert!(matches!(
        ctx.registry().wait(id).await,
        Err(Error::ActorFailed { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn a_run_starts_once_its_answer_is_dropped_and_a_stop_never_waits() {
    let (ctx, _gate) = context(4);
    let launches = Launches::new(Arc::clone(&ctx), 10);
    let noop = || Arc::new(Task::action("noop", json!(null)));

    let answer = launches
        .admit(noop(), Correlation::for_caller())
        .unwrap()
        .start(&launches);
    let id = answer.id();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(ctx.registry().status(id), Some(RunStatus::Queued));
    drop(answer);
    assert!(ctx.registry().wait(id).await.unwrap().success());

    // Held answer, cancelled run: it ends without waiting for the answer.
    let held = launches
        .admit(noop(), Correlation::for_caller())
        .unwrap()
        .start(&launches);
    ctx.registry().cancel(held.id()).unwrap();
    let err = ctx.registry().wait(held.id()).await.unwrap_err();
    assert!(matches!(err, Error::Cancelled { .. }), "{err:?}");
}
