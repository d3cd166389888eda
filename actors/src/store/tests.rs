//! The store on its own: record encoding, the writer's batches and
//! retention, recovery of what a crash leaves, and the errors of opening.

use std::time::Duration;

use serde_json::json;

use super::records::{self, DecodeFailure, ErrorRow, RECORD_VERSION};
use super::*;
use crate::lines::CapturedOutput;
use crate::output::{OutputLine, StreamKind};
use crate::pattern::Pattern;
use crate::run::RunStatus;
use crate::task::Task;

// The `jobs` table.
mod jobs;
mod labels;

fn limits() -> StoreLimits {
    StoreLimits {
        history_limit: 1000,
        output_budget: 1 << 20,
        kill_grace: Duration::from_millis(100),
    }
}

fn queued(task: Option<Task>) -> Box<RunRow> {
    Box::new(RunRow {
        name: "t".into(),
        pattern: Pattern::FireAndForget,
        status: RunStatus::Queued,
        queued: records::micros(std::time::SystemTime::now()),
        started: None,
        finished: None,
        exit_code: None,
        attempts: 0,
        pid: None,
        task,
        outcome: None,
    })
}

fn finish(status: RunStatus, output: Option<OutputRow>) -> Box<Finish> {
    Box::new(Finish {
        status,
        at: 1,
        exit_code: Some(0),
        attempts: 1,
        outcome: OutcomeRow::Error(ErrorRow::Cancelled),
        output,
    })
}

/// Five runs queued with `job` and finished one by one under a history
/// limit of two, so retention has removed the three oldest: the tests of
/// each table that retention must clear with a run start from here.
async fn five_runs_under_a_limit_of_two(
    job: impl Fn() -> Box<records::JobRow>,
) -> (tempfile::TempDir, std::path::PathBuf, Store, Vec<RunId>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let (store, _) = Store::open(
        &path,
        StoreLimits {
            history_limit: 2,
            ..limits()
        },
    )
    .unwrap();
    let mut ids = Vec::new();
    for _ in 0..5 {
        let id = RunId::new();
        ids.push(id);
        store.journal(|| Op::Queued {
            id,
            row: queued(None),
            job: Some(job()),
        });
        store.journal(|| Op::Finished {
            id,
            end: finish(RunStatus::Succeeded, None),
        });
        store.sync().await.unwrap();
    }
    (dir, path, store, ids)
}

/// Writes by hand, into a store file that exists, an active run `id` with
/// the encoded record `run`, plus whatever `more` writes in the same
/// transaction: how a file a newer release left is made.
fn write_active_run(
    path: &std::path::Path,
    id: RunId,
    run: &[u8],
    more: impl FnOnce(&redb::WriteTransaction),
) {
    let db = redb::Database::create(path).unwrap();
    let txn = db.begin_write().unwrap();
    txn.open_table(RUNS)
        .unwrap()
        .insert(id.as_bytes(), run)
        .unwrap();
    txn.open_table(ACTIVE)
        .unwrap()
        .insert(id.as_bytes(), ())
        .unwrap();
    more(&txn);
    txn.commit().unwrap();
}

/// Opening `path` fails with a store error naming run `id` as newer.
fn assert_start_refuses_newer(path: &std::path::Path, id: RunId) {
    let err = Store::open(path, limits()).unwrap_err();
    let Error::Store { reason, .. } = &err else {
        panic!("{err}")
    };
    assert!(
        reason.contains(&id.to_string()) && reason.contains("newer"),
        "{reason}"
    );
}

#[test]
fn records_round_trip_with_their_version_byte() {
    let task = Task::action("resize", json!({"w": 640, "tags": ["a", null]}))
        .name("resize")
        .timeout(Duration::from_secs(3))
        .retries(2)
        .env("K", "V");
    let row = queued(Some(task.clone()));
    let bytes = records::encode(&*row);
    assert_eq!(bytes[0], RECORD_VERSION);
    let back: RunRow = records::decode(&bytes).unwrap();
    assert_eq!(back, *row);
    assert_eq!(
        back.task.unwrap(),
        task,
        "action input survives bincode as JSON text"
    );
    // Human-readable formats keep the input as a JSON value.
    let text = serde_json::to_value(&task).unwrap();
    assert_eq!(text["kind"]["action"]["input"]["w"], 640);
}

#[test]
fn a_record_from_a_newer_release_or_garbage_is_refused() {
    let mut bytes = records::encode(&*queued(None));
    bytes[0] = RECORD_VERSION + 1;
    assert_eq!(
        records::decode::<RunRow>(&bytes),
        Err(DecodeFailure::Newer(RECORD_VERSION + 1))
    );
    assert!(matches!(
        records::decode::<RunRow>(&[RECORD_VERSION, 0xff, 0xff]),
        Err(DecodeFailure::Malformed(_))
    ));
    assert!(matches!(
        records::decode::<RunRow>(&[]),
        Err(DecodeFailure::Malformed(_))
    ));
}

#[tokio::test]
async fn changes_are_applied_as_deltas_and_synced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let (store, found) = Store::open(&path, limits()).unwrap();
    assert!(found.queued.is_empty() && found.interrupted.is_empty());
    let id = RunId::new();
    store.journal(|| Op::Queued {
        id,
        row: queued(Some(Task::command("true"))),
        job: None,
    });
    store.journal(|| Op::Started { id, at: 7 });
    store.journal(|| Op::Pid {
        id,
        pid: 42,
        attempt: 2,
    });
    store.sync().await.unwrap();
    let row = store.run(id).unwrap();
    assert_eq!(
        (row.status, row.started, row.pid, row.attempts),
        (RunStatus::Running, Some(7), Some(42), 2)
    );
    let output = OutputRow {
        stdout: b"hi\n".to_vec(),
        stderr: Vec::new(),
        lines: CapturedOutput {
            lines: vec![OutputLine {
                stream: StreamKind::Stdout,
                seq: 0,
                text: "hi".into(),
            }],
            dropped: 0,
            split: Vec::new(),
        },
        times: crate::lines::LineTimes::from_micros(vec![1_765_000_000_000_000]),
    };
    store.journal(|| Op::Finished {
        id,
        end: finish(RunStatus::Succeeded, Some(output.clone())),
    });
    store.sync().await.unwrap();
    let (row, stored) = store.run_with_output(id).unwrap();
    assert_eq!(row.status, RunStatus::Succeeded);
    assert_eq!(row.pid, None, "a finished run has no process");
    assert_eq!(stored, Some(output));
    store.close();
    assert!(store.run(id).is_none(), "closed: nothing is read");
    assert!(store.sync().await.is_err());
}

#[tokio::test]
async fn a_restart_interrupts_running_runs_and_hands_back_queued_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let (store, _) = Store::open(&path, limits()).unwrap();
    let (running, waiting, bare) = (RunId::new(), RunId::new(), RunId::new());
    store.journal(|| Op::Queued {
        id: running,
        row: queued(Some(Task::command("sleep"))),
        job: None,
    });
    store.journal(|| Op::Started { id: running, at: 1 });
    // A pid that is not ours (pid 1): recorded, never signalled.
    store.journal(|| Op::Pid {
        id: running,
        pid: 1,
        attempt: 1,
    });
    store.journal(|| Op::Queued {
        id: waiting,
        row: queued(Some(Task::shell("echo hi"))),
        job: None,
    });
    store.journal(|| Op::Queued {
        id: bare,
        row: queued(None),
        job: None,
    });
    store.sync().await.unwrap();
    // No close: as after kill -9 the writer is simply gone.
    drop(store);
    let (store, found) = Store::open(&path, limits()).unwrap();
    assert_eq!(found.queued.len(), 1);
    assert_eq!(found.queued[0].id, waiting);
    assert_eq!(found.queued[0].task, Task::shell("echo hi"));
    let mut interrupted = found.interrupted.clone();
    interrupted.sort();
    let mut expected = vec![running, bare];
    expected.sort();
    assert_eq!(interrupted, expected);
    assert!(found.killed_groups.is_empty(), "pid 1 is not ours");
    let row = store.run(running).unwrap();
    assert_eq!(row.status, RunStatus::Interrupted);
    assert!(matches!(
        row.outcome,
        Some(OutcomeRow::Error(ErrorRow::ActorFailed { .. }))
    ));
    store.close();
    // Recovered once: a second start finds only the queued run again
    // (nobody started it).
    let (store, found) = Store::open(&path, limits()).unwrap();
    assert_eq!(found.queued.len(), 1);
    assert!(found.interrupted.is_empty());
    store.close();
}

#[tokio::test]
async fn retention_keeps_the_newest_finished_runs_and_every_active_one() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(
        dir.path().join("s.redb"),
        StoreLimits {
            history_limit: 3,
            output_budget: 100,
            ..limits()
        },
    )
    .unwrap();
    let active = RunId::new();
    store.journal(|| Op::Queued {
        id: active,
        row: queued(None),
        job: None,
    });
    let mut ids = Vec::new();
    for _ in 0..10 {
        let id = RunId::new();
        ids.push(id);
        store.journal(|| Op::Queued {
            id,
            row: queued(None),
            job: None,
        });
        let output = OutputRow {
            stdout: vec![b'x'; 40],
            ..OutputRow::default()
        };
        store.journal(|| Op::Finished {
            id,
            end: finish(RunStatus::Succeeded, Some(output)),
        });
        store.sync().await.unwrap();
    }
    assert!(
        store.run(active).is_some(),
        "an active run is never evicted"
    );
    let kept: Vec<RunId> = ids
        .iter()
        .copied()
        .filter(|&id| store.run(id).is_some())
        .collect();
    assert_eq!(kept, ids[7..], "the three newest finished runs");
    let with_output = ids
        .iter()
        .filter(|&&id| store.run_with_output(id).is_some_and(|(_, o)| o.is_some()))
        .count();
    assert_eq!(
        with_output, 2,
        "the output budget holds two outputs of ~45 bytes"
    );
    store.close();
}

#[test]
fn opening_refuses_what_it_cannot_use_and_leaves_the_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    // Not a database.
    let garbage = dir.path().join("garbage.redb");
    std::fs::write(&garbage, vec![0x5a; 8192]).unwrap();
    let before = std::fs::read(&garbage).unwrap();
    let err = Store::open(&garbage, limits()).unwrap_err();
    assert!(
        matches!(&err, Error::Store { path, .. } if path == &garbage),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&garbage).unwrap(),
        before,
        "never overwritten"
    );

    // In use.
    let path = dir.path().join("nested/dirs/s.redb");
    let (store, _) = Store::open(&path, limits()).expect("missing directories are created");
    let err = Store::open(&path, limits()).unwrap_err();
    assert!(
        matches!(&err, Error::Store { reason, .. } if reason.contains("in use")),
        "{err}"
    );
    store.close();
    let (again, _) = Store::open(&path, limits()).expect("closed: free again");
    again.close();
}

#[test]
fn a_newer_schema_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert("schema", SCHEMA + 1)
            .unwrap();
        txn.commit().unwrap();
    }
    let err = Store::open(&path, limits()).unwrap_err();
    assert!(
        matches!(&err, Error::Store { reason, .. } if reason.contains("newer taskorch")),
        "{err}"
    );
    // Nothing of ours was written: the newer release finds its file as it
    // left it (redb's own header bookkeeping aside).
    let db = redb::Database::create(&path).unwrap();
    let txn = db.begin_read().unwrap();
    let meta = txn.open_table(META).unwrap();
    assert_eq!(meta.get("schema").unwrap().unwrap().value(), SCHEMA + 1);
    assert!(
        txn.open_table(RUNS).is_err(),
        "no table of ours was created"
    );
}

#[test]
fn a_newer_record_fails_the_start_naming_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let (store, _) = Store::open(&path, limits()).unwrap();
    store.close();
    let id = RunId::new();
    let mut bytes = records::encode(&*queued(None));
    bytes[0] = RECORD_VERSION + 1;
    write_active_run(&path, id, &bytes, |_| {});
    assert_start_refuses_newer(&path, id);
}

#[cfg(unix)]
#[test]
fn a_read_only_file_is_refused_naming_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let (store, _) = Store::open(&path, limits()).unwrap();
    store.close();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    // Root ignores file modes; the immutable flag binds root too.
    let immutable = std::fs::OpenOptions::new().write(true).open(&path).is_ok()
        && std::process::Command::new("chattr")
            .arg("+i")
            .arg(&path)
            .status()
            .is_ok_and(|s| s.success());
    let err = Store::open(&path, limits());
    if immutable {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&path)
            .status();
    }
    let err = err.unwrap_err();
    assert!(
        matches!(&err, Error::Store { path: p, reason } if p == &path && reason.contains("writable")),
        "{err}"
    );
}

fn graph_def(name: &str) -> Box<GraphRow> {
    Box::new(GraphRow {
        name: Some(name.into()),
        limit: u64::MAX,
        aging: 16,
        submitted: 1,
        tasks: vec![super::GraphTaskDef {
            name: "only".into(),
            task: Task::command("true"),
            deps: Vec::new(),
            priority: super::graphs::StoredPriority::Normal,
            resources: Vec::new(),
            tags: vec!["t".into()],
            metadata: "null".into(),
        }],
    })
}

fn graph_task(status: super::StoredTaskStatus, run: Option<RunId>) -> Box<GraphTaskRow> {
    Box::new(GraphTaskRow {
        status,
        attempts: 1,
        run,
        started: Some(1),
        finished: None,
        duration_us: None,
        outcome: None,
        exit_code: None,
        error: None,
    })
}

/// Finished graphs past `history_limit` go oldest first; an unfinished
/// one is kept and found by the next start, its task whose run never
/// started handed back as pending (and that run ended), its task whose
/// run ended given the run's status.
#[tokio::test]
async fn graphs_are_recovered_settled_against_their_runs_and_retained() {
    use super::StoredTaskStatus as TaskStatus;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let small = StoreLimits {
        history_limit: 2,
        ..limits()
    };
    let (store, _) = Store::open(&path, small).unwrap();
    let mut finished = Vec::new();
    for i in 0..5 {
        let key = *RunId::new().as_bytes();
        finished.push(key);
        store.journal(|| Op::Graph {
            key,
            row: graph_def(&format!("done-{i}")),
        });
        store.journal(|| Op::GraphTask {
            key,
            index: 0,
            row: graph_task(TaskStatus::Succeeded, None),
        });
        store.journal(|| Op::GraphFinished { key });
        store.sync().await.unwrap();
    }
    // Two unfinished graphs whose one task is `Running`: one's run never
    // started, the other's run ended before the crash.
    let (never, ended) = (RunId::new(), RunId::new());
    let mut open = Vec::new();
    for (name, run) in [("never", never), ("ended", ended)] {
        let key = *RunId::new().as_bytes();
        open.push(key);
        store.journal(|| Op::Graph {
            key,
            row: graph_def(name),
        });
        store.journal(|| Op::Queued {
            id: run,
            row: queued(None),
            job: None,
        });
        store.journal(|| Op::GraphTask {
            key,
            index: 0,
            row: graph_task(TaskStatus::Running, Some(run)),
        });
    }
    store.journal(|| Op::Started { id: ended, at: 2 });
    store.journal(|| Op::Finished {
        id: ended,
        end: finish(RunStatus::Succeeded, None),
    });
    store.sync().await.unwrap();
    store.close();

    let (store, found) = Store::open(&path, small).unwrap();
    let mut graphs = found.graphs;
    graphs.sort_by_key(|g| g.name().map(str::to_string));
    let names: Vec<_> = graphs.iter().map(|g| g.name().unwrap()).collect();
    assert_eq!(names, ["ended", "never"], "only unfinished graphs");
    let task = |g: &StoredGraph| g.tasks[0].as_ref().unwrap().0.clone();
    assert_eq!(task(&graphs[0]).status, TaskStatus::Succeeded);
    assert_eq!(task(&graphs[1]).status, TaskStatus::Pending);
    assert_eq!(task(&graphs[1]).run, None);
    assert_eq!(store.run(never).unwrap().status, RunStatus::Interrupted);
    assert!(found.queued.is_empty() && !found.interrupted.contains(&never));
    // Retention: of the five finished graphs, the two newest are kept.
    let db = store.shared.as_ref().unwrap().as_redb().unwrap().db.read();
    let txn = db.as_ref().unwrap().begin_read().unwrap();
    let table = txn.open_table(graphs::GRAPHS).unwrap();
    let kept: Vec<bool> = finished
        .iter()
        .map(|k| table.get(k).unwrap().is_some())
        .collect();
    assert_eq!(kept, [false, false, false, true, true]);
    assert!(open.iter().all(|k| table.get(k).unwrap().is_some()));
    drop((table, txn, db));
    store.close();
}

#[test]
fn the_overlay_reads_the_file_and_keeps_every_write_in_memory() {
    use redb::StorageBackend;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("file");
    let original: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&path, &original).unwrap();
    let overlay = backend::Overlay::new(std::fs::File::open(&path).unwrap()).unwrap();
    // Across a page boundary, and past the end (the length grows).
    overlay.write(4090, &[1; 20]).unwrap();
    overlay.write(12_000, &[2; 8]).unwrap();
    assert_eq!(overlay.len().unwrap(), 12_008);
    let mut out = vec![0; 30];
    overlay.read(4085, &mut out).unwrap();
    let mut expected = original[4085..4090].to_vec();
    expected.extend([1; 20]);
    expected.extend(&original[4110..4115]);
    assert_eq!(out, expected);
    let mut gap = vec![9; 2000];
    overlay.read(10_000, &mut gap).unwrap();
    assert!(gap.iter().all(|&b| b == 0), "grown bytes read as zero");
    // Shrunk then grown again: the dropped bytes come back as zeros.
    overlay.set_len(5000).unwrap();
    overlay.set_len(8000).unwrap();
    let mut tail = vec![9; 3000];
    overlay.read(5000, &mut tail).unwrap();
    assert!(tail.iter().all(|&b| b == 0));
    assert!(
        overlay.read(7999, &mut [0; 2]).is_err(),
        "reads stop at the length"
    );
    overlay.close().unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        original,
        "the file is untouched"
    );
}

#[test]
fn a_panicked_run_reads_back_as_the_same_typed_error() {
    let id = RunId::new();
    let error = Error::RunPanicked {
        run: id,
        message: "boom".into(),
    };
    let row = ErrorRow::from_error(&error);
    match row.error(id) {
        Error::RunPanicked { run, message } => {
            assert_eq!(run, id);
            assert_eq!(message, "boom");
        }
        other => panic!("read back as {other:?}"),
    }
}

#[tokio::test]
async fn a_read_only_open_reads_the_store_as_it_is_and_changes_no_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let (store, _) = Store::open(&path, limits()).unwrap();
    let running = RunId::new();
    store.journal(|| Op::Queued {
        id: running,
        row: queued(Some(Task::command("sleep"))),
        job: None,
    });
    store.journal(|| Op::Started { id: running, at: 1 });
    store.sync().await.unwrap();
    drop(store);
    let before = std::fs::read(&path).unwrap();

    let reader = Store::open_read_only(&path).unwrap();
    let runs = reader.history(&crate::run::RunQuery::new()).unwrap();
    assert_eq!(runs.len(), 1);
    // Not recovered: the next writable open does that.
    assert_eq!(runs[0].status, RunStatus::Running);
    assert_eq!(
        reader.stored_run(running).unwrap().info.status,
        RunStatus::Running
    );
    // Another reader at the same time is fine; a writer is kept out.
    let second = Store::open_read_only(&path).unwrap();
    let refused = Store::open(&path, limits()).unwrap_err();
    assert!(refused.is_store_in_use(), "{refused}");
    second.close();
    reader.close();
    assert!(std::fs::read(&path).unwrap() == before, "the file changed");

    let (store, found) = Store::open(&path, limits()).unwrap();
    assert_eq!(found.interrupted, vec![running]);
    // While a writer holds the store, a reader is told it is in use.
    let refused = Store::open_read_only(&path).unwrap_err();
    assert!(refused.is_store_in_use(), "{refused}");
    store.close();
    let missing = Store::open_read_only(dir.path().join("none.redb")).unwrap_err();
    assert!(missing.to_string().contains("none.redb"), "{missing}");
}

#[tokio::test]
async fn output_rows_keep_line_times_and_rows_of_version_1_still_read() {
    use super::records::{OUTPUT_VERSION, OutputRowV1};
    use crate::lines::LineTimes;

    let line = |seq: u64, text: &str| OutputLine {
        stream: StreamKind::Stdout,
        seq,
        text: text.into(),
    };
    let lines = CapturedOutput {
        lines: vec![line(3, "a"), line(4, "b")],
        dropped: 3,
        split: Vec::new(),
    };
    let t0 = 1_765_000_000_000_000;
    let output = OutputRow {
        stdout: b"a\nb\n".to_vec(),
        stderr: Vec::new(),
        lines: lines.clone(),
        times: LineTimes::from_micros(vec![t0, t0 + 250]),
    };
    let bytes = output.encode();
    assert_eq!(bytes[0], OUTPUT_VERSION);
    assert_eq!(OutputRow::decode(&bytes).unwrap(), output);
    let mut newer = bytes.clone();
    newer[0] = OUTPUT_VERSION + 1;
    assert_eq!(
        OutputRow::decode(&newer),
        Err(DecodeFailure::Newer(OUTPUT_VERSION + 1))
    );

    // Through a store file: one run written now, one whose output row is
    // what the previous release wrote (version 1, no times).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let (store, _) = Store::open(&path, limits()).unwrap();
    let (new, old) = (RunId::new(), RunId::new());
    for id in [new, old] {
        store.journal(|| Op::Queued {
            id,
            row: queued(None),
            job: None,
        });
        store.journal(|| Op::Finished {
            id,
            end: finish(RunStatus::Succeeded, Some(output.clone())),
        });
    }
    store.sync().await.unwrap();
    store.close();
    let v1 = records::encode(&OutputRowV1 {
        stdout: output.stdout.clone(),
        stderr: Vec::new(),
        lines: lines.clone(),
    });
    assert_eq!(v1[0], 1, "the byte the previous release wrote");
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(OUTPUT)
            .unwrap()
            .insert(old.as_bytes(), v1.as_slice())
            .unwrap();
        txn.commit().unwrap();
    }
    let store = Store::open_read_only(path).unwrap();
    let stored = store.stored_run(new).unwrap();
    assert_eq!(stored.lines, lines);
    let times: Vec<_> = stored.line_times.iter().collect();
    assert_eq!(
        times,
        [Some(records::time(t0)), Some(records::time(t0 + 250))]
    );
    let stored = store.stored_run(old).unwrap();
    assert_eq!(stored.lines, lines, "an old row's lines still read");
    assert!(stored.line_times.is_empty());
    assert_eq!(stored.line_times.get(0), None, "its times are unknown");
    store.close();
}

/// A finished graph reopened by a retry is active again (the next start
/// finds it), and its reset tasks have no row (they read as never started);
/// a reopen of a graph retention removed is ignored.
#[tokio::test]
async fn a_reopened_graph_is_found_again_with_its_reset_tasks_pending() {
    use super::StoredTaskStatus as TaskStatus;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let (store, _) = Store::open(&path, limits()).unwrap();
    let key = *RunId::new().as_bytes();
    store.journal(|| Op::Graph {
        key,
        row: graph_def("retried"),
    });
    store.journal(|| Op::GraphTask {
        key,
        index: 0,
        row: graph_task(TaskStatus::Failed, None),
    });
    store.journal(|| Op::GraphFinished { key });
    let gone = *RunId::new().as_bytes();
    store.journal(|| Op::GraphReopened {
        key: gone,
        reset: vec![0],
    });
    store.sync().await.unwrap();
    store.close();
    let (store, found) = Store::open(&path, limits()).unwrap();
    assert!(
        found.graphs.is_empty(),
        "finished, and an unknown key ignored"
    );

    store.journal(|| Op::GraphReopened {
        key,
        reset: vec![0],
    });
    store.sync().await.unwrap();
    store.close();
    let (store, found) = Store::open(&path, limits()).unwrap();
    assert_eq!(found.graphs.len(), 1);
    assert_eq!(found.graphs[0].name(), Some("retried"));
    assert!(
        found.graphs[0].tasks[0].is_none(),
        "the reset task has no row"
    );
    store.close();
}

/// A graph's extras (outside dependencies, job options) come back with
/// it, a graph stored without any reads as it was, the status of a
/// finished graph's task is found by store key, and retention takes the
/// extras with their graph.
#[tokio::test]
async fn graph_extras_are_recovered_and_retained_with_their_graph() {
    use super::StoredTaskStatus as TaskStatus;
    use super::graphs::{GraphExtrasRow, GraphTaskExtras, StoredExternal};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let small = StoreLimits {
        history_limit: 1,
        ..limits()
    };
    let (store, _) = Store::open(&path, small).unwrap();
    let done = *RunId::new().as_bytes();
    store.journal(|| Op::Graph {
        key: done,
        row: graph_def("done"),
    });
    store.journal(|| Op::GraphTask {
        key: done,
        index: 0,
        row: graph_task(TaskStatus::Succeeded, None),
    });
    store.journal(|| Op::GraphFinished { key: done });
    let (plain, grown) = (*RunId::new().as_bytes(), *RunId::new().as_bytes());
    let run = RunId::new();
    let job = crate::task::Task::command("true")
        .label("bot", "b-7")
        .queue("q");
    let extras = GraphExtrasRow {
        tasks: vec![GraphTaskExtras {
            index: 0,
            externals: vec![
                StoredExternal::Run(run),
                StoredExternal::Task {
                    graph: done,
                    index: 0,
                },
            ],
            job: Some(super::JobRow::new(job.job(), None, None)),
        }],
    };
    for (key, name) in [(plain, "plain"), (grown, "grown")] {
        store.journal(|| Op::Graph {
            key,
            row: graph_def(name),
        });
    }
    store.journal(|| Op::GraphExtras {
        key: grown,
        row: Box::new(extras.clone()),
    });
    store.sync().await.unwrap();
    assert_eq!(
        store.graph_task_status(done, 0),
        Some(TaskStatus::Succeeded)
    );
    assert_eq!(store.graph_task_status(done, 1), None);
    store.close();

    let (store, found) = Store::open(&path, small).unwrap();
    let mut graphs = found.graphs;
    graphs.sort_by_key(|g| g.name().map(str::to_string));
    assert_eq!(graphs[0].name(), Some("grown"));
    assert_eq!(graphs[0].extras, extras);
    assert_eq!(graphs[1].extras, GraphExtrasRow::default());
    // Both finish; retention keeps one finished graph, the newest.
    for key in [plain, grown] {
        store.journal(|| Op::GraphFinished { key });
    }
    store.sync().await.unwrap();
    let db = store.shared.as_ref().unwrap().as_redb().unwrap().db.read();
    let txn = db.as_ref().unwrap().begin_read().unwrap();
    let table = txn.open_table(graphs::GRAPH_EXTRAS).unwrap();
    assert!(table.get(&grown).unwrap().is_some(), "kept with its graph");
    drop((table, txn, db));
    assert_eq!(store.graph_task_status(done, 0), None, "retained away");
    store.close();
}
