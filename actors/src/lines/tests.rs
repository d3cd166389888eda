//! Unit tests of the line ring and its readers.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use futures::stream::FusedStream;

use super::*;
use crate::pattern::Pattern;
use crate::registry::{Registry, Retention};

fn log(ring_lines: usize, ring_bytes: usize) -> Arc<LineLog> {
    Arc::new(LineLog::new(
        RunId::new(),
        LineLimits {
            ring_lines,
            ring_bytes,
            max_line: 64,
        },
    ))
}

fn texts(lines: &[OutputLine]) -> Vec<&str> {
    lines.iter().map(|l| l.text.as_str()).collect()
}

fn seqs(lines: &[OutputLine]) -> Vec<u64> {
    lines.iter().map(|l| l.seq).collect()
}

#[test]
fn snapshot_keeps_order_streams_and_seq() {
    let log = log(100, 1 << 20);
    log.push_line(StreamKind::Stdout, "a");
    log.push_line(StreamKind::Stderr, "b");
    log.push_line(StreamKind::Stdout, "");
    let out = log.snapshot();
    assert_eq!(texts(&out.lines), ["a", "b", ""]);
    assert_eq!(seqs(&out.lines), [0, 1, 2]);
    assert_eq!(out.lines[1].stream, StreamKind::Stderr);
    assert_eq!(out.dropped, 0);
}

#[test]
fn a_full_ring_drops_the_oldest_lines_by_count() {
    let log = log(3, 1 << 20);
    for i in 0..10 {
        log.push_line(StreamKind::Stdout, &i.to_string());
    }
    let out = log.snapshot();
    assert_eq!(texts(&out.lines), ["7", "8", "9"]);
    assert_eq!(seqs(&out.lines), [7, 8, 9]);
    assert_eq!(out.dropped, 7);
    assert_eq!(log.written(), 10);
}

#[test]
fn a_restored_log_reads_back_as_it_was_stored() {
    let log = log(3, 1 << 20);
    for i in 0..5 {
        log.push_line(StreamKind::Stdout, &i.to_string());
    }
    log.push_line(StreamKind::Stderr, "last");
    let timed = log.timed_snapshot();
    let mut stored = timed.output.clone();
    stored.split = vec![4];
    let restored = LineLog::restore(log.run_id(), &stored, &timed.times);
    assert_eq!(
        restored.snapshot(),
        stored,
        "same lines, seqs, dropped count, split flags"
    );
    assert_eq!(restored.timed_snapshot().times, timed.times, "same times");
    // A run stored without times (an older release) has lines, no times.
    let untimed = LineLog::restore(log.run_id(), &stored, &LineTimes::default());
    assert_eq!(untimed.snapshot(), stored);
    assert!(untimed.timed_snapshot().times.iter().all(|t| t.is_none()));
    assert!(restored.is_closed(), "a stored run's output is complete");
    let empty = LineLog::restore(
        log.run_id(),
        &CapturedOutput {
            dropped: 9,
            ..CapturedOutput::default()
        },
        &LineTimes::default(),
    );
    assert_eq!(empty.snapshot().dropped, 9);
}

#[test]
fn a_full_ring_drops_the_oldest_lines_by_bytes() {
    let log = log(1000, 10);
    for word in ["aaaa", "bbbb", "cccc", "dd"] {
        log.push_line(StreamKind::Stdout, word);
    }
    let out = log.snapshot();
    assert_eq!(texts(&out.lines), ["bbbb", "cccc", "dd"]);
    assert_eq!(out.dropped, 1);
    assert!(log.held_bytes() < 10 + 64 * std::mem::size_of::<Entry>());
}

#[test]
fn lines_that_wrap_around_the_buffer_read_back_intact() {
    // Lines of varying length through a small ring make its text wrap
    // around the end of the buffer at every possible offset.
    let log = log(1000, 37);
    let mut all = Vec::new();
    for i in 0..500 {
        let line: String = (0..(i % 11)).map(|k| char::from(b'a' + k as u8)).collect();
        let line = format!("{i}:{line}");
        log.push_line(StreamKind::Stdout, &line);
        all.push(line);
        let out = log.snapshot();
        let kept = out.lines.len();
        assert_eq!(texts(&out.lines), all[all.len() - kept..].to_vec());
        assert_eq!(out.dropped as usize + kept, all.len());
    }
}

#[test]
fn invalid_utf8_is_replaced_not_a_panic() {
    let log = log(10, 1 << 10);
    let mut out = log.writer(StreamKind::Stdout);
    log.append(&mut out, b"ok \xff\xfe end\n\xc3");
    log.flush(&mut out);
    let lines = log.snapshot().lines;
    assert_eq!(texts(&lines), ["ok \u{FFFD}\u{FFFD} end", "\u{FFFD}"]);
}

#[test]
fn stdout_and_stderr_interleave_in_arrival_order() {
    let log = log(10, 1 << 10);
    let mut out = log.writer(StreamKind::Stdout);
    let mut err = log.writer(StreamKind::Stderr);
    log.append(&mut out, b"o1\no2-");
    log.append(&mut err, b"e1\n");
    log.append(&mut out, b"end\n");
    let lines = log.snapshot().lines;
    assert_eq!(texts(&lines), ["o1", "e1", "o2-end"]);
    assert_eq!(seqs(&lines), [0, 1, 2]);
    assert_eq!(
        lines.iter().map(|l| l.stream).collect::<Vec<_>>(),
        [StreamKind::Stdout, StreamKind::Stderr, StreamKind::Stdout]
    );
}

#[tokio::test]
async fn a_late_reader_gets_the_backlog_then_live_lines_then_the_end() {
    let log = log(100, 1 << 20);
    log.push_line(StreamKind::Stdout, "early 1");
    log.push_line(StreamKind::Stdout, "early 2");
    let mut late = log.subscribe();
    assert_eq!(late.next_line().await.unwrap().text, "early 1");
    assert_eq!(late.next_line().await.unwrap().text, "early 2");

    let writer = {
        let log = Arc::clone(&log);
        tokio::spawn(async move {
            tokio::task::yield_now().await;
            log.push_line(StreamKind::Stderr, "live");
            log.close();
        })
    };
    let live = tokio::time::timeout(Duration::from_secs(5), late.next_line())
        .await
        .expect("a waiting reader is woken by a new line")
        .unwrap();
    assert_eq!((live.text.as_str(), live.seq), ("live", 2));
    assert!(late.next_line().await.is_none());
    assert!(late.next_line().await.is_none(), "stays ended");
    writer.await.unwrap();
    assert_eq!(late.missed(), 0);
}

#[tokio::test]
async fn a_reader_that_falls_behind_sees_a_gap_never_blocks_the_writer() {
    let log = log(4, 1 << 20);
    let mut slow = log.subscribe();
    log.push_line(StreamKind::Stdout, "0");
    assert_eq!(slow.next_line().await.unwrap().seq, 0);
    // 20 more lines while the reader sleeps: the ring keeps the last 4.
    for i in 1..=20 {
        log.push_line(StreamKind::Stdout, &i.to_string());
    }
    log.close();
    let rest: Vec<OutputLine> = slow.by_ref().collect().await;
    assert_eq!(seqs(&rest), [17, 18, 19, 20]);
    assert_eq!(slow.missed(), 16, "seq 1..=16 were dropped unread");
    assert!(slow.is_terminated());
}

#[tokio::test]
async fn many_readers_each_read_everything() {
    let log = log(1000, 1 << 20);
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let mut sub = log.subscribe();
            tokio::spawn(async move {
                let mut got = Vec::new();
                while let Some(line) = sub.next_line().await {
                    got.push(line.seq);
                }
                got
            })
        })
        .collect();
    for i in 0..300 {
        log.push_line(StreamKind::Stdout, &format!("line {i}"));
        if i % 50 == 0 {
            tokio::task::yield_now().await;
        }
    }
    log.close();
    for reader in readers {
        let got = reader.await.unwrap();
        assert_eq!(got, (0..300).collect::<Vec<u64>>());
    }
}

#[tokio::test]
async fn stripping_frees_the_text_and_counts_it_dropped() {
    let log = log(100, 1 << 20);
    for i in 0..10 {
        log.push_line(StreamKind::Stdout, &"x".repeat(i * 100));
    }
    let held = log.held_bytes();
    assert!(held >= 4500, "{held}");
    log.strip();
    log.close();
    assert_eq!(log.held_bytes(), 0);
    let out = log.snapshot();
    assert!(out.lines.is_empty());
    assert_eq!(out.dropped, 10);
    let mut reader = log.subscribe();
    assert!(reader.next_line().await.is_none());
    assert_eq!(reader.missed(), 10);
}

#[test]
fn memory_stays_within_the_byte_cap() {
    let log = log(usize::MAX, 1 << 16);
    let mut out = log.writer(StreamKind::Stdout);
    let chunk = b"some progress line of ordinary length\n".repeat(1000);
    for _ in 0..100 {
        log.append(&mut out, &chunk);
    }
    // The text buffer never grows past the cap; the index is a few words a
    // line.
    let text_cap = log.ring.lock().text.capacity();
    assert!(text_cap <= 1 << 16, "{text_cap}");
}

#[tokio::test]
async fn records_without_a_ring_give_empty_output_and_readers_that_end() {
    let registry = Registry::new(Retention::default());
    let record = registry.admit(crate::registry::Admission::new("action", Pattern::Simple));
    assert_eq!(record.captured(), CapturedOutput::default());
    record.start().unwrap();
    let mut out = crate::output::Output::empty(record.id());
    out.value = Some(serde_json::json!(1));
    registry.finish_now(&record, Ok(out)).unwrap();
    let mut reader = record.subscribe_output(LineLimits::default());
    let next = tokio::time::timeout(Duration::from_secs(5), reader.next_line()).await;
    assert_eq!(next.expect("a finished run's reader ends at once"), None);
}

#[tokio::test]
async fn a_reader_attached_before_the_run_writes_sees_all_of_it() {
    let registry = Registry::new(Retention::default());
    let record = registry.admit(crate::registry::Admission::new("cmd", Pattern::Simple));
    let mut reader = record.subscribe_output(LineLimits::default());
    // The runner finds the same ring when the process starts.
    let log = record.lines_or_init(|| unreachable!("the reader attached a ring"));
    log.push_line(StreamKind::Stdout, "first");
    record.start().unwrap();
    let mut out = crate::output::Output::empty(record.id());
    out.exit_code = Some(0);
    registry.finish_now(&record, Ok(out)).unwrap();
    assert_eq!(reader.next_line().await.unwrap().text, "first");
    assert!(reader.next_line().await.is_none(), "finish closes the ring");
}

#[test]
fn the_registry_output_budget_counts_and_reclaims_rings() {
    let registry = Registry::new(Retention {
        history_limit: 100,
        output_budget: 3000,
        ..Retention::default()
    });
    let mut records = Vec::new();
    for _ in 0..3 {
        let record = registry.admit(crate::registry::Admission::new("cmd", Pattern::Simple));
        let log =
            record.lines_or_init(|| Arc::new(LineLog::new(record.id(), LineLimits::default())));
        for _ in 0..10 {
            log.push_line(StreamKind::Stdout, &"y".repeat(100));
        }
        record.start().unwrap();
        let mut out = crate::output::Output::empty(record.id());
        out.exit_code = Some(0);
        registry.finish_now(&record, Ok(out)).unwrap();
        records.push(record);
    }
    // Each ring holds ~2 KB (1000 bytes of text in a buffer grown by
    // doubling, plus its index): past 3000 bytes in all, the oldest rings
    // are reclaimed and the newest stays.
    let oldest = records[0].captured();
    assert!(oldest.lines.is_empty());
    assert_eq!(oldest.dropped, 10);
    assert_eq!(records[0].lines().unwrap().held_bytes(), 0);
    assert_eq!(records[2].captured().lines.len(), 10);
}

#[tokio::test]
async fn every_line_has_its_capture_time_one_per_read_never_going_back() {
    let log = log(100, 1 << 20);
    let mut reader = log.subscribe();
    let mut out = log.writer(StreamKind::Stdout);
    let mut err = log.writer(StreamKind::Stderr);
    let before = SystemTime::now();
    log.append(&mut out, b"a\nb\nc");
    log.append(&mut err, b"e\n");
    log.append(&mut out, b"\nd\n");
    log.flush(&mut out);
    let after = SystemTime::now();
    log.close();

    let timed = log.timed_snapshot();
    assert_eq!(timed.output, log.snapshot(), "the same lines as output(id)");
    assert_eq!(texts(&timed.output.lines), ["a", "b", "e", "c", "d"]);
    assert_eq!(timed.times.len(), timed.output.lines.len());
    let times: Vec<SystemTime> = timed
        .times
        .iter()
        .map(|t| t.expect("every captured line has a time"))
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    // Kept to the microsecond: at most 1 us before `before`.
    assert!(times[0] + Duration::from_micros(1) > before && times[4] <= after);
    assert_eq!(times[0], times[1], "lines of one read share its time");
    assert_eq!(
        timed.iter().map(|(l, t)| (l.seq, t)).collect::<Vec<_>>(),
        (0..5)
            .map(|i| (i, Some(times[i as usize])))
            .collect::<Vec<_>>()
    );

    // A subscriber sees the same time with each line.
    let mut seen = Vec::new();
    assert_eq!(reader.last_time(), None, "no line read yet");
    while let Some(line) = reader.next_line().await {
        seen.push((line.seq, reader.last_time().unwrap()));
    }
    assert_eq!(
        seen,
        (0..5).map(|i| (i, times[i as usize])).collect::<Vec<_>>()
    );

    // A wall clock stepped back does not reorder the run's times; an
    // unknown time stays unknown.
    let mut batch = LineBatch::default();
    batch.add(b"late", false);
    let latest = log.ring.lock().last_time;
    log.ring
        .lock()
        .push(log.limits(), StreamKind::Stdout, &batch, latest - 5_000_000);
    log.ring
        .lock()
        .push(log.limits(), StreamKind::Stdout, &batch, 0);
    let timed = log.timed_snapshot();
    assert_eq!(timed.times.get(5), timed.times.get(4));
    assert_eq!(timed.times.get(6), None);
}
