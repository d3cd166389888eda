//! Loss is never silent: a run whose captured output was cut at
//! `max_output` says so, with the bytes dropped, on every surface that
//! returns its output — `Output`, `RunInfo` (live, after a restart, and in
//! history), and the `run_finished` event.

use std::time::Duration;

use taskorch::RunQuery;
use taskorch::events::{EventBody, EventItem};
use taskorch::{Orchestrator, Task};

use crate::common::{fast_config, start_runtime};

/// 100 bytes on stdout and 50 on stderr, captured at most 10 each.
fn chatty() -> Task {
    Task::shell("head -c 100 /dev/zero; head -c 50 /dev/zero >&2").max_output(10)
}

#[tokio::test]
async fn the_run_finished_event_and_run_info_carry_the_dropped_bytes() {
    let rt = start_runtime().await;
    let mut events = rt.observe().subscribe();
    let out = rt.run(chatty()).await.unwrap();
    assert_eq!((out.stdout_dropped, out.stderr_dropped), (90, 40));
    assert!(out.stdout_truncated && out.stderr_truncated);

    let finished = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(item) = events.next().await {
            if let EventItem::Event(event) = item
                && let EventBody::RunFinished { run_id, .. } = &event.body
                && *run_id == out.run_id
            {
                return event;
            }
        }
        panic!("the event stream ended")
    })
    .await
    .expect("a run_finished event");
    let json = serde_json::to_value(&finished).unwrap();
    assert_eq!(json["stdout_truncated"], true);
    assert_eq!(json["stderr_truncated"], true);
    assert_eq!(json["stdout_dropped"], 90);
    assert_eq!(json["stderr_dropped"], 40);

    let info = rt.observe().find_run(out.run_id).unwrap();
    assert_eq!((info.stdout_dropped, info.stderr_dropped), (90, 40));
    assert!(info.output_truncated());
    let whole = rt.run(Task::shell("echo short")).await.unwrap();
    let info = rt.observe().find_run(whole.run_id).unwrap();
    assert_eq!((info.stdout_dropped, info.stderr_dropped), (0, 0));
    assert!(!info.output_truncated());
}

#[tokio::test]
async fn a_stored_run_still_says_what_it_dropped_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let orch = Orchestrator::start(fast_config().store(&path))
        .await
        .unwrap();
    let id = orch.run(chatty()).await.unwrap().run_id;
    orch.shutdown().await.unwrap();
    drop(orch);

    let orch = Orchestrator::start(fast_config().store(&path))
        .await
        .unwrap();
    let info = orch.observe().find_run(id).unwrap();
    assert_eq!((info.stdout_dropped, info.stderr_dropped), (90, 40));
    let listed = orch.observe().history(&RunQuery::new()).unwrap();
    let row = listed.iter().find(|r| r.id == id).unwrap();
    assert_eq!((row.stdout_dropped, row.stderr_dropped), (90, 40));
    let again = orch.wait(id).await.unwrap();
    assert_eq!((again.stdout_dropped, again.stderr_dropped), (90, 40));
    orch.shutdown().await.unwrap();
}

/// `Task::tee_output` keeps every byte on disk while the capture stays cut
/// at `max_output`; every attempt appends; a file that cannot be opened
/// fails the run before anything is spawned.
#[tokio::test]
async fn tee_output_keeps_every_byte_beside_a_cut_capture() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let (out_file, err_file) = (dir.path().join("out"), dir.path().join("err"));
    let out = rt
        .run(
            Task::shell("printf 'a\\r\\n\\0b'; head -c 100000 /dev/zero; echo oops >&2; exit 3")
                .max_output(10)
                .retries(1)
                .backoff(taskorch::Backoff::fixed(Duration::from_millis(1)))
                .tee_output(&out_file, &err_file),
        )
        .await
        .unwrap();
    assert_eq!(out.attempts, 2);
    assert!(out.stdout_truncated);
    assert_eq!(out.stdout.len(), 10);
    let one: Vec<u8> = b"a\r\n\0b".iter().copied().chain([0u8; 100_000]).collect();
    let copied = std::fs::read(&out_file).unwrap();
    assert_eq!(copied.len(), 2 * one.len());
    assert!(copied == [one.clone(), one].concat(), "the copy changed");
    assert_eq!(std::fs::read(&err_file).unwrap(), b"oops\noops\n");

    let missing = dir.path().join("no/such/dir/out");
    let refused = rt
        .run(Task::command("true").tee_output(&missing, &err_file))
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("no/such/dir/out"), "{refused}");
}
