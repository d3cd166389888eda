//! Simple pattern benchmarks, each against a raw floor measured in the same
//! process run, interleaved sample by sample so both see the same noise:
//!
//! 1. `orch.run(Task::command("/bin/true"))` vs raw tokio `Command` in its
//!    own process group with both streams captured
//!    (`.process_group(0).stdin(null).output()`, what the orchestrator itself
//!    must do). Target: median within 1.05x. A second floor adds the one
//!    environment variable every child must get (`TASKORCH_RUN_ID`): setting
//!    any variable makes std rebuild the child's whole environment, which
//!    costs tens of microseconds on its own, so both ratios are printed.
//! 2. In-process no-op action round trip vs a bare ractor `call` round trip.
//!    Target: median under 10 us.
//! 3. Executor restart: from the request that panics the executor to the
//!    next successful in-process run, vs the same panic/respawn/answer cycle
//!    on a bare ractor actor with a minimal restart-only supervisor.
//!    Target: p99 under 100 us. Needs `--features fault-injection`.
//!
//! ```text
//! cargo bench --bench simple --all-features
//! ```

mod util;

use std::process::Stdio;

use serde_json::json;
use taskorch::{Config, Orchestrator, Task};
use util::{Samples, report};

const WARMUP: usize = 200;

#[tokio::main]
async fn main() {
    // Measure from a spawned task, as callers in a real service are: the
    // `block_on` thread is not a runtime worker, and every hop from it pays
    // two cross-thread wake-ups that no real caller pays.
    tokio::spawn(benches()).await.expect("benchmarks");
}

async fn benches() {
    let samples: usize = util::env_or("BENCH_SAMPLES", 2000);
    let orch = Orchestrator::start(Config::default()).await.expect("start");
    orch.register_action("noop", |_| async { Ok(json!(null)) });

    println!(
        "taskorch simple-pattern benchmarks ({samples} samples each, interleaved with the floor)"
    );
    command_latency(&orch, samples).await;
    action_round_trip(&orch, samples * 10).await;
    orch.shutdown().await.expect("shutdown");
    restart::bench(samples).await;
}

async fn raw_true(with_run_id: bool) {
    let mut command = tokio::process::Command::new("/bin/true");
    command.process_group(0).stdin(Stdio::null());
    if with_run_id {
        command.env(
            taskorch::task::RUN_ID_ENV,
            "0190a5c4-7d1e-7cc0-9a55-2f6c1f0e4b11",
        );
    }
    let out = command.output().await.expect("raw spawn");
    assert!(out.status.success());
}

async fn command_latency(orch: &Orchestrator, samples: usize) {
    let task = Task::command("/bin/true");
    for _ in 0..WARMUP {
        raw_true(false).await;
        raw_true(true).await;
        assert!(orch.run(task.clone()).await.unwrap().success());
    }
    let mut ours = Samples::with_capacity(samples);
    let mut floor = Samples::with_capacity(samples);
    let mut floor_env = Samples::with_capacity(samples);
    for i in 0..samples {
        // Rotate the order so no variant always runs first (on a warmer
        // cache) or last.
        for slot in 0..3 {
            match (i + slot) % 3 {
                0 => floor.time(raw_true(false)).await,
                1 => floor_env.time(raw_true(true)).await,
                _ => assert!(ours.time(orch.run(task.clone())).await.unwrap().success()),
            }
        }
    }
    report(
        "run(/bin/true) vs raw tokio Command",
        &ours,
        &floor,
        "<= 1.05x",
    );
    report(
        "run(/bin/true) vs raw + TASKORCH_RUN_ID env",
        &ours,
        &floor_env,
        "contract floor",
    );
}

/// A bare ractor actor answering a call: the floor of one actor hop.
mod bare {
    use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

    pub struct Echo;

    impl Actor for Echo {
        type Msg = RpcReplyPort<()>;
        type State = ();
        type Arguments = ();

        async fn pre_start(&self, _: ActorRef<Self::Msg>, _: ()) -> Result<(), ActorProcessingErr> {
            Ok(())
        }

        async fn handle(
            &self,
            _: ActorRef<Self::Msg>,
            reply: Self::Msg,
            _: &mut (),
        ) -> Result<(), ActorProcessingErr> {
            let _ = reply.send(());
            Ok(())
        }
    }
}

async fn action_round_trip(orch: &Orchestrator, samples: usize) {
    let (echo, _) = ractor::Actor::spawn(None, bare::Echo, ()).await.unwrap();
    let task = Task::action("noop", json!(null));
    for _ in 0..WARMUP * 10 {
        orch.run(task.clone()).await.unwrap();
        ractor::call!(echo, |r| r).unwrap();
    }
    let (mut ours, mut floor) = (
        Samples::with_capacity(samples),
        Samples::with_capacity(samples),
    );
    for _ in 0..samples {
        ours.time(orch.run(task.clone())).await.unwrap();
        floor
            .time(async { ractor::call!(echo, |r| r).unwrap() })
            .await;
    }
    report(
        "no-op action round trip vs ractor call",
        &ours,
        &floor,
        "median < 10 us",
    );
    echo.stop(None);
}

#[cfg(feature = "fault-injection")]
mod restart {
    use super::*;
    use std::time::Duration;

    use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
    use taskorch::supervision::RestartIntensity;
    use taskorch::{Backoff, Fault};
    use tokio::sync::watch;
    use util::report;

    type ChildMsg = (bool, RpcReplyPort<()>);
    type Slot = watch::Sender<Option<ActorRef<ChildMsg>>>;

    /// A child that panics on `true` and answers on `false`.
    struct Child;

    impl Actor for Child {
        type Msg = ChildMsg;
        type State = ();
        type Arguments = ();
        async fn pre_start(&self, _: ActorRef<Self::Msg>, _: ()) -> Result<(), ActorProcessingErr> {
            Ok(())
        }
        async fn handle(
            &self,
            _: ActorRef<Self::Msg>,
            (boom, reply): Self::Msg,
            _: &mut (),
        ) -> Result<(), ActorProcessingErr> {
            if boom {
                panic!("boom");
            }
            let _ = reply.send(());
            Ok(())
        }
    }

    /// The least a supervisor can do: respawn on every failure and publish
    /// the new reference.
    struct Sup;

    impl Actor for Sup {
        type Msg = ();
        type State = Slot;
        type Arguments = Slot;
        async fn pre_start(
            &self,
            _: ActorRef<()>,
            slot: Self::Arguments,
        ) -> Result<Self::State, ActorProcessingErr> {
            Ok(slot)
        }
        async fn handle_supervisor_evt(
            &self,
            me: ActorRef<()>,
            evt: SupervisionEvent,
            slot: &mut Self::State,
        ) -> Result<(), ActorProcessingErr> {
            if let SupervisionEvent::ActorFailed(..) = evt {
                let (child, _) = Child::spawn_linked(None, Child, (), me.get_cell()).await?;
                slot.send_replace(Some(child));
            }
            Ok(())
        }
    }

    async fn raw_cycle(slot: &watch::Receiver<Option<ActorRef<ChildMsg>>>) {
        let child = slot.borrow().clone().expect("child");
        let _ = ractor::call!(child, |r| (true, r));
        loop {
            let child = slot.borrow().clone().expect("child");
            if ractor::call!(child, |r| (false, r)).is_ok() {
                return;
            }
            tokio::task::yield_now().await;
        }
    }

    pub async fn bench(samples: usize) {
        taskorch_actors_quiet_hook();
        let config = Config {
            // Restart every time, at once: this measures the restart path,
            // not the intensity limit or the backoff.
            restart_intensity: RestartIntensity {
                max_restarts: u32::MAX,
                within: Duration::from_secs(1),
            },
            restart_backoff: Backoff::none(),
            ..Config::default()
        };
        let orch = Orchestrator::start(config).await.unwrap();
        orch.register_action("noop", |_| async { Ok(json!(null)) });
        let task = Task::action("noop", json!(null));

        let (tx, rx) = watch::channel(None);
        let (sup, _) = Actor::spawn(None, Sup, tx.clone()).await.unwrap();
        let (first, _) = Child::spawn_linked(None, Child, (), sup.get_cell())
            .await
            .unwrap();
        tx.send_replace(Some(first));

        let (mut ours, mut floor) = (
            Samples::with_capacity(samples),
            Samples::with_capacity(samples),
        );
        for i in 0..samples + WARMUP {
            let start = std::time::Instant::now();
            orch.inject_fault("executor", Fault::PanicNextMessage);
            assert!(orch.run(task.clone()).await.is_err());
            orch.run(task.clone()).await.unwrap();
            let took = start.elapsed();
            let start = std::time::Instant::now();
            raw_cycle(&rx).await;
            let raw = start.elapsed();
            if i >= WARMUP {
                ours.push(took);
                floor.push(raw);
            }
        }
        report(
            "executor restart (panic -> next run ok)",
            &ours,
            &floor,
            "p99 < 100 us",
        );
        let status = orch.system_status().await.unwrap();
        println!(
            "  executor restarts counted by the supervisor: {}",
            status.child("executor").unwrap().restarts
        );
        orch.shutdown().await.unwrap();
        sup.stop(None);
    }

    fn taskorch_actors_quiet_hook() {
        // The orchestrator installs its quiet hook on start; the bare child's
        // panics must be quiet too or the floor would pay for printing.
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info.to_string().contains("boom") {
                previous(info);
            }
        }));
    }
}

#[cfg(not(feature = "fault-injection"))]
mod restart {
    pub async fn bench(_samples: usize) {
        println!("executor restart: skipped (run with --features fault-injection)");
    }
}
