//! The message trace: every pattern actor's messages, a request followed
//! through every actor to its runs, the exports parsed back, the ring's
//! bounds, what a `tracing` subscriber sees, and `TRACEPARENT`.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use taskorch::graph::{GraphTask, TaskGraph};
use taskorch::trace::{EventKind, Outcome, TraceEvent};
use taskorch::{Config, Error, PoolSpec, ScheduleSpec, Task, Trigger};

use crate::common::*;

fn has(events: &[TraceEvent], actor: &str, name: &str) -> bool {
    events
        .iter()
        .any(|e| e.actor() == actor && e.name() == name)
}

#[tokio::test]
async fn every_pattern_actor_records_the_messages_it_handles() {
    let rt = start_runtime().await;
    rt.register_action("noop", |_| async { Ok(json!(null)) });
    let noop = || Task::action("noop", json!(null));

    assert!(rt.run(Task::command("true")).await.unwrap().success());
    let stream = rt.stream(Task::command("echo").arg("x")).await.unwrap();
    stream.wait().await.unwrap();
    rt.run_batch(vec![noop(), noop()], 2).await;
    let id = rt.launch(noop()).await.unwrap();
    rt.wait(id).await.unwrap();
    let schedule = rt
        .schedule(ScheduleSpec::new(
            "beat",
            Trigger::every(Duration::from_millis(20)),
            noop(),
        ))
        .await
        .unwrap();
    assert!(wait_until(Duration::from_secs(10), || schedule.info().runs >= 1).await);
    schedule.disable().await.unwrap();
    let pool = rt
        .pool(PoolSpec::command("echo", "cat").workers(1))
        .await
        .unwrap();
    assert_eq!(pool.request("hi").await.unwrap(), "hi");
    pool.resize(2).await.unwrap();
    pool.resize(1).await.unwrap();
    rt.system_status().await.unwrap();

    let expected = [
        ("executor", "Run"),
        ("executor", "Stream"),
        ("executor", "Status"),
        ("batch", "Start"),
        ("batch", "Status"),
        ("launcher", "Launch"),
        ("scheduler", "Add"),
        ("scheduler", "Tick"),
        ("scheduler", "SetEnabled"),
        ("pool_keeper", "Open"),
        ("pool_keeper", "Resize"),
        ("pool_worker", "Request"),
        ("pool_worker", "Retire"),
        ("supervisor", "Status"),
    ];
    // The worker handles `Retire` after the keeper answered the resize.
    assert!(
        wait_until(Duration::from_secs(10), || {
            let trace = rt.trace();
            expected.iter().all(|(a, n)| has(trace.events(), a, n))
        })
        .await,
        "missing: {:?}",
        expected
            .iter()
            .filter(|(a, n)| !has(rt.trace().events(), a, n))
            .collect::<Vec<_>>()
    );
    let trace = rt.trace();
    for actor in ["executor", "batch", "launcher", "scheduler"] {
        assert!(
            trace
                .for_actor(actor)
                .events()
                .iter()
                .any(|e| e.kind() == EventKind::Run),
            "{actor} has run events"
        );
    }
    for e in trace.of_kind(EventKind::Message).events() {
        assert_eq!(e.outcome(), Outcome::Ok, "{e:?}");
        assert!(e.started() <= e.ended());
        // Requests carry their send time; the runtime's own messages don't.
        match e.name() {
            "Run" | "Stream" | "Start" | "Launch" | "Add" | "SetEnabled" | "Open" | "Resize" => {
                assert!(e.queue_time().is_some(), "{e:?}");
                assert!(e.correlation().is_some(), "{e:?}");
            }
            "Tick" | "Status" | "Retire" => assert_eq!(e.queue_time(), None, "{e:?}"),
            _ => {}
        }
    }
    let seqs: Vec<u64> = trace.events().iter().map(TraceEvent::seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "recording order");
}

#[tokio::test]
async fn a_run_is_followed_from_its_request_to_its_end() {
    let rt = start_runtime().await;
    let out = rt.run(Task::shell("echo hi")).await.unwrap();
    let log = rt.trace().for_run(out.run_id);
    let [message, run] = log.events() else {
        panic!("the request and its run: {log:?}");
    };
    assert_eq!((message.actor(), message.name()), ("executor", "Run"));
    assert_eq!(message.kind(), EventKind::Message);
    assert_eq!((run.actor(), run.kind()), ("executor", EventKind::Run));
    assert_eq!(run.run_id(), Some(out.run_id));
    assert_eq!(run.outcome(), Outcome::Ok);
    assert!(message.correlation().is_some());
    assert_eq!(message.correlation(), run.correlation());
    // The run was started by the handler: it entered the runner after the
    // message's handling began.
    assert!(message.enqueued().unwrap() <= message.started());
    assert!(message.started() <= run.enqueued().unwrap());
    assert!(run.enqueued().unwrap() <= run.started());
    assert!(run.handling_time() > Duration::ZERO);
}

#[tokio::test]
async fn a_batch_request_follows_every_run_it_starts() {
    let rt = start_runtime().await;
    rt.register_action("noop", |_| async { Ok(json!(null)) });
    let results = rt
        .run_batch(
            (0..3).map(|_| Task::action("noop", json!(null))).collect(),
            2,
        )
        .await;
    let trace = rt.trace();
    let mut requests = Vec::new();
    for out in results {
        let log = trace.for_run(out.unwrap().run_id);
        assert!(has(log.events(), "batch", "Start"), "{log:?}");
        let run = log.of_kind(EventKind::Run);
        assert_eq!(run.len(), 1);
        requests.push(run.events()[0].correlation().unwrap());
    }
    requests.dedup();
    assert_eq!(
        requests.len(),
        1,
        "one request, one correlation id for all its runs"
    );
}

#[tokio::test]
async fn a_graph_request_follows_every_task_it_runs() {
    let rt = start_runtime().await;
    rt.register_action("noop", |_| async { Ok(json!(null)) });
    let mut graph = TaskGraph::new();
    let first = graph.add(GraphTask::new("first", Task::action("noop", json!(null))));
    graph.add(GraphTask::new("second", Task::action("noop", json!(null))).after(first));
    graph.add(GraphTask::new("third", Task::action("noop", json!(null))).after(first));
    let report = rt.graphs().run(graph).await.unwrap();
    assert!(report.success(), "{report:#?}");
    let trace = rt.trace();
    let submitted = trace
        .for_actor("batch")
        .events()
        .iter()
        .find(|e| e.name() == "StartGraph")
        .and_then(|e| e.correlation())
        .expect("the StartGraph message is traced with its request");
    for task in &report.tasks {
        let run = trace.for_run(task.run_id.unwrap()).of_kind(EventKind::Run);
        assert_eq!(run.len(), 1, "{}", task.name);
        assert_eq!(
            run.events()[0].correlation(),
            Some(submitted),
            "{}",
            task.name
        );
    }
}

#[tokio::test]
async fn the_chrome_trace_and_json_lines_parse_back() {
    let rt = start_runtime().await;
    rt.register_action("noop", |_| async { Ok(json!(null)) });
    rt.run(Task::command("true")).await.unwrap();
    rt.run_batch((0..6).map(|_| Task::shell("sleep 0.01")).collect(), 3)
        .await;
    let id = rt.launch(Task::action("noop", json!(null))).await.unwrap();
    rt.wait(id).await.unwrap();
    let trace = rt.trace();

    let mut chrome = Vec::new();
    trace.write_chrome_trace(&mut chrome).unwrap();
    let doc: Value = serde_json::from_slice(&chrome).expect("valid JSON");
    let events = doc["traceEvents"].as_array().expect("traceEvents array");
    assert!(
        events
            .iter()
            .any(|e| e["ph"] == "M" && e["name"] == "process_name")
    );
    let tracks: HashMap<u64, String> = events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
        .map(|e| {
            let tid = e["tid"].as_u64().expect("tid");
            (tid, e["args"]["name"].as_str().expect("name").to_string())
        })
        .collect();
    for name in [
        "executor",
        "batch",
        "launcher",
        "executor runs",
        "batch runs",
    ] {
        assert!(
            tracks.values().any(|t| t == name),
            "track {name}: {tracks:?}"
        );
    }
    let mut busy: HashMap<u64, Vec<(f64, f64)>> = HashMap::new();
    let mut slices = 0;
    for e in events.iter().filter(|e| e["ph"] == "X") {
        slices += 1;
        assert!(e["name"].is_string() && e["cat"].is_string(), "{e}");
        assert_eq!(e["pid"], 1);
        let tid = e["tid"].as_u64().expect("tid");
        assert!(tracks.contains_key(&tid), "slice on an unnamed track: {e}");
        let ts = e["ts"].as_f64().expect("ts in microseconds");
        let dur = e["dur"].as_f64().expect("dur in microseconds");
        assert!(ts >= 0.0 && dur >= 0.0, "{e}");
        busy.entry(tid).or_default().push((ts, ts + dur));
    }
    assert!(
        slices >= trace.len(),
        "one complete event per trace event at least"
    );
    for (tid, spans) in &mut busy {
        spans.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert!(
            spans.windows(2).all(|w| w[0].1 <= w[1].0 + 1e-3),
            "slices overlap on track {}: {spans:?}",
            tracks[tid]
        );
    }
    // Six runs, three at a time: the batch's runs need lanes.
    assert!(tracks.values().any(|t| t == "batch runs (2)"), "{tracks:?}");

    let mut lines = Vec::new();
    trace.write_json_lines(&mut lines).unwrap();
    let parsed: Vec<Value> = String::from_utf8(lines)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(parsed.len(), trace.len());
    for (line, event) in parsed.iter().zip(trace.events()) {
        assert_eq!(line["seq"], event.seq());
        assert_eq!(line["actor"], event.actor());
        assert_eq!(line["name"], event.name());
        assert!(line["handling_ns"].is_u64());
    }
    let run = parsed.iter().find(|l| l["kind"] == "run").unwrap();
    assert!(run["run_id"].is_string() && run["queue_ns"].is_u64());
}

#[tokio::test]
async fn a_small_ring_keeps_the_newest_events_and_zero_keeps_none() {
    let rt = start_with(Config {
        trace_capacity: 16,
        ..fast_config()
    })
    .await;
    rt.register_action("noop", |_| async { Ok(json!(null)) });
    for _ in 0..20 {
        rt.run(Task::action("noop", json!(null))).await.unwrap();
    }
    let trace = rt.trace();
    assert_eq!(trace.len(), 16);
    assert!(
        trace.dropped() >= 24,
        "20 runs are 40 events: {}",
        trace.dropped()
    );
    let seqs: Vec<u64> = trace.events().iter().map(TraceEvent::seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "the newest, in order: {seqs:?}"
    );
    rt.observe().clear_trace();
    assert!(rt.trace().is_empty());

    let off = start_with(Config {
        trace_capacity: 0,
        ..fast_config()
    })
    .await;
    off.run(Task::command("true")).await.unwrap();
    assert!(off.trace().is_empty());
    assert_eq!(off.trace().dropped(), 0);
}

#[tokio::test]
async fn a_trace_capacity_over_the_maximum_is_invalid_config() {
    let err = taskorch::Orchestrator::start(Config {
        trace_capacity: (1 << 24) + 1,
        ..fast_config()
    })
    .await
    .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidConfig(m) if m.contains("trace_capacity")),
        "{err:?}"
    );
}
