use std::time::Duration;

use super::window::percentile;
use super::*;

const SEC: u64 = 1_000_000_000;

#[test]
fn percentiles_are_nearest_rank() {
    let sorted: Vec<u64> = (1..=100).collect();
    assert_eq!(percentile(&sorted, 0.50), Some(50));
    assert_eq!(percentile(&sorted, 0.90), Some(90));
    assert_eq!(percentile(&sorted, 0.99), Some(99));
    assert_eq!(percentile(&[7], 0.99), Some(7));
    assert_eq!(percentile(&[], 0.5), None);
}

#[test]
fn a_window_keeps_the_last_samples_and_counts_all() {
    let window = LatencyWindow::new(4);
    assert_eq!(window.summary().p50, None);
    for ms in [100, 1, 2, 3, 4] {
        window.record(ms * 1_000_000);
    }
    let summary = window.summary();
    assert_eq!(summary.count, 5);
    assert_eq!(summary.window, 4);
    assert_eq!(summary.sum, Duration::from_millis(110));
    // 100 ms was the first sample: it left the window.
    assert_eq!(summary.max, Some(Duration::from_millis(4)));
    assert_eq!(summary.p50, Some(Duration::from_millis(2)));
}

#[test]
fn the_rate_ring_counts_the_last_minute_only() {
    let ring = RateRing::default();
    for i in 0..10 {
        ring.add(5 * SEC + i);
    }
    ring.add(30 * SEC);
    assert_eq!(ring.count(30 * SEC), 11);
    // Second 5 is still within the 60 seconds up to second 64 ...
    assert_eq!(ring.count(64 * SEC + SEC / 2), 11);
    // ... and gone at second 65.
    assert_eq!(ring.count(65 * SEC), 1);
    // A slot reused for a later second starts again from one.
    ring.add(65 * SEC);
    assert_eq!(ring.count(65 * SEC), 2);
    assert_eq!(ring.count(200 * SEC), 0);
}

#[test]
fn counts_follow_every_transition_and_eviction() {
    let m = MetricsRecorder::new();
    let q = m.admitted(Pattern::FireAndForget);
    let s = m.started(Pattern::FireAndForget, q);
    m.finished(
        Pattern::FireAndForget,
        RunStatus::Running,
        RunStatus::Failed,
        Some(s),
    );
    m.admitted(Pattern::Simple);
    m.finished(
        Pattern::Simple,
        RunStatus::Queued,
        RunStatus::Cancelled,
        None,
    );
    let snap = m.snapshot(BTreeMap::new(), None, true);
    let ff = snap.pattern(Pattern::FireAndForget);
    assert_eq!((ff.submitted, ff.started), (1, 1));
    assert_eq!(ff.finished(RunStatus::Failed), 1);
    assert_eq!(ff.current(RunStatus::Failed), 1);
    assert_eq!(ff.current(RunStatus::Running), 0);
    assert_eq!(snap.runs.submitted, 2);
    assert_eq!(snap.runs.started, 1);
    assert_eq!(snap.runs.finished_total(), 2);
    assert_eq!(snap.runs.current(RunStatus::Cancelled), 1);
    assert_eq!(snap.run_time.count, 1);
    assert_eq!(snap.queue_wait.count, 1);
    // Every status and pattern is listed, even at zero.
    assert_eq!(snap.runs.current.len(), 7);
    assert_eq!(snap.runs.finished.len(), 5);
    assert_eq!(snap.runs_by_pattern.len(), 6);

    m.removed(Pattern::Simple, RunStatus::Cancelled);
    // Never below zero.
    m.removed(Pattern::Simple, RunStatus::Cancelled);
    let snap = m.snapshot(BTreeMap::new(), None, true);
    assert_eq!(snap.runs.current(RunStatus::Cancelled), 0);
    assert_eq!(snap.runs.in_registry(), 1);
    assert_eq!(snap.runs.finished(RunStatus::Cancelled), 1);
}

#[test]
fn restarts_are_counted_per_actor_and_listed_from_start() {
    let m = MetricsRecorder::new();
    m.actor_started("executor");
    m.actor_started("launcher");
    m.actor_restarted("executor");
    m.actor_restarted("executor");
    m.actor_gave_up("executor");
    let snap = m.snapshot(BTreeMap::new(), None, true);
    assert_eq!(snap.restarts("executor"), 2);
    assert_eq!(snap.actors["executor"].gave_up, 1);
    assert_eq!(snap.actors["launcher"], ActorMetrics::default());
}

#[tokio::test(start_paused = true)]
async fn rates_and_latencies_follow_tokio_time() {
    let m = MetricsRecorder::new();
    tokio::time::advance(Duration::from_secs(120)).await;
    for _ in 0..30 {
        let q = m.admitted(Pattern::Simple);
        tokio::time::advance(Duration::from_millis(10)).await;
        let s = m.started(Pattern::Simple, q);
        tokio::time::advance(Duration::from_millis(100)).await;
        m.finished(
            Pattern::Simple,
            RunStatus::Running,
            RunStatus::Succeeded,
            Some(s),
        );
    }
    let snap = m.snapshot(BTreeMap::new(), None, true);
    assert_eq!(snap.rate_window, RATE_WINDOW);
    assert!((snap.starts_per_second - 0.5).abs() < 1e-9);
    assert!((snap.finishes_per_second - 0.5).abs() < 1e-9);
    assert_eq!(snap.queue_wait.p99, Some(Duration::from_millis(10)));
    assert_eq!(snap.run_time.p50, Some(Duration::from_millis(100)));
    assert_eq!(snap.run_time.sum, Duration::from_secs(3));
    tokio::time::advance(Duration::from_secs(61)).await;
    let snap = m.snapshot(BTreeMap::new(), None, true);
    assert_eq!(snap.starts_per_second, 0.0);
    // Percentiles keep the last samples, however old.
    assert_eq!(snap.run_time.max, Some(Duration::from_millis(100)));
}

#[test]
fn the_json_form_is_in_seconds_and_round_trips() {
    let m = MetricsRecorder::new();
    let q = m.admitted(Pattern::Pooled);
    m.started(Pattern::Pooled, q);
    let snap = m.snapshot(BTreeMap::new(), None, false);
    let json = serde_json::to_value(&snap).unwrap();
    assert!(json["uptime_seconds"].is_f64());
    assert!(json["queue_wait"]["p50_seconds"].is_f64());
    assert!(json["run_time"]["p50_seconds"].is_null());
    assert_eq!(json["runs_by_pattern"]["pooled"]["current"]["running"], 1);
    assert_eq!(json["store"], serde_json::Value::Null);
    let back: Metrics = serde_json::from_value(json).unwrap();
    assert_eq!(back.runs, snap.runs);
    assert_eq!(back.running, snap.running);
}
