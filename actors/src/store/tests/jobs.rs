//! The `jobs` table: the row's codec and version byte, rows written with
//! the run's `Queued` record and read back at recovery and by
//! `stored_run`, removed by retention, and files from before the table.

use std::time::{Duration, UNIX_EPOCH};

use redb::{ReadableDatabase, ReadableTableMetadata};

use super::super::records::{DecodeFailure, JOB_VERSION, JobRow};
use super::super::*;
use super::{
    assert_start_refuses_newer, finish, five_runs_under_a_limit_of_two, limits, queued,
    write_active_run,
};
use crate::priority::Priority;
use crate::run::RunStatus;
use crate::task::{JobOptions, Start, Task};

fn options() -> JobOptions {
    let task = Task::command("true")
        .key("training_session_123")
        .label("bot", "b-7")
        .label("strategy", "mean-revert")
        .priority(Priority::Critical)
        .queue("gpu")
        .start_after(Duration::from_secs(90));
    task.job().clone()
}

fn row(rerun_of: Option<RunId>) -> Box<JobRow> {
    let due = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
    Box::new(JobRow::new(&options(), Some(due), rerun_of))
}

#[test]
fn job_rows_round_trip_and_a_newer_version_is_refused() {
    let old = RunId::new();
    let row = row(Some(old));
    let bytes = row.encode();
    assert_eq!(bytes[0], JOB_VERSION);
    let back = JobRow::decode(&bytes).unwrap();
    assert_eq!(back, *row);
    assert_eq!(back.options(), options());
    assert_eq!(
        back.due(),
        Some(UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456))
    );
    assert_eq!(back.rerun_of(), Some(old));
    let at = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let at_row = JobRow::new(&Task::command("x").start_at(at).job().clone(), None, None);
    assert_eq!(
        JobRow::decode(&at_row.encode()).unwrap().options().start,
        Some(Start::At(at))
    );

    let mut newer = bytes.clone();
    newer[0] = JOB_VERSION + 1;
    assert_eq!(
        JobRow::decode(&newer),
        Err(DecodeFailure::Newer(JOB_VERSION + 1))
    );
    assert!(matches!(
        JobRow::decode(&bytes[..3]),
        Err(DecodeFailure::Malformed(_))
    ));
}

#[tokio::test]
async fn job_options_survive_a_restart_for_queued_and_finished_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let (store, _) = Store::open(&path, limits()).unwrap();
    let (waiting, done, plain, old) = (RunId::new(), RunId::new(), RunId::new(), RunId::new());
    store.journal(|| Op::Queued {
        id: waiting,
        row: queued(Some(Task::command("true"))),
        job: Some(row(Some(old))),
    });
    store.journal(|| Op::Queued {
        id: done,
        row: queued(Some(Task::command("true"))),
        job: Some(row(None)),
    });
    store.journal(|| Op::Finished {
        id: done,
        end: finish(RunStatus::Succeeded, None),
    });
    store.journal(|| Op::Queued {
        id: plain,
        row: queued(Some(Task::command("true"))),
        job: None,
    });
    store.sync().await.unwrap();
    // No close: as after kill -9.
    drop(store);

    let (store, found) = Store::open(&path, limits()).unwrap();
    let mut queued = found.queued.clone();
    queued.sort_by_key(|run| run.id != waiting);
    assert_eq!(queued.len(), 2);
    let resumed = &queued[0];
    assert_eq!(resumed.id, waiting);
    assert_eq!(resumed.job, options());
    assert_eq!(resumed.task.job(), &options(), "the task carries them too");
    assert_eq!(resumed.due, row(None).due());
    assert_eq!(resumed.rerun_of, Some(old));
    assert_eq!(queued[1].id, plain);
    assert!(queued[1].job.is_empty() && queued[1].due.is_none());

    let stored = store.stored_run(done).unwrap();
    assert_eq!(stored.job, options());
    assert_eq!(stored.task.unwrap().job(), &options());
    assert_eq!(stored.due, row(None).due());
    assert_eq!(stored.rerun_of, None);
    assert!(store.stored_run(plain).unwrap().job.is_empty());
    store.close();
}

#[tokio::test]
async fn retention_removes_a_runs_job_options_with_it() {
    let (_dir, path, store, ids) = five_runs_under_a_limit_of_two(|| row(None)).await;
    let kept: Vec<RunId> = ids
        .iter()
        .copied()
        .filter(|&id| store.job(id).is_some())
        .collect();
    assert_eq!(kept, ids[3..], "only the kept runs keep their options");
    store.close();
    let db = redb::Database::create(&path).unwrap();
    let txn = db.begin_read().unwrap();
    assert_eq!(txn.open_table(JOBS).unwrap().len().unwrap(), 2);
}

#[test]
fn a_newer_job_row_fails_the_start_naming_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let (store, _) = Store::open(&path, limits()).unwrap();
    store.close();
    let id = RunId::new();
    let run = records::encode(&*queued(Some(Task::command("true"))));
    write_active_run(&path, id, &run, |txn| {
        let mut job = row(None).encode();
        job[0] = JOB_VERSION + 1;
        txn.open_table(JOBS)
            .unwrap()
            .insert(id.as_bytes(), job.as_slice())
            .unwrap();
    });
    assert_start_refuses_newer(&path, id);
}

#[tokio::test]
async fn a_file_without_the_jobs_table_reads_as_no_options() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let (store, _) = Store::open(&path, limits()).unwrap();
    let (waiting, done) = (RunId::new(), RunId::new());
    store.journal(|| Op::Queued {
        id: waiting,
        row: queued(Some(Task::command("true"))),
        job: None,
    });
    store.journal(|| Op::Queued {
        id: done,
        row: queued(Some(Task::command("true"))),
        job: None,
    });
    store.journal(|| Op::Finished {
        id: done,
        end: finish(RunStatus::Succeeded, None),
    });
    store.close();
    // What a release before job options wrote: no `jobs` table at all.
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        assert!(txn.delete_table(JOBS).unwrap(), "a new file has the table");
        txn.commit().unwrap();
        let read = db.begin_read().unwrap();
        assert!(matches!(
            read.open_table(JOBS),
            Err(redb::TableError::TableDoesNotExist(_))
        ));
    }
    // Read only: the table stays absent and nothing is refused.
    let reader = Store::open_read_only(&path).unwrap();
    let stored = reader.stored_run(done).unwrap();
    assert!(stored.job.is_empty() && stored.due.is_none() && stored.rerun_of.is_none());
    reader.close();

    let (store, found) = Store::open(&path, limits()).unwrap();
    assert_eq!(found.queued.len(), 1);
    assert_eq!(found.queued[0].id, waiting);
    assert!(found.queued[0].job.is_empty());
    assert!(store.job(done).is_none());
    // The first write creates the table; a run with options is kept.
    let keyed = RunId::new();
    store.journal(|| Op::Queued {
        id: keyed,
        row: queued(None),
        job: Some(row(None)),
    });
    store.sync().await.unwrap();
    assert_eq!(store.job(keyed).unwrap().options(), options());
    store.close();
}
