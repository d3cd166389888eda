//! The seeded chaos harness: a mixed workload over every pattern with
//! random faults, and the invariants checked afterwards.

#![cfg(feature = "fault-injection")]

use taskorch::fault::Chaos;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_seed_run_of_300_faults_keeps_every_invariant() {
    let rounds = std::env::var("CHAOS_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let report = Chaos::new(42)
        .faults(rounds)
        .run()
        .await
        .expect("the harness runs");
    // The closing note of issue #10 quotes this line.
    println!("{report}");
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.faults_injected, 300);
    assert!(
        report.faults_fired > 150,
        "most faults find their message: {report}"
    );
    assert!(report.runs > 1_000, "{report}");
    assert_eq!(report.runs, report.runs_terminal);
    assert!(report.pids_checked > 500, "{report}");
    assert!(report.orphans.is_empty());
    assert!(report.status_checks > 0);
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
    ] {
        assert!(plan.iter().any(|p| p.actor == actor), "{actor}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long soak: cargo test -- --ignored"]
async fn soak_5000_faults() {
    let seed = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_260_101);
    let report = Chaos::new(seed)
        .faults(5_000)
        .run()
        .await
        .expect("the harness runs");
    println!("{report}");
    assert!(report.is_ok(), "{report}");
}
