//! Table tests for pattern selection and request validation: each row is a
//! request, the pattern the rules pick, and what `validate` answers.

use std::time::Duration;

use super::*;
use Pattern::*;

fn task() -> Task {
    Task::command("true")
}

fn req() -> Request {
    Request::new(task())
}

/// A request for a pool, with a proper one-line stdin.
fn pool_req() -> Request {
    Request::new(task().stdin("ping")).pooled("p")
}

fn tasks(n: usize) -> Vec<Task> {
    (0..n)
        .map(|i| Task::command("echo").arg(i.to_string()))
        .collect()
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn cron() -> Trigger {
    Trigger::cron("*/5 * * * *").expect("a valid cron expression")
}

/// What `validate` must answer: the pattern, or an `InvalidTask` whose
/// message contains every one of these fragments.
enum Want {
    Ok(Pattern),
    Invalid(&'static [&'static str]),
}
use Want::Invalid;

#[test]
fn selection_and_validation_table() {
    #[rustfmt::skip]
    let cases: Vec<(&str, Request, Pattern, Want)> = vec![
        // One option at a time.
        ("no options", req(), Simple, Want::Ok(Simple)),
        ("streaming", req().streaming(true), LongRunning, Want::Ok(LongRunning)),
        ("streaming(false) is the default", req().streaming(false), Simple, Want::Ok(Simple)),
        ("wait(false)", req().wait(false), FireAndForget, Want::Ok(FireAndForget)),
        ("wait(true) is the default", req().wait(true), Simple, Want::Ok(Simple)),
        ("every", req().every(secs(5)), Periodic, Want::Ok(Periodic)),
        ("cron", req().schedule(cron()), Periodic, Want::Ok(Periodic)),
        ("batch", req().batch(tasks(3), 2), Concurrent, Want::Ok(Concurrent)),
        ("batch of one", req().batch(tasks(1), 4), Concurrent, Want::Ok(Concurrent)),
        ("empty batch", req().batch(Vec::new(), 1), Concurrent, Want::Ok(Concurrent)),
        ("batch from the start", Request::batch_of(tasks(2), 2), Concurrent, Want::Ok(Concurrent)),
        ("pooled", pool_req(), Pooled, Want::Ok(Pooled)),
        ("pooled, stdin ends with a newline", Request::new(task().stdin("ping\n")).pooled("p"), Pooled, Want::Ok(Pooled)),
        ("pooled, empty line", Request::new(task().stdin("")).pooled("p"), Pooled, Want::Ok(Pooled)),
        // Combinations one pattern honours: the rules pick it.
        ("every, wait(false)", req().every(secs(5)).wait(false), Periodic, Want::Ok(Periodic)),
        ("every, wait(true): results in the registry", req().every(secs(5)).wait(true), Periodic, Want::Ok(Periodic)),
        ("every, streaming(false)", req().every(secs(5)).streaming(false), Periodic, Want::Ok(Periodic)),
        ("streaming, wait(false)", req().streaming(true).wait(false), LongRunning, Want::Ok(LongRunning)),
        ("streaming, wait(true)", req().streaming(true).wait(true), LongRunning, Want::Ok(LongRunning)),
        ("batch, wait(true)", req().batch(tasks(2), 2).wait(true), Concurrent, Want::Ok(Concurrent)),
        ("batch, streaming(false)", req().batch(tasks(2), 2).streaming(false), Concurrent, Want::Ok(Concurrent)),
        ("pooled, wait(true)", pool_req().wait(true), Pooled, Want::Ok(Pooled)),
        ("wait(false), streaming(false)", req().wait(false).streaming(false), FireAndForget, Want::Ok(FireAndForget)),
        ("last trigger wins", req().schedule(cron()).every(secs(1)), Periodic, Want::Ok(Periodic)),
        // Explicit patterns.
        ("override Simple", req().pattern(Simple), Simple, Want::Ok(Simple)),
        ("override LongRunning", req().pattern(LongRunning), LongRunning, Want::Ok(LongRunning)),
        ("override Concurrent, one task", req().pattern(Concurrent), Concurrent, Want::Ok(Concurrent)),
        ("override Concurrent, batch", req().batch(tasks(3), 3).pattern(Concurrent), Concurrent, Want::Ok(Concurrent)),
        ("override FireAndForget", req().pattern(FireAndForget), FireAndForget, Want::Ok(FireAndForget)),
        ("override Periodic with a trigger", req().every(secs(5)).pattern(Periodic), Periodic, Want::Ok(Periodic)),
        ("override Pooled with a pool", pool_req().pattern(Pooled), Pooled, Want::Ok(Pooled)),
        ("override LongRunning, wait(false)", req().pattern(LongRunning).wait(false), LongRunning, Want::Ok(LongRunning)),
        ("override Periodic, wait(false)", req().every(secs(1)).pattern(Periodic).wait(false), Periodic, Want::Ok(Periodic)),
        // Options no single pattern honours.
        ("pooled + streaming", pool_req().streaming(true), LongRunning, Invalid(&["`.pooled(\"p\")`", "`.streaming(true)`"])),
        ("batch + every", req().batch(tasks(2), 2).every(secs(5)), Periodic, Invalid(&["`.batch(2 tasks, 2)`", "`.every(5s)`"])),
        ("pooled + batch", pool_req().batch(tasks(2), 2), Concurrent, Invalid(&["`.batch(2 tasks, 2)`", "`.pooled(\"p\")`"])),
        ("every + streaming", req().every(secs(5)).streaming(true), Periodic, Invalid(&["`.every(5s)`", "`.streaming(true)`"])),
        ("cron + pooled", pool_req().schedule(cron()), Periodic, Invalid(&["`.schedule(cron \"*/5 * * * *\" in UTC)`", "`.pooled(\"p\")`"])),
        ("batch + streaming", req().batch(tasks(2), 2).streaming(true), LongRunning, Invalid(&["`.streaming(true)`", "`.batch(2 tasks, 2)`"])),
        ("batch + wait(false)", req().batch(tasks(2), 2).wait(false), Concurrent, Invalid(&["`.batch(2 tasks, 2)`", "`.wait(false)`"])),
        ("pooled + wait(false)", pool_req().wait(false), FireAndForget, Invalid(&["`.wait(false)`", "`.pooled(\"p\")`"])),
        ("three at odds: every, streaming, pooled", pool_req().every(secs(1)).streaming(true), Periodic,
            Invalid(&["`.every(1s)` runs the task on a clock (Periodic) but `.streaming(true)`",
                      "`.every(1s)` runs the task on a clock (Periodic) but `.pooled(\"p\")`",
                      "`.streaming(true)` streams one run's output live (LongRunning) but `.pooled(\"p\")`"])),
        // Overrides the options contradict.
        ("override Simple + streaming", req().pattern(Simple).streaming(true), Simple, Invalid(&["`.pattern(Simple)`", "`.streaming(true)`"])),
        ("override LongRunning + streaming(false)", req().pattern(LongRunning).streaming(false), LongRunning, Invalid(&["`.pattern(LongRunning)`", "`.streaming(false)`"])),
        ("override FireAndForget + wait(true)", req().pattern(FireAndForget).wait(true), FireAndForget, Invalid(&["`.pattern(FireAndForget)`", "`.wait(true)`"])),
        ("override Simple + wait(false)", req().pattern(Simple).wait(false), Simple, Invalid(&["`.pattern(Simple)`", "`.wait(false)`"])),
        ("override Pooled + every", pool_req().pattern(Pooled).every(secs(1)), Pooled, Invalid(&["`.pattern(Pooled)`", "`.every(1s)`"])),
        ("override Concurrent + pooled", pool_req().pattern(Concurrent), Concurrent, Invalid(&["`.pattern(Concurrent)`", "`.pooled(\"p\")`"])),
        ("override Simple + batch", req().batch(tasks(2), 2).pattern(Simple), Simple, Invalid(&["`.pattern(Simple)`", "`.batch(2 tasks, 2)`"])),
        ("override Periodic + batch", req().every(secs(1)).batch(tasks(2), 1).pattern(Periodic), Periodic, Invalid(&["`.pattern(Periodic)`", "`.batch(2 tasks, 1)`"])),
        // What a pattern is missing.
        ("override Periodic without a trigger", req().pattern(Periodic), Periodic, Invalid(&["`.pattern(Periodic)` needs a trigger"])),
        ("override Pooled without a pool", Request::new(task().stdin("ping")).pattern(Pooled), Pooled, Invalid(&["`.pattern(Pooled)` needs a pool"])),
        ("pooled without stdin", req().pooled("p"), Pooled, Invalid(&["`.pooled(\"p\")`", "add `.stdin(line)`"])),
        ("pooled, two lines", Request::new(task().stdin("a\nb")).pooled("p"), Pooled, Invalid(&["newline at byte 1", "one line"])),
        ("pooled, stdin not UTF-8", Request::new(task().stdin(vec![0xff, 0xfe])).pooled("p"), Pooled, Invalid(&["not UTF-8"])),
        ("pooled, empty pool name", Request::new(task().stdin("x")).pooled(" "), Pooled, Invalid(&["pool name is empty"])),
        ("batch limit 0", req().batch(tasks(3), 0), Concurrent, Invalid(&["`.batch(3 tasks, 0)`", "at least 1"])),
        ("empty batch, limit 0", req().batch(Vec::new(), 0), Concurrent, Invalid(&["at least 1"])),
        ("zero interval", req().every(Duration::ZERO), Periodic, Invalid(&["greater than zero"])),
    ];
    assert!(cases.len() >= 40, "{} cases", cases.len());
    for (what, request, selected, want) in cases {
        assert_eq!(Pattern::select(&request), selected, "{what}: select");
        match (request.validate(), want) {
            (Ok(got), Want::Ok(pattern)) => {
                assert_eq!(got, pattern, "{what}");
                assert_eq!(got, selected, "{what}: a valid request runs as selected");
            }
            (Err(Error::InvalidTask(msg)), Invalid(fragments)) => {
                for fragment in fragments {
                    assert!(
                        msg.contains(fragment),
                        "{what}: {fragment:?} not in {msg:?}"
                    );
                }
            }
            (got, Want::Ok(pattern)) => panic!("{what}: want Ok({pattern:?}), got {got:?}"),
            (got, Invalid(fragments)) => {
                panic!("{what}: want InvalidTask with {fragments:?}, got {got:?}")
            }
        }
    }
}

#[test]
fn plans_carry_what_each_pattern_method_takes() {
    let job = Task::command("backup").name("nightly");
    match req().into_plan().unwrap() {
        ExecutionPlan::Simple(task) => assert_eq!(task, self::task()),
        other => panic!("{other:?}"),
    }
    match Request::new(job.clone())
        .streaming(true)
        .into_plan()
        .unwrap()
    {
        ExecutionPlan::LongRunning(task) => assert_eq!(task, job),
        other => panic!("{other:?}"),
    }
    match Request::new(job.clone()).wait(false).into_plan().unwrap() {
        ExecutionPlan::FireAndForget(task) => assert_eq!(task, job),
        other => panic!("{other:?}"),
    }
    // `.batch` replaces the request's task with the list, in order.
    match req().batch(tasks(3), 2).into_plan().unwrap() {
        ExecutionPlan::Concurrent { tasks: got, limit } => {
            assert_eq!(got, tasks(3));
            assert_eq!(limit, 2);
        }
        other => panic!("{other:?}"),
    }
    match Request::new(job.clone())
        .pattern(Concurrent)
        .into_plan()
        .unwrap()
    {
        ExecutionPlan::Concurrent { tasks, limit } => {
            assert_eq!(tasks, vec![job.clone()]);
            assert_eq!(limit, 1);
        }
        other => panic!("{other:?}"),
    }
    // `.every` schedules the task under its name.
    match Request::new(job.clone())
        .every(secs(60))
        .into_plan()
        .unwrap()
    {
        ExecutionPlan::Periodic(spec) => {
            assert_eq!(spec.name(), "nightly");
            assert_eq!(spec.trigger().interval(), Some(secs(60)));
            assert_eq!(spec.task(), &job);
        }
        other => panic!("{other:?}"),
    }
    // `.pooled` sends the stdin line, newline dropped, with the task's limit.
    let plan = Request::new(task().stdin("{\"q\": 1}\r\n").timeout(secs(2)))
        .pooled("scorer")
        .into_plan()
        .unwrap();
    assert_eq!(plan.pattern(), Pooled);
    match plan {
        ExecutionPlan::Pooled {
            pool,
            line,
            timeout,
        } => {
            assert_eq!(pool, "scorer");
            assert_eq!(line, "{\"q\": 1}");
            assert_eq!(timeout, Some(secs(2)));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn into_plan_refuses_what_validate_refuses() {
    let err = pool_req().streaming(true).into_plan().unwrap_err();
    assert_eq!(err.kind(), "invalid_task");
    assert!(!err.is_retryable());
    assert!(
        err.to_string()
            .starts_with("invalid task: conflicting request options: ")
    );
}

#[test]
fn accessors_report_the_options() {
    let r = req().batch(tasks(4), 3).wait(true);
    assert_eq!(r.tasks().len(), 4);
    assert_eq!(r.batch_limit(), Some(3));
    assert!(r.waits());
    assert!(!r.is_streaming());
    assert_eq!(r.pattern_override(), None);
    let r = Request::batch_of(tasks(2), 1);
    assert_eq!(r.tasks(), tasks(2).as_slice());
    assert_eq!(r.batch_limit(), Some(1));
    let r = pool_req().pattern(Pooled);
    assert_eq!(r.tasks(), &[task().stdin("ping")]);
    assert_eq!(r.pool_name(), Some("p"));
    assert_eq!(r.pool_line().unwrap(), "ping");
    assert_eq!(r.pattern_override(), Some(Pooled));
    assert!(matches!(req().pool_line(), Err(Error::InvalidTask(_))));
    let r = req().every(secs(3)).wait(false);
    assert!(!r.waits());
    assert_eq!(r.trigger().and_then(Trigger::interval), Some(secs(3)));
}
