//! Writing a [`TraceLog`] out: JSON lines (one object per event, for
//! scripts and log pipelines) and the Chrome trace event format (for
//! Perfetto and `chrome://tracing`).
//!
//! # The Chrome trace
//! One process, "taskorch", with one track (a "thread") per actor:
//! - each handled message is a complete event (`"ph":"X"`) on its actor's
//!   track, from handling start to end; its queue time is in `args`
//!   (mailbox waits of consecutive messages overlap, so they cannot be
//!   drawn on the same track);
//! - runs and pool requests overlap by nature, so they get tracks of their
//!   own ("executor runs", "pool_worker requests"), split into as many
//!   lanes as were in flight at once; each is drawn as a `queued` slice
//!   (waiting for an execution slot or a worker) followed by the run;
//! - supervisor events and faults sit on the actor's track;
//! - a flow arrow leads from the message that started a run to the run.
//!
//! Times are microseconds (`ts`, `dur`) on the trace clock.

use std::collections::HashMap;
use std::io::{self, Write};
use std::time::UNIX_EPOCH;

use serde::Serialize;
use serde_json::{Value, json};

use super::{EventKind, TraceEvent, TraceLog};
use crate::run::RunId;

/// Track order: the supervisor, then the pattern actors in start order.
const ACTOR_ORDER: &[&str] = &[
    "supervisor",
    "executor",
    "batch",
    "launcher",
    "scheduler",
    "pool_keeper",
    "pool_worker",
];

/// One line of the JSON lines export.
#[derive(Serialize)]
struct Line<'a> {
    seq: u64,
    kind: &'static str,
    actor: &'a str,
    name: &'a str,
    outcome: &'static str,
    run_id: Option<RunId>,
    correlation: Option<String>,
    enqueued_ns: Option<u64>,
    started_ns: u64,
    ended_ns: u64,
    queue_ns: Option<u64>,
    handling_ns: u64,
    started_unix_us: u64,
}

impl TraceLog {
    /// Write one JSON object per event, one per line, oldest first:
    /// `seq`, `kind`, `actor`, `name`, `outcome`, `run_id`, `correlation`
    /// (the 32-hex-digit trace id), `enqueued_ns` / `started_ns` /
    /// `ended_ns` (on the trace clock), `queue_ns`, `handling_ns`, and
    /// `started_unix_us` (wall clock, for matching with logs).
    ///
    /// # Errors
    /// Whatever `w` returns.
    pub fn write_json_lines(&self, mut w: impl Write) -> io::Result<()> {
        for e in self.events() {
            let line = Line {
                seq: e.seq,
                kind: e.kind.as_str(),
                actor: e.actor,
                name: e.name,
                outcome: e.outcome.as_str(),
                run_id: e.run,
                correlation: e.correlation.map(|c| c.to_string()),
                enqueued_ns: e.enqueued,
                started_ns: e.started,
                ended_ns: e.ended,
                queue_ns: e.enqueued.map(|at| e.started.saturating_sub(at)),
                handling_ns: e.ended.saturating_sub(e.started),
                started_unix_us: super::wall(e.started)
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
            };
            serde_json::to_writer(&mut w, &line)?;
            w.write_all(b"\n")?;
        }
        w.flush()
    }

    /// Write the log in the Chrome trace event format (JSON object form),
    /// which Perfetto (<https://ui.perfetto.dev>, "Open trace file") and
    /// `chrome://tracing` ("Load") open. See the module docs of
    /// `trace/export.rs` for the layout: one track per actor, lanes for
    /// runs and pool requests, queue times in each slice's `args`.
    ///
    /// # Errors
    /// Whatever `w` returns.
    pub fn write_chrome_trace(&self, mut w: impl Write) -> io::Result<()> {
        let tracks = Tracks::build(self.events());
        let mut out: Vec<Value> = Vec::with_capacity(self.len() * 2 + tracks.names.len() * 2 + 1);
        out.push(json!({
            "name": "process_name", "ph": "M", "pid": 1,
            "args": { "name": "taskorch" }
        }));
        for (tid, (name, sort)) in tracks.names.iter().enumerate() {
            let tid = tid + 1;
            out.push(json!({
                "name": "thread_name", "ph": "M", "pid": 1, "tid": tid,
                "args": { "name": name }
            }));
            out.push(json!({
                "name": "thread_sort_index", "ph": "M", "pid": 1, "tid": tid,
                "args": { "sort_index": sort }
            }));
        }
        // Where each request's first message was handled, for flow arrows.
        let mut origins = HashMap::new();
        for (e, &tid) in self.events().iter().zip(&tracks.of_event) {
            if e.kind == EventKind::Message
                && let Some(c) = e.correlation
            {
                origins.entry(c).or_insert((tid, e.started));
            }
        }
        for (e, &tid) in self.events().iter().zip(&tracks.of_event) {
            let mut args = json!({
                "seq": e.seq,
                "outcome": e.outcome.as_str(),
            });
            if let Some(run) = e.run {
                args["run_id"] = json!(run.to_string());
            }
            if let Some(c) = e.correlation {
                args["correlation"] = json!(c.to_string());
            }
            if let Some(at) = e.enqueued {
                args["queue_us"] = json!(us(e.started.saturating_sub(at)));
            }
            let queued_slice = matches!(e.kind, EventKind::Run | EventKind::Request);
            if queued_slice && let Some(at) = e.enqueued.filter(|&at| at < e.started) {
                out.push(json!({
                    "name": "queued", "cat": e.kind.as_str(), "ph": "X",
                    "ts": us(at), "dur": us(e.started - at), "pid": 1, "tid": tid,
                    "args": { "seq": e.seq }
                }));
            }
            out.push(json!({
                "name": e.name, "cat": e.kind.as_str(), "ph": "X",
                "ts": us(e.started), "dur": us(e.ended.saturating_sub(e.started)),
                "pid": 1, "tid": tid, "args": args
            }));
            if e.kind == EventKind::Run
                && let Some(c) = e.correlation
                && let Some(&(from, at)) = origins.get(&c)
            {
                let to = e.enqueued.unwrap_or(e.started);
                out.push(json!({
                    "name": "request", "cat": "flow", "ph": "s", "id": e.seq,
                    "ts": us(at), "pid": 1, "tid": from
                }));
                out.push(json!({
                    "name": "request", "cat": "flow", "ph": "f", "bp": "e", "id": e.seq,
                    "ts": us(to.max(at)), "pid": 1, "tid": tid
                }));
            }
        }
        let doc = json!({
            "traceEvents": out,
            "displayTimeUnit": "ms",
            "otherData": { "producer": "taskorch", "dropped_events": self.dropped() },
        });
        serde_json::to_writer(&mut w, &doc)?;
        w.flush()
    }
}

/// Nanoseconds to the format's microseconds.
fn us(ns: u64) -> f64 {
    ns as f64 / 1_000.0
}

/// What kind of track an event goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Family {
    Actor,
    Runs,
    Requests,
}

/// The tracks of a Chrome trace: their names and sort keys (by tid - 1),
/// and each event's tid.
struct Tracks {
    names: Vec<(String, u64)>,
    of_event: Vec<usize>,
}

impl Tracks {
    fn build(events: &[TraceEvent]) -> Tracks {
        let family = |e: &TraceEvent| match e.kind {
            EventKind::Run => Family::Runs,
            EventKind::Request => Family::Requests,
            _ => Family::Actor,
        };
        // Lanes per (actor, family): an event takes the first lane free at
        // its start, so no two events on one track overlap.
        let mut order: Vec<usize> = (0..events.len()).collect();
        order.sort_by_key(|&i| drawn(&events[i]));
        let mut lanes: HashMap<(&str, Family), Vec<u64>> = HashMap::new();
        let mut lane_of = vec![(Family::Actor, 0usize); events.len()];
        for i in order {
            let e = &events[i];
            let (first, last) = drawn(e);
            let ends = lanes.entry((e.actor, family(e))).or_default();
            let lane = match ends.iter().position(|&end| end <= first) {
                Some(lane) => lane,
                None => {
                    ends.push(0);
                    ends.len() - 1
                }
            };
            ends[lane] = last.max(first);
            lane_of[i] = (family(e), lane);
        }
        let mut keys: Vec<(u64, &str, Family, usize)> = lanes
            .iter()
            .flat_map(|(&(actor, fam), ends)| {
                (0..ends.len()).map(move |lane| (rank(actor), actor, fam, lane))
            })
            .collect();
        keys.sort();
        let mut tid = HashMap::new();
        let mut names = Vec::with_capacity(keys.len());
        for (index, &(rank, actor, fam, lane)) in keys.iter().enumerate() {
            let base = match fam {
                Family::Actor => actor.to_string(),
                Family::Runs => format!("{actor} runs"),
                Family::Requests => format!("{actor} requests"),
            };
            let name = if lane == 0 {
                base
            } else {
                format!("{base} ({})", lane + 1)
            };
            let sort = rank * 1_000_000 + (fam as u64) * 100_000 + lane as u64;
            names.push((name, sort));
            tid.insert((actor, fam, lane), index + 1);
        }
        let of_event = events
            .iter()
            .zip(&lane_of)
            .map(|(e, &(fam, lane))| tid[&(e.actor, fam, lane)])
            .collect();
        Tracks { names, of_event }
    }
}

/// The stretch of its track an event covers: runs and requests are drawn
/// with their queued slice; a message only while it is handled (its queue
/// time overlaps the messages before it, so it is not drawn).
fn drawn(e: &TraceEvent) -> (u64, u64) {
    match e.kind {
        EventKind::Run | EventKind::Request => e.span_ns(),
        _ => (e.started, e.ended),
    }
}

/// Known actors first, in start order; others after them.
fn rank(actor: &str) -> u64 {
    ACTOR_ORDER
        .iter()
        .position(|&a| a == actor)
        .map_or(ACTOR_ORDER.len() as u64, |p| p as u64)
}
