//! Registry unit tests: the state machine, retention, waiters, queries.

use super::*;
use std::time::Duration;

// Job options of runs.
mod index;
mod jobs;

fn ok_output(id: RunId, code: i32, bytes: usize) -> Output {
    let mut out = Output::empty(id);
    out.exit_code = Some(code);
    out.stdout = vec![b'x'; bytes];
    out.attempts = 1;
    out
}

#[test]
fn state_machine_allows_only_forward_moves() {
    use RunStatus::*;
    let all = [
        Queued,
        Running,
        Succeeded,
        Failed,
        Cancelled,
        TimedOut,
        Interrupted,
    ];
    for from in all {
        for to in all {
            let legal = match from {
                Queued => to != Queued,
                Running => to.is_terminal(),
                _ => false,
            };
            assert_eq!(from.can_become(to), legal, "{from} -> {to}");
        }
    }
}

#[test]
fn illegal_moves_are_refused_and_change_nothing() {
    let reg = Registry::new(Retention::default());
    let run = reg.admit(Admission::new("t", Pattern::Simple));
    assert_eq!(run.status(), RunStatus::Queued);
    run.start().unwrap();
    let err = run.start().unwrap_err();
    assert_eq!((err.from, err.to), (RunStatus::Running, RunStatus::Running));
    reg.finish_now(&run, Ok(ok_output(run.id(), 1, 0))).unwrap();
    assert!(run.start().is_err(), "finished -> running must be refused");
    let again = reg
        .finish_now(&run, Ok(ok_output(run.id(), 0, 0)))
        .unwrap_err();
    assert_eq!(again.from, RunStatus::Failed);
    assert_eq!(run.status(), RunStatus::Failed, "first outcome stays");
    assert_eq!(run.outcome().unwrap().unwrap().exit_code, Some(1));
}

#[test]
fn queued_run_may_end_without_running() {
    let reg = Registry::new(Retention::default());
    let run = reg.admit(Admission::new("t", Pattern::FireAndForget));
    let status = reg.finish_now(
        &run,
        Err(Error::Cancelled {
            run: Some(run.id()),
        }),
    );
    assert_eq!(status, Ok(RunStatus::Cancelled));
    assert!(run.info().started.is_none());
    assert!(run.info().finished.is_some());
}

#[test]
fn finish_maps_outcome_to_status_and_keeps_first() {
    let reg = Registry::new(Retention::default());
    let cases = [
        (Ok(0), RunStatus::Succeeded),
        (Ok(3), RunStatus::Failed),
        (
            Err(Error::TimedOut {
                run: None,
                after: Duration::from_secs(1),
            }),
            RunStatus::TimedOut,
        ),
        (Err(Error::Cancelled { run: None }), RunStatus::Cancelled),
        (Err(Error::ShuttingDown), RunStatus::Interrupted),
        (
            Err(Error::actor_failed("executor", "boom")),
            RunStatus::Interrupted,
        ),
    ];
    for (outcome, want) in cases {
        let run = reg.admit(Admission::new("t", Pattern::Simple));
        run.start().unwrap();
        let outcome = outcome.map(|code| ok_output(run.id(), code, 0));
        assert_eq!(reg.finish_now(&run, outcome), Ok(want));
        assert_eq!(reg.status(run.id()), Some(want));
    }
}

#[test]
fn history_limit_evicts_oldest_finished_never_running() {
    let reg = Registry::new(Retention {
        history_limit: 2,
        output_budget: usize::MAX,
        ..Retention::default()
    });
    let running = reg.admit(Admission::new("long", Pattern::FireAndForget));
    running.start().unwrap();
    let ids: Vec<RunId> = (0..4)
        .map(|_| {
            let r = reg.admit(Admission::new("t", Pattern::Simple));
            r.start().unwrap();
            reg.finish_now(&r, Ok(ok_output(r.id(), 0, 0))).unwrap();
            r.id()
        })
        .collect();
    assert_eq!(reg.status(ids[0]), None);
    assert_eq!(reg.status(ids[1]), None);
    assert_eq!(reg.status(ids[2]), Some(RunStatus::Succeeded));
    assert_eq!(reg.status(ids[3]), Some(RunStatus::Succeeded));
    assert_eq!(reg.status(running.id()), Some(RunStatus::Running));
    assert!(matches!(reg.cancel(ids[0]), Err(Error::UnknownRun(id)) if id == ids[0]));
}

#[test]
fn output_budget_strips_oldest_output() {
    let reg = Registry::new(Retention {
        history_limit: 100,
        output_budget: 150,
        ..Retention::default()
    });
    let mut ids = Vec::new();
    for _ in 0..3 {
        let r = reg.admit(Admission::new("t", Pattern::Simple));
        r.start().unwrap();
        reg.finish_now(&r, Ok(ok_output(r.id(), 0, 60))).unwrap();
        ids.push(r);
    }
    let first = ids[0].outcome().unwrap().unwrap();
    assert!(first.stdout.is_empty() && first.stdout_truncated);
    assert_eq!(first.stdout_dropped, 60);
    assert_eq!(ids[2].outcome().unwrap().unwrap().stdout.len(), 60);
}

#[tokio::test]
async fn many_waiters_before_and_after_finish() {
    let reg = Arc::new(Registry::new(Retention::default()));
    let run = reg.admit(Admission::new("t", Pattern::FireAndForget));
    let id = run.id();
    let early: Vec<_> = (0..5)
        .map(|_| {
            let reg = Arc::clone(&reg);
            tokio::spawn(async move { reg.wait(id).await })
        })
        .collect();
    tokio::task::yield_now().await;
    run.start().unwrap();
    reg.finish_now(&run, Ok(ok_output(id, 0, 3))).unwrap();
    for waiter in early {
        assert_eq!(waiter.await.unwrap().unwrap().stdout.len(), 3);
    }
    assert_eq!(reg.wait(id).await.unwrap().exit_code, Some(0));
}

#[test]
fn cancel_fires_token_only_while_live() {
    let reg = Registry::new(Retention::default());
    let run = reg.admit(Admission::new("t", Pattern::Simple));
    let token = run.token().unwrap();
    reg.cancel(run.id()).unwrap();
    assert!(token.is_cancelled() && run.cancel_requested());

    let done = reg.admit(Admission::new("t", Pattern::Simple));
    done.start().unwrap();
    reg.finish_now(&done, Ok(ok_output(done.id(), 0, 0)))
        .unwrap();
    reg.cancel(done.id()).unwrap();
    assert!(!done.cancel_requested());
}

#[test]
fn parent_token_cancels_children() {
    let reg = Registry::new(Retention::default());
    let parent = CancellationToken::new();
    let run = reg.admit(Admission::new("t", Pattern::Simple).parent(Some(&parent)));
    parent.cancel();
    assert!(run.token().unwrap().is_cancelled());
    assert!(!run.cancel_requested(), "runtime stop is not a user cancel");
}

#[test]
fn eviction_never_touches_queued_runs_and_forgets_evicted_output() {
    let reg = Registry::new(Retention {
        history_limit: 2,
        output_budget: usize::MAX,
        ..Retention::default()
    });
    let queued = reg.admit(Admission::new("waiting", Pattern::FireAndForget));
    let mut last = Vec::new();
    for _ in 0..10 {
        let r = reg.admit(Admission::new("t", Pattern::Simple));
        r.start().unwrap();
        reg.finish_now(&r, Ok(ok_output(r.id(), 0, 5))).unwrap();
        last.push(r.id());
    }
    assert_eq!(reg.status(queued.id()), Some(RunStatus::Queued));
    assert_eq!(reg.len(), 3, "the queued run and the last two finished");
    let fin = reg.finished.lock();
    assert_eq!(fin.order.len(), 2);
    // Evicted runs' output no longer counts, and is no longer tracked.
    assert_eq!(fin.with_output.len(), 2);
    assert_eq!(fin.output_bytes, 10);
}

#[tokio::test]
async fn a_waiter_holding_an_evicted_run_still_gets_its_outcome() {
    let reg = Registry::new(Retention {
        history_limit: 1,
        output_budget: usize::MAX,
        ..Retention::default()
    });
    let run = reg.admit(Admission::new("first", Pattern::FireAndForget));
    let held = reg.get(run.id()).unwrap();
    run.start().unwrap();
    reg.finish_now(&run, Ok(ok_output(run.id(), 0, 1))).unwrap();
    let next = reg.admit(Admission::new("second", Pattern::FireAndForget));
    reg.finish_now(&next, Ok(ok_output(next.id(), 0, 1)))
        .unwrap();
    assert!(matches!(reg.wait(run.id()).await, Err(Error::UnknownRun(id)) if id == run.id()));
    assert_eq!(held.wait().await.unwrap().exit_code, Some(0));
}

/// Five runs: two succeeded ("a"), one failed ("b"), one running ("a", a
/// launched one), one queued ("c").
fn sample() -> (Registry, Vec<RunId>) {
    let reg = Registry::new(Retention::default());
    let mut ids = Vec::new();
    for (name, pattern, code) in [
        ("a", Pattern::Simple, Some(0)),
        ("b", Pattern::Simple, Some(1)),
        ("a", Pattern::Concurrent, Some(0)),
        ("a", Pattern::FireAndForget, None),
    ] {
        let r = reg.admit(Admission::new(name, pattern));
        r.start().unwrap();
        if let Some(code) = code {
            reg.finish_now(&r, Ok(ok_output(r.id(), code, 0))).unwrap();
        }
        ids.push(r.id());
    }
    ids.push(reg.admit(Admission::new("c", Pattern::FireAndForget)).id());
    (reg, ids)
}

fn ids(infos: &[RunInfo]) -> Vec<RunId> {
    infos.iter().map(|i| i.id).collect()
}

#[test]
fn queries_filter_by_status_name_and_pattern_oldest_first() {
    let (reg, all) = sample();
    assert_eq!(ids(&reg.query(&RunQuery::new())), all);
    assert_eq!(ids(&reg.list()), all);
    let ok = reg.query(&RunQuery::new().status(RunStatus::Succeeded));
    assert_eq!(ids(&ok), [all[0], all[2]]);
    let done = RunQuery::new()
        .status(RunStatus::Succeeded)
        .status(RunStatus::Failed);
    assert_eq!(ids(&reg.query(&done)), [all[0], all[1], all[2]]);
    assert_eq!(ids(&reg.query(&RunQuery::new().finished())), all[..3]);
    assert_eq!(ids(&reg.query(&RunQuery::new().active())), all[3..]);
    assert_eq!(
        ids(&reg.query(&RunQuery::new().name("a"))),
        [all[0], all[2], all[3]]
    );
    let launched_a = RunQuery::new().name("a").pattern(Pattern::FireAndForget);
    assert_eq!(ids(&reg.query(&launched_a)), [all[3]]);
    let none = RunQuery::new().name("a").status(RunStatus::Failed);
    assert!(reg.query(&none).is_empty());
    assert!(reg.query(&RunQuery::new().name("nobody")).is_empty());
}

#[test]
fn most_recent_keeps_the_last_accepted_matches() {
    let (reg, all) = sample();
    assert_eq!(ids(&reg.query(&RunQuery::new().most_recent(2))), all[3..]);
    let recent_a = RunQuery::new().name("a").most_recent(2);
    assert_eq!(ids(&reg.query(&recent_a)), [all[2], all[3]]);
    assert_eq!(ids(&reg.query(&RunQuery::new().most_recent(99))), all);
    assert!(reg.query(&RunQuery::new().most_recent(0)).is_empty());
}

#[test]
fn query_matches_agrees_with_the_registry() {
    let (reg, _) = sample();
    let query = RunQuery::new().name("a").finished();
    for info in reg.list() {
        let found = reg.query(&query).iter().any(|i| i.id == info.id);
        assert_eq!(query.matches(&info), found, "{info:?}");
    }
}
