//! Which message a fault hits, and which injections are refused.

use std::time::Duration;

use super::*;

fn take(plan: &FaultPlan, actor: &str, kind: &str) -> Option<Fault> {
    plan.take_for_message(actor, kind, true)
}

#[test]
fn untargeted_faults_hit_the_next_messages_in_order() {
    let plan = FaultPlan::default();
    plan.inject(
        "executor",
        Fault::DelayNextMessage(Duration::from_millis(1)),
    );
    plan.inject("executor", Fault::PanicNextMessage);
    assert_eq!(
        take(&plan, "batch", "Start"),
        None,
        "other actors are untouched"
    );
    assert_eq!(
        take(&plan, "executor", "Status"),
        Some(Fault::DelayNextMessage(Duration::from_millis(1)))
    );
    assert_eq!(
        take(&plan, "executor", "Run"),
        Some(Fault::PanicNextMessage)
    );
    assert_eq!(take(&plan, "executor", "Run"), None);
    assert_eq!(
        plan.stats(),
        FaultStats {
            injected: 2,
            fired: 2,
            pending: 0
        }
    );
}

#[test]
fn a_targeted_fault_counts_only_its_kind() {
    let plan = FaultPlan::default();
    plan.inject_at(
        "launcher",
        &FaultTarget::message("Launch").nth(3),
        Fault::ErrorNextMessage,
    )
    .unwrap();
    assert_eq!(take(&plan, "launcher", "Launch"), None);
    assert_eq!(take(&plan, "launcher", "Status"), None);
    assert_eq!(take(&plan, "launcher", "Launch"), None);
    assert_eq!(take(&plan, "launcher", "Status"), None);
    assert_eq!(
        take(&plan, "launcher", "Launch"),
        Some(Fault::ErrorNextMessage)
    );
}

#[test]
fn targeted_faults_go_first_and_one_message_takes_one_fault() {
    let plan = FaultPlan::default();
    plan.inject("scheduler", Fault::PanicNextMessage);
    plan.inject_at(
        "scheduler",
        &FaultTarget::message("Tick"),
        Fault::ErrorNextMessage,
    )
    .unwrap();
    plan.inject_at("scheduler", &FaultTarget::message("Tick"), Fault::DropReply)
        .unwrap();
    assert_eq!(
        take(&plan, "scheduler", "Tick"),
        Some(Fault::ErrorNextMessage)
    );
    // The second targeted one was due too: it waits for the next Tick.
    assert_eq!(take(&plan, "scheduler", "Tick"), Some(Fault::DropReply));
    assert_eq!(
        take(&plan, "scheduler", "Tick"),
        Some(Fault::PanicNextMessage)
    );
}

#[test]
fn drop_reply_waits_for_a_message_with_a_reply() {
    let plan = FaultPlan::default();
    plan.inject("scheduler", Fault::DropReply);
    assert_eq!(plan.take_for_message("scheduler", "Tick", false), None);
    assert_eq!(plan.take_for_message("scheduler", "Tick", false), None);
    assert_eq!(
        plan.take_for_message("scheduler", "Add", true),
        Some(Fault::DropReply)
    );
}

#[test]
fn kill_child_process_counts_spawns_not_messages() {
    let plan = FaultPlan::default();
    plan.inject_at(
        "batch",
        &FaultTarget::next().nth(2),
        Fault::KillChildProcess,
    )
    .unwrap();
    assert_eq!(
        take(&plan, "batch", "Start"),
        None,
        "messages do not consume it"
    );
    assert!(!plan.take_kill("executor"));
    assert!(!plan.take_kill("batch"), "the first spawn is spared");
    assert!(plan.take_kill("batch"), "the second is killed");
    assert!(!plan.take_kill("batch"));
    assert_eq!(plan.stats().fired, 1);
}

#[test]
fn bad_injections_are_refused_with_invalid_fault() {
    let plan = FaultPlan::default();
    let refused = |actor: &str, target: FaultTarget, fault: Fault| match plan
        .inject_at(actor, &target, fault)
    {
        Err(Error::InvalidFault {
            actor: named,
            reason,
        }) => {
            assert_eq!(named, actor);
            reason
        }
        other => panic!("expected InvalidFault, got {other:?}"),
    };
    let reason = refused("exec", FaultTarget::next(), Fault::PanicNextMessage);
    assert!(reason.contains("executor, batch"), "{reason}");
    let reason = refused("supervisor", FaultTarget::next(), Fault::PanicNextMessage);
    assert!(reason.contains("root supervisor"), "{reason}");
    let reason = refused("executor", FaultTarget::message("Launch"), Fault::DropReply);
    assert!(reason.contains("Run, Stream, Status"), "{reason}");
    let reason = refused("executor", FaultTarget::next().nth(0), Fault::DropReply);
    assert!(reason.contains("from 1"), "{reason}");
    let reason = refused(
        "executor",
        FaultTarget::message("Run"),
        Fault::KillChildProcess,
    );
    assert!(reason.contains("spawned processes"), "{reason}");
    assert_eq!(plan.stats(), FaultStats::default(), "nothing was queued");
    // The unchecked form refuses the same way, without an error to return.
    plan.inject("exec", Fault::PanicNextMessage);
    assert_eq!(plan.stats().pending, 0);
}

#[test]
fn clear_drops_pending_faults() {
    let plan = FaultPlan::default();
    plan.inject("executor", Fault::PanicNextMessage);
    plan.inject("pool_worker", Fault::KillChildProcess);
    assert_eq!(plan.clear(), 2);
    assert_eq!(take(&plan, "executor", "Run"), None);
    assert!(!plan.take_kill("pool_worker"));
}

#[test]
fn every_target_names_its_kinds() {
    for (actor, kinds) in fault_targets() {
        assert!(
            kinds.contains(&"Status") || *actor == "pool_worker",
            "{actor}"
        );
        assert!(!kinds.is_empty());
    }
}

#[test]
fn panic_in_run_counts_started_runs_not_messages_or_spawns() {
    let plan = FaultPlan::default();
    plan.inject_at("scheduler", &FaultTarget::next().nth(2), Fault::PanicInRun)
        .unwrap();
    assert_eq!(
        take(&plan, "scheduler", "Tick"),
        None,
        "messages do not count"
    );
    assert!(!plan.take_kill("scheduler"), "spawns do not count");
    assert!(!plan.take_run_panic("executor"));
    assert!(!plan.take_run_panic("scheduler"), "the first run is spared");
    assert!(plan.take_run_panic("scheduler"), "the second one panics");
    assert!(!plan.take_run_panic("scheduler"));
    assert_eq!(plan.stats().fired, 1);
}

#[test]
fn panic_in_run_is_refused_for_pools_and_message_kinds() {
    let plan = FaultPlan::default();
    for actor in ["pool_keeper", "pool_worker"] {
        match plan.inject_at(actor, &FaultTarget::next(), Fault::PanicInRun) {
            Err(Error::InvalidFault { reason, .. }) => {
                assert!(reason.contains("start none"), "{reason}")
            }
            other => panic!("expected InvalidFault, got {other:?}"),
        }
    }
    match plan.inject_at("executor", &FaultTarget::message("Run"), Fault::PanicInRun) {
        Err(Error::InvalidFault { reason, .. }) => {
            assert!(reason.contains("started runs"), "{reason}")
        }
        other => panic!("expected InvalidFault, got {other:?}"),
    }
    assert_eq!(plan.stats(), FaultStats::default());
}

/// The targets table is written out in `fault/kinds.rs` (the fault plan
/// must not import the actors): it must name every actor with exactly the
/// message kinds that actor handles, in the order it lists them.
#[test]
fn the_targets_table_matches_every_actors_kinds() {
    use crate::batch::{BATCH, BatchMessage};
    use crate::executor::{EXECUTOR, ExecutorMessage};
    use crate::launcher::{LAUNCHER, LauncherMessage};
    use crate::pool::{POOL_KEEPER, POOL_WORKER, PoolKeeperMessage, PoolWorkerMessage};
    use crate::scheduler::{SCHEDULER, SchedulerMessage};
    let actors: [(&str, &[&str]); 6] = [
        (EXECUTOR, ExecutorMessage::KINDS),
        (BATCH, BatchMessage::KINDS),
        (LAUNCHER, LauncherMessage::KINDS),
        (SCHEDULER, SchedulerMessage::KINDS),
        (POOL_KEEPER, PoolKeeperMessage::KINDS),
        (POOL_WORKER, PoolWorkerMessage::KINDS),
    ];
    assert_eq!(fault_targets(), actors.as_slice());
    assert_eq!(super::kinds::POOLS, [POOL_KEEPER, POOL_WORKER]);
}
