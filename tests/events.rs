//! The event stream: what a run, a schedule and a halt emit, in order, in
//! their JSON form; lagging subscribers; correlation ids.

use std::time::Duration;

use serde_json::{Value, json};
use taskorch::events::{Event, EventBody, EventItem, EventStream};
use taskorch::{RunStatus, Task};

use crate::common::{fast_config, start_runtime, start_with};

/// Collect events until `done` says the last one is there (bounded).
async fn collect_until(stream: &mut EventStream, done: impl Fn(&Event) -> bool) -> Vec<Event> {
    let mut seen = Vec::new();
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(item) = stream.next().await {
            if let EventItem::Event(event) = item {
                let last = done(&event);
                seen.push(event);
                if last {
                    return;
                }
            }
        }
    })
    .await;
    assert!(found.is_ok(), "expected event never came; saw {seen:#?}");
    seen
}

fn kind(event: &Event) -> String {
    serde_json::to_value(event).unwrap()["type"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_run_emits_queued_started_output_finished_in_order() {
    let rt = start_runtime().await;
    let mut events = rt.observe().subscribe();
    let out = rt.run(Task::shell("echo one; echo two >&2")).await.unwrap();
    let id = out.run_id;
    let seen = collect_until(
        &mut events,
        |e| matches!(&e.body, EventBody::RunFinished { run_id, .. } if *run_id == id),
    )
    .await;
    let mine: Vec<&Event> = seen
        .iter()
        .filter(|e| serde_json::to_value(e).unwrap()["run_id"] == json!(id.to_string()))
        .collect();
    let kinds: Vec<String> = mine.iter().map(|e| kind(e)).collect();
    assert_eq!(kinds[0], "run_queued");
    assert_eq!(kinds[1], "run_started");
    assert_eq!(kinds.last().unwrap(), "run_finished");
    let lines: Vec<Value> = mine
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .filter(|v| v["type"] == "run_output")
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l["text"] == "one" && l["stream"] == "stdout")
    );
    assert!(
        lines
            .iter()
            .any(|l| l["text"] == "two" && l["stream"] == "stderr")
    );
    // seq rises strictly in emission order.
    assert!(seen.windows(2).all(|w| w[0].seq < w[1].seq));
    // Later events of a run carry the request's correlation id.
    let finished = serde_json::to_value(mine.last().unwrap()).unwrap();
    assert_eq!(finished["status"], "succeeded");
    assert_eq!(finished["exit_code"], 0);
    assert_eq!(finished["schema"], 1);
    assert_eq!(finished["correlation"].as_str().unwrap().len(), 32);
    rt.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_failed_run_reports_its_error_and_status() {
    let rt = start_runtime().await;
    let mut events = rt.observe().subscribe();
    let err = rt
        .run(Task::shell("sleep 5").timeout(Duration::from_millis(50)))
        .await
        .unwrap_err();
    assert!(matches!(err, taskorch::Error::TimedOut { .. }));
    let seen = collect_until(&mut events, |e| {
        matches!(&e.body, EventBody::RunFinished { .. })
    })
    .await;
    let Some(EventBody::RunFinished { status, error, .. }) = seen.last().map(|e| &e.body) else {
        unreachable!()
    };
    assert_eq!(*status, RunStatus::TimedOut);
    assert!(error.as_deref().unwrap().contains("timed out"));
    rt.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_slow_subscriber_lags_without_stalling_the_runtime() {
    let rt = start_with(taskorch::Config {
        event_capacity: 8,
        ..fast_config()
    })
    .await;
    rt.register_action("noop", |_| async { Ok(json!(null)) });
    let mut slow = rt.observe().subscribe();
    // Nobody reads `slow` while 50 runs (150 events: queued, started,
    // finished) go through.
    for _ in 0..50 {
        rt.run(Task::action("noop", json!(null))).await.unwrap();
    }
    let Some(EventItem::Lagged(lost)) = slow.next().await else {
        panic!("expected a lag marker first");
    };
    assert_eq!(lost, 150 - 8, "all but the newest 8 are lost");
    // The rest is the newest 8, in order.
    let mut rest = Vec::new();
    while let Some(EventItem::Event(e)) = slow.try_next() {
        rest.push(e.seq);
    }
    assert_eq!(rest.len(), 8);
    assert!(rest.windows(2).all(|w| w[1] == w[0] + 1));
    rt.shutdown().await.unwrap();
}

#[tokio::test]
async fn schedules_emit_fired_events() {
    let rt = start_runtime().await;
    rt.register_action("noop", |_| async { Ok(json!(null)) });
    let mut events = rt.observe().subscribe();
    let _schedule = rt
        .schedule(taskorch::ScheduleSpec::new(
            "tick",
            taskorch::Trigger::every(Duration::from_millis(20)),
            Task::action("noop", json!(null)),
        ))
        .await
        .unwrap();
    let seen = collect_until(
        &mut events,
        |e| matches!(&e.body, EventBody::ScheduleFired { schedule, .. } if schedule == "tick"),
    )
    .await;
    let json = serde_json::to_value(seen.last().unwrap()).unwrap();
    assert_eq!(json["type"], "schedule_fired");
    assert!(json["run_id"].is_string());
    rt.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seq_has_no_gap_and_no_swap_with_many_runs_at_once() {
    let rt = start_with(taskorch::Config {
        // Room for every event below: this subscriber never lags, so it
        // must see every number, in order.
        event_capacity: 1 << 16,
        ..fast_config()
    })
    .await;
    rt.register_action("noop", |_| async { Ok(json!(null)) });
    let mut stream = rt.observe().subscribe();
    let reader = tokio::spawn(async move {
        let mut seqs = Vec::new();
        while let Some(item) = stream.next().await {
            let EventItem::Event(event) = item else {
                panic!("a subscriber with room for everything lagged: {item:?}");
            };
            let done = matches!(event.body, EventBody::LimitExceeded { .. });
            seqs.push(event.seq);
            if done {
                break;
            }
        }
        seqs
    });
    // 8 callers at once, each running 300 actions (3 events per run),
    // emitting from the runtime's 4 threads.
    let callers: Vec<_> = (0..8)
        .map(|_| {
            let orch = rt.orch.clone();
            tokio::spawn(async move {
                for _ in 0..300 {
                    orch.run(Task::action("noop", json!(null))).await.unwrap();
                }
            })
        })
        .collect();
    for caller in callers {
        caller.await.unwrap();
    }
    // A last event to tell the reader it has seen everything.
    let _ = rt.guard().check_limit("end", 1.0, 0.0, false);
    let seqs = tokio::time::timeout(Duration::from_secs(30), reader)
        .await
        .expect("the reader sees the last event")
        .unwrap();
    assert!(seqs.len() > 8 * 300 * 3, "{} events", seqs.len());
    let first = seqs[0];
    for (i, seq) in seqs.iter().enumerate() {
        assert_eq!(
            *seq,
            first + i as u64,
            "seq out of order or with a gap at {i}"
        );
    }
}

#[tokio::test]
async fn a_slow_subscriber_lags_by_bytes_before_it_pins_more_than_the_bound() {
    let rt = start_with(taskorch::Config {
        // Room for many events, but only a few lines' worth of bytes.
        event_capacity: 4_096,
        event_capacity_bytes: 32 << 10,
        ..fast_config()
    })
    .await;
    let mut slow = rt.observe().subscribe();
    // 64 lines of 4 KiB: 256 KiB of output events nobody reads.
    let out = rt
        .run(Task::shell(
            "i=0; while [ $i -lt 64 ]; do printf '%04096d\\n' $i; i=$((i+1)); done",
        ))
        .await
        .unwrap();
    assert!(out.success());
    let Some(EventItem::Lagged(lost)) = slow.next().await else {
        panic!("expected a lag marker first");
    };
    assert!(lost > 0);
    // What is left fits in the bound (plus the newest event), in order,
    // and ends with the run's end.
    let mut rest = Vec::new();
    let mut bytes = 0;
    while let Some(EventItem::Event(e)) = slow.try_next() {
        bytes += e.approx_bytes();
        rest.push(e);
    }
    assert!(bytes <= (32 << 10) + 4_096 + 512, "{bytes} bytes kept");
    assert!(rest.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    assert!(matches!(
        rest.last().map(|e| &e.body),
        Some(EventBody::RunFinished { .. })
    ));
    assert_eq!(rest[0].seq, lost, "the marker counts every lost event");
}
