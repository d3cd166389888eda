//! A run's job options in the registry: set at admission, read by the
//! record's accessors, journaled with the run, and restored after a
//! restart (resumed and read back from history).

use std::time::{Duration, UNIX_EPOCH};

use super::super::*;
use crate::priority::Priority;
use crate::store::StoreLimits;
use crate::task::Task;

fn limits() -> StoreLimits {
    StoreLimits {
        history_limit: 100,
        output_budget: 1 << 20,
        kill_grace: Duration::from_millis(100),
    }
}

#[test]
fn a_run_without_options_reads_the_defaults() {
    let reg = Registry::new(Retention::default());
    let record = reg.admit(Admission::new("plain", Pattern::Simple));
    assert!(record.job().is_none());
    assert_eq!(record.key(), None);
    assert!(record.labels().is_empty());
    assert_eq!(record.priority(), Priority::Normal);
    assert_eq!(
        (record.queue(), record.due(), record.rerun_of()),
        (None, None, None)
    );
}

#[tokio::test]
async fn options_are_kept_journaled_and_restored_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let task = Task::command("true")
        .key("order-42")
        .label("bot", "b-7")
        .priority(Priority::High)
        .queue("slow")
        .start_after(Duration::from_secs(3600));
    let shared = std::sync::Arc::new(task.clone());
    let old = RunId::new();
    let accepted = UNIX_EPOCH + Duration::from_secs(1_750_000_000);
    let (waiting, finished) = {
        let (store, _) = crate::store::Store::open(&path, limits()).unwrap();
        let reg = Registry::with_store(Retention::default(), store.clone());
        let mut admission = Admission::new("keyed", Pattern::FireAndForget)
            .journal(Journal::WithTask(&shared))
            .job(task.job())
            .rerun_of(old);
        admission.queued = accepted;
        let waiting = reg.admit(admission);
        assert_eq!(waiting.key(), Some("order-42"));
        assert_eq!(waiting.labels()["bot"], "b-7");
        assert_eq!(waiting.priority(), Priority::High);
        assert_eq!(waiting.queue(), Some("slow"));
        assert_eq!(waiting.due(), Some(accepted + Duration::from_secs(3600)));
        assert_eq!(waiting.rerun_of(), Some(old));
        let finished = reg.admit(
            Admission::new("labelled", Pattern::FireAndForget)
                .journal(Journal::WithTask(&shared))
                .job(Task::command("x").label("k", "v").job()),
        );
        let id = finished.id();
        reg.finish(&finished, Ok(Output::empty(id))).await.unwrap();
        waiting.durable().await.unwrap();
        finished.durable().await.unwrap();
        store.close();
        (waiting.id(), id)
    };

    let (store, found) = crate::store::Store::open(&path, limits()).unwrap();
    assert_eq!(found.queued.len(), 1);
    let reg = Registry::with_store(Retention::default(), store.clone());
    let resumed = reg.admit(Admission::resumed(&found.queued[0]));
    assert_eq!(resumed.id(), waiting);
    assert_eq!(resumed.job(), Some(task.job()));
    assert_eq!(
        resumed.due(),
        Some(accepted + Duration::from_secs(3600)),
        "the due time is the one fixed at acceptance, not recomputed"
    );
    assert_eq!(resumed.rerun_of(), Some(old));

    // A finished run read back from the store has its options too.
    let back = reg.get(finished).unwrap();
    assert_eq!(back.labels().get("k").map(String::as_str), Some("v"));
    assert_eq!(back.due(), None);
    store.close();
}
