//! The ring, the filters and the exports, on hand-made events.

use std::collections::HashMap;
use std::num::NonZeroU64;

use serde_json::Value;

use super::*;

fn event(
    actor: &'static str,
    name: &'static str,
    kind: EventKind,
    times: (u64, u64, u64),
) -> TraceEvent {
    TraceEvent {
        seq: 0,
        actor,
        name,
        kind,
        outcome: Outcome::Ok,
        run: None,
        correlation: None,
        enqueued: Some(times.0),
        started: times.1,
        ended: times.2,
    }
}

fn message(n: u64) -> TraceEvent {
    event("executor", "Run", EventKind::Message, (n, n + 1, n + 2))
}

#[test]
fn the_ring_keeps_the_newest_events_and_counts_the_rest() {
    let recorder = TraceRecorder::new(4);
    for n in 0..10 {
        recorder.push(message(n * 10));
    }
    let log = recorder.snapshot();
    assert_eq!(log.len(), 4);
    assert_eq!(log.dropped(), 6);
    let seqs: Vec<u64> = log.events().iter().map(TraceEvent::seq).collect();
    assert_eq!(
        seqs,
        [6, 7, 8, 9],
        "oldest first, numbered in recording order"
    );
    assert_eq!(recorder.recorded(), 10);
}

#[test]
fn recording_never_grows_the_ring() {
    // Events are `Copy` (no heap of their own) ...
    fn copy<T: Copy>() {}
    copy::<TraceEvent>();
    // ... and the ring is reserved whole: writing past its end overwrites
    // in place instead of reallocating.
    let recorder = TraceRecorder::new(64);
    let (ptr, cap) = {
        let ring = recorder.ring.lock();
        (ring.events.as_ptr(), ring.events.capacity())
    };
    for n in 0..1_000 {
        recorder.push(message(n));
    }
    let ring = recorder.ring.lock();
    assert_eq!(ring.events.as_ptr(), ptr);
    assert_eq!(ring.events.capacity(), cap);
    assert_eq!(ring.events.len(), 64);
}

#[test]
fn a_zero_capacity_recorder_records_nothing() {
    let recorder = TraceRecorder::off();
    recorder.push(message(1));
    recorder.run(
        "executor",
        crate::RunId::new(),
        None,
        1,
        Some(2),
        None,
        true,
    );
    drop(recorder.begin("executor", MessageInfo::new("Run")));
    assert!(!recorder.is_on());
    assert!(recorder.snapshot().is_empty());
    assert_eq!(recorder.recorded(), 0);
}

#[test]
fn a_handler_that_unwinds_is_recorded_as_a_panic() {
    let recorder = TraceRecorder::new(8);
    let correlation = Correlation {
        id: CorrelationId::next(),
        parent_span: None,
        #[cfg(feature = "otel")]
        otel_parent: None,
    };
    let sent = Envelope::stamp(correlation);
    recorder
        .begin("batch", MessageInfo::new("Start").request(sent))
        .finish(Outcome::Ok);
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _handling = recorder.begin("batch", MessageInfo::new("Start"));
        panic!("handler bug");
    }));
    assert!(unwound.is_err());
    let log = recorder.snapshot();
    let [ok, panicked] = log.events() else {
        panic!("two events: {log:?}");
    };
    assert_eq!(ok.outcome(), Outcome::Ok);
    assert_eq!(ok.correlation(), Some(correlation.id));
    assert!(ok.queue_time().is_some(), "a request has a queue time");
    assert!(ok.enqueued().unwrap() <= ok.started());
    assert_eq!(panicked.outcome(), Outcome::Panic);
    assert_eq!(panicked.queue_time(), None, "no envelope, no enqueue time");
}

#[test]
fn queue_and_handling_times_come_from_the_three_timestamps() {
    let e = event(
        "executor",
        "Run",
        EventKind::Message,
        (1_000, 4_000, 10_000),
    );
    assert_eq!(e.queue_time(), Some(Duration::from_nanos(3_000)));
    assert_eq!(e.handling_time(), Duration::from_nanos(6_000));
    assert_eq!(e.ended() - e.started(), Duration::from_nanos(6_000));
}

#[test]
fn for_run_follows_the_request_through_every_actor() {
    let run = crate::RunId::new();
    let request = CorrelationId::next();
    let other = CorrelationId::next();
    let mut start = event("batch", "Start", EventKind::Message, (0, 1, 2));
    start.correlation = Some(request);
    let mut this_run = event("batch", "run", EventKind::Run, (3, 4, 9));
    this_run.run = Some(run);
    this_run.correlation = Some(request);
    let mut unrelated = event("executor", "Run", EventKind::Message, (0, 1, 2));
    unrelated.correlation = Some(other);
    let log = TraceLog::new(vec![start, unrelated, this_run], 0);

    let about = log.for_run(run);
    let names: Vec<&str> = about.events().iter().map(TraceEvent::name).collect();
    assert_eq!(names, ["Start", "run"]);
    assert_eq!(log.for_correlation(other).len(), 1);
    assert_eq!(log.for_actor("batch").len(), 2);
    assert_eq!(log.of_kind(EventKind::Run).len(), 1);
    assert!(log.for_run(crate::RunId::new()).is_empty());
}

#[test]
fn between_keeps_the_events_that_overlap_the_window() {
    let t0 = now();
    let log = TraceLog::new(
        vec![
            message(t0),
            message(t0 + 1_000_000),
            message(t0 + 2_000_000),
        ],
        0,
    );
    let window = log.between(instant(t0 + 900_000), instant(t0 + 1_100_000));
    assert_eq!(window.len(), 1);
    assert_eq!(window.events()[0].started(), instant(t0 + 1_000_001));
    assert_eq!(log.since(instant(t0 + 1_500_000)).len(), 1);
}

#[test]
fn json_lines_parse_back_one_object_per_event() {
    let run = crate::RunId::new();
    let mut e = event("launcher", "run", EventKind::Run, (100, 300, 1_300));
    e.run = Some(run);
    e.correlation = Some(CorrelationId::next());
    let log = TraceLog::new(vec![message(0), e], 0);
    let mut out = Vec::new();
    log.write_json_lines(&mut out).unwrap();
    let lines: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let run_line = &lines[1];
    assert_eq!(run_line["kind"], "run");
    assert_eq!(run_line["actor"], "launcher");
    assert_eq!(run_line["run_id"], run.to_string());
    assert_eq!(run_line["queue_ns"], 200);
    assert_eq!(run_line["handling_ns"], 1_000);
    assert_eq!(run_line["outcome"], "ok");
    assert_eq!(run_line["correlation"].as_str().unwrap().len(), 32);
}

#[test]
fn the_chrome_trace_has_one_track_per_actor_and_no_overlap_on_a_track() {
    let mut events = vec![
        event("executor", "Run", EventKind::Message, (0, 1_000, 2_000)),
        event("executor", "Status", EventKind::Message, (0, 3_000, 4_000)),
        event("batch", "Start", EventKind::Message, (0, 500, 900)),
    ];
    // Three runs, two of them at once: two lanes.
    for (q, s, e) in [
        (1_000, 2_000, 9_000),
        (1_500, 2_500, 5_000),
        (9_500, 9_600, 9_900),
    ] {
        let mut run = event("executor", "run", EventKind::Run, (q, s, e));
        run.run = Some(crate::RunId::new());
        events.push(run);
    }
    let log = TraceLog::new(events, 0);
    let mut out = Vec::new();
    log.write_chrome_trace(&mut out).unwrap();
    let doc: Value = serde_json::from_slice(&out).unwrap();
    let all = doc["traceEvents"].as_array().unwrap();
    let threads: HashMap<u64, &str> = all
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
        .map(|e| {
            (
                e["tid"].as_u64().unwrap(),
                e["args"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    let mut names: Vec<&str> = threads.values().copied().collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["batch", "executor", "executor runs", "executor runs (2)"]
    );

    let slices: Vec<&Value> = all.iter().filter(|e| e["ph"] == "X").collect();
    // 3 messages, 3 runs, 3 queued slices.
    assert_eq!(slices.len(), 9);
    let mut by_track: HashMap<u64, Vec<(f64, f64)>> = HashMap::new();
    for s in &slices {
        let tid = s["tid"].as_u64().unwrap();
        assert!(
            threads.contains_key(&tid),
            "every slice is on a named track"
        );
        let ts = s["ts"].as_f64().unwrap();
        by_track
            .entry(tid)
            .or_default()
            .push((ts, ts + s["dur"].as_f64().unwrap()));
    }
    for spans in by_track.values_mut() {
        spans.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert!(
            spans.windows(2).all(|w| w[0].1 <= w[1].0),
            "overlap on a track: {spans:?}"
        );
    }
    let run = slices.iter().find(|s| s["name"] == "run").unwrap();
    assert_eq!(run["cat"], "run");
    assert_eq!(run["args"]["queue_us"], 1.0);
}

#[test]
fn traceparent_is_derived_from_the_correlation_and_the_callers_span() {
    let id = CorrelationId::next();
    let without = Correlation {
        id,
        parent_span: None,
        #[cfg(feature = "otel")]
        otel_parent: None,
    };
    assert_eq!(without.traceparent(), None);
    let with = Correlation {
        id,
        parent_span: NonZeroU64::new(0xabc),
        #[cfg(feature = "otel")]
        otel_parent: None,
    };
    let tp = with.traceparent().unwrap();
    let parts: Vec<&str> = tp.split('-').collect();
    assert_eq!(parts.len(), 4);
    assert_eq!(parts[0], "00");
    assert_eq!(parts[1], id.to_string());
    assert_eq!(parts[1].len(), 32);
    assert_ne!(parts[1], "0".repeat(32));
    assert_eq!(parts[2], "0000000000000abc");
    assert_eq!(parts[3], "01");
    assert_ne!(CorrelationId::next(), CorrelationId::next());
}
