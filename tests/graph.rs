//! Task graphs: `orch.graphs().start(graph)` / `orch.graphs().run(graph)`.
//! In-process actions on paused time for the scheduling rules; real
//! processes for cancel, shutdown and orphans.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use taskorch::graph::{GraphTask, Resource, ResourceId, TaskGraph, TaskStatus};
use taskorch::{Config, Error, Orchestrator, Pattern, Priority, RunStatus, Task};

use crate::common::*;

/// One call of the "work" action.
#[derive(Debug, Clone)]
pub struct Span {
    pub task: String,
    pub attempt: u32,
    pub start: u64,
    pub end: Option<u64>,
}

#[derive(Debug, Default)]
pub struct Log {
    seq: u64,
    pub spans: Vec<Span>,
    calls: HashMap<String, u32>,
    now: usize,
    pub peak: usize,
}

/// Registers the action "work": input `{"task": name, "ms": n,
/// "fail_first": k}`. It records its start and end (a logical clock:
/// every start and end takes the next number), sleeps `ms` (paused time in
/// these tests), and fails its first `k` calls for that task.
#[derive(Clone, Default)]
pub struct Probe(pub Arc<Mutex<Log>>);

impl Probe {
    pub fn register(orch: &Orchestrator) -> Probe {
        let probe = Probe::default();
        let log = Arc::clone(&probe.0);
        orch.register_action("work", move |input: Value| {
            let log = Arc::clone(&log);
            async move {
                let task = input["task"].as_str().unwrap_or_default().to_string();
                let ms = input["ms"].as_u64().unwrap_or(0);
                let fail_first = input["fail_first"].as_u64().unwrap_or(0) as u32;
                let (index, attempt) = {
                    let mut log = log.lock().unwrap();
                    log.seq += 1;
                    let attempt = {
                        let calls = log.calls.entry(task.clone()).or_default();
                        *calls += 1;
                        *calls
                    };
                    let start = log.seq;
                    log.now += 1;
                    log.peak = log.peak.max(log.now);
                    log.spans.push(Span {
                        task: task.clone(),
                        attempt,
                        start,
                        end: None,
                    });
                    (log.spans.len() - 1, attempt)
                };
                // Ends the span also when the call is dropped (time-out,
                // cancel): a claim is held until then.
                let _end = SpanEnd { log, index };
                // The simulated work: the tests that run it are on paused
                // time, so this advances the virtual clock, not the wall's.
                tokio::time::sleep(Duration::from_millis(ms)).await;
                drop(_end);
                if attempt <= fail_first {
                    Err(format!("{task}: planned failure {attempt}"))
                } else {
                    Ok(json!(attempt))
                }
            }
        });
        probe
    }

    /// Task names in the order their first attempt started.
    pub fn started(&self) -> Vec<String> {
        let log = self.0.lock().unwrap();
        log.spans
            .iter()
            .filter(|s| s.attempt == 1)
            .map(|s| s.task.clone())
            .collect()
    }

    /// First start and last end of `task`.
    pub fn span(&self, task: &str) -> Option<(u64, u64)> {
        let log = self.0.lock().unwrap();
        let spans: Vec<&Span> = log.spans.iter().filter(|s| s.task == task).collect();
        let start = spans.iter().map(|s| s.start).min()?;
        let end = spans.iter().filter_map(|s| s.end).max()?;
        Some((start, end))
    }

    /// How many times `task`'s action was called.
    pub fn calls(&self, task: &str) -> u32 {
        let log = self.0.lock().unwrap();
        log.calls.get(task).copied().unwrap_or(0)
    }

    pub fn peak(&self) -> usize {
        self.0.lock().unwrap().peak
    }
}

struct SpanEnd {
    log: Arc<Mutex<Log>>,
    index: usize,
}

impl Drop for SpanEnd {
    fn drop(&mut self) {
        let mut log = self.log.lock().unwrap();
        log.seq += 1;
        log.spans[self.index].end = Some(log.seq);
        log.now -= 1;
    }
}

pub fn work(task: &str, ms: u64) -> Task {
    Task::action("work", json!({ "task": task, "ms": ms }))
}

pub fn failing(task: &str, ms: u64, fail_first: u32) -> Task {
    Task::action(
        "work",
        json!({ "task": task, "ms": ms, "fail_first": fail_first }),
    )
}

fn step(name: &str, ms: u64) -> GraphTask {
    GraphTask::new(name, work(name, ms))
}

fn hold(name: &str) -> GraphTask {
    GraphTask::new(name, Task::action("hold", json!(name)))
}

// The tests, by topic (each file uses the fixtures above).
mod bad_input;
mod cancel;
mod grow;
mod job_model;
mod order;
mod outcomes;
mod priority;
mod resources;
mod retry;
