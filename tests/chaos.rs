//! The seeded chaos harness: a mixed workload over every pattern (graphs
//! and workflows included, the store on) with faults in the actors and
//! inside the runs, and the invariants checked afterwards.
//!
//! The long run (at least 1,000 injected faults, a summary printed):
//!
//! ```text
//! CHAOS_ROUNDS=200 CHAOS_SEED=20260101 cargo test --all-features --test tests \
//!     chaos::soak -- --ignored --nocapture
//! ```

#![cfg(feature = "fault-injection")]

use taskorch::fault::{Chaos, ChaosReport};

/// Every kind of fault the harness injects inside runs.
const IN_RUN_KINDS: [&str; 9] = [
    "action-panics-before-future",
    "action-panics-in-future",
    "action-hangs",
    "child-traps-term",
    "child-ignores-term",
    "double-forked-daemon",
    "grandchild-holds-stdout",
    "tick-panics-before-future",
    "tick-panics-in-future",
];

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// What every run of the harness must show, besides `is_ok`.
fn assert_reached_every_path(report: &ChaosReport) {
    for kind in IN_RUN_KINDS.iter().chain(&["PanicInRun", "FailCommits"]) {
        assert!(
            report.faults_by_kind.get(*kind).is_some_and(|&n| n > 0),
            "no {kind} injected: {report}"
        );
    }
    assert_eq!(report.runs, report.runs_terminal, "{report}");
    assert!(report.hung_calls.is_empty(), "{report}");
    assert!(report.orphans.is_empty(), "{report}");
    assert!(report.zombies.is_empty(), "{report}");
    assert!(report.duplicated_runs.is_empty(), "{report}");
    assert!(report.status_checks > 0, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_seed_run_with_faults_inside_runs_keeps_every_invariant() {
    let report = Chaos::new(42)
        .faults(60)
        .run()
        .await
        .expect("the harness runs");
    println!("{report}");
    assert!(report.is_ok(), "{report}");
    assert_reached_every_path(&report);
    assert_eq!(report.faults_injected, 60);
    assert!(report.faults_total() > 300, "{report}");
    assert!(report.runs > 400, "{report}");
    assert!(report.pids_checked > 200, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_actors_take_faults_by_name_and_lose_no_acknowledged_message() {
    let chaos = Chaos::new(11).faults(40).store(false).user_actors(true);
    let plan = chaos.plan();
    for actor in ["chaos_actor", "chaos_member_a", "chaos_member_b"] {
        assert!(
            plan.iter().any(|p| p.actor == actor),
            "{actor} never aimed at"
        );
    }
    let report = chaos.run().await.expect("the harness runs");
    // `is_ok` includes the check that every user actor's total (kept
    // outside the actor) is exactly what its callers were acknowledged.
    assert!(report.is_ok(), "{report}");
    assert!(report.hung_calls.is_empty(), "{report}");
    assert_eq!(report.faults_injected, 40);
}

#[test]
fn the_same_seed_gives_the_same_fault_sequence() {
    let plan = Chaos::new(7).faults(500).plan();
    assert_eq!(plan, Chaos::new(7).faults(500).plan());
    assert_ne!(plan, Chaos::new(8).faults(500).plan());
    // Every kind of fault is drawn, and every actor is hit.
    for name in [
        "PanicNextMessage",
        "ErrorNextMessage",
        "DelayNextMessage",
        "DropReply",
        "KillChildProcess",
        "PanicInRun",
        "FailCommits",
    ] {
        assert!(plan.iter().any(|p| p.fault.name() == name), "{name}");
    }
    for actor in [
        "executor",
        "batch",
        "launcher",
        "scheduler",
        "pool_keeper",
        "pool_worker",
        "store",
    ] {
        assert!(plan.iter().any(|p| p.actor == actor), "{actor}");
    }
    // Without a store, nothing aims at it.
    let storeless = Chaos::new(7).faults(500).store(false).plan();
    assert!(storeless.iter().all(|p| p.actor != "store"));
}

/// The long run: `CHAOS_ROUNDS` rounds (default 200, about 1,500 faults)
/// with seed `CHAOS_SEED`; see the module docs for the command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long run: CHAOS_ROUNDS=200 cargo test --all-features --test tests chaos::soak -- --ignored --nocapture"]
async fn soak() {
    let rounds = env_or("CHAOS_ROUNDS", 200);
    let report = Chaos::new(env_or("CHAOS_SEED", 20_260_101))
        .faults(rounds)
        .run()
        .await
        .expect("the harness runs");
    println!("{report}");
    assert!(report.is_ok(), "{report}");
    assert_reached_every_path(&report);
    if rounds >= 200 {
        assert!(report.faults_total() >= 1_000, "{report}");
    }
}
