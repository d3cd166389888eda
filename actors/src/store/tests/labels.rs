//! The `labels` index and the keys read back at a restart: entries
//! written with a run's job row, removed with it by retention, and the
//! keyed runs `keyed_since` hands the registry.

use std::time::{Duration, SystemTime};

use redb::{ReadableDatabase, ReadableTableMetadata};

use super::super::records::JobRow;
use super::super::*;
use super::{finish, five_runs_under_a_limit_of_two, limits, queued};
use crate::run::{RunQuery, RunStatus};
use crate::task::Task;

fn labelled(key: Option<&str>) -> Box<JobRow> {
    let mut task = Task::command("true")
        .label("bot", "b-7")
        .label("desk", "fx");
    if let Some(key) = key {
        task = task.key(key);
    }
    Box::new(JobRow::new(task.job(), None, None))
}

#[tokio::test]
async fn retention_removes_a_runs_label_entries_with_it() {
    let (_dir, path, store, ids) = five_runs_under_a_limit_of_two(|| labelled(None)).await;
    let found = store
        .history(&RunQuery::new().label("desk", "fx").label("bot", "b-7"))
        .unwrap();
    let found: Vec<RunId> = found.iter().map(|info| info.id).collect();
    assert_eq!(found, vec![ids[4], ids[3]], "newest first, kept runs only");
    store.close();
    let db = redb::Database::create(&path).unwrap();
    let txn = db.begin_read().unwrap();
    assert_eq!(
        txn.open_table(LABELS).unwrap().len().unwrap(),
        4,
        "two labels for each of the two kept runs"
    );
}

#[tokio::test]
async fn keyed_since_lists_live_and_recent_keyed_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let (store, _) = Store::open(&path, limits()).unwrap();
    let (live, done, plain) = (RunId::new(), RunId::new(), RunId::new());
    store.journal(|| Op::Queued {
        id: live,
        row: queued(None),
        job: Some(labelled(Some("live-key"))),
    });
    store.journal(|| Op::Queued {
        id: done,
        row: queued(None),
        job: Some(labelled(Some("done-key"))),
    });
    store.journal(|| Op::Finished {
        id: done,
        end: finish(RunStatus::Succeeded, None),
    });
    store.journal(|| Op::Queued {
        id: plain,
        row: queued(None),
        job: Some(labelled(None)),
    });
    store.sync().await.unwrap();
    let mut recent = store.keyed_since(SystemTime::UNIX_EPOCH);
    recent.sort_by_key(|(key, _, _)| key.clone());
    assert_eq!(recent.len(), 2, "{recent:?}");
    assert_eq!((recent[0].0.as_str(), recent[0].1), ("done-key", done));
    assert!(recent[0].2.is_some());
    assert_eq!(
        (recent[1].0.as_str(), recent[1].1, recent[1].2),
        ("live-key", live, None)
    );
    // Finished before `since`: only the live run is left.
    let later = store.keyed_since(SystemTime::now() + Duration::from_secs(3600));
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].1, live);
    store.close();
}
