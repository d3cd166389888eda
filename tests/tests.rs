//! Integration tests: one binary, one module per capability.
//!
//! Run one module with `cargo test --all-features --test tests <module>::`.
//! Shared fixtures (the `Runtime` whose Drop aborts, `wait_until`,
//! `wait_for`, `wait_for_status`, pid checks) are in `common`.

mod common;

// ---- The six patterns, one module each, and automatic selection ----

// Concurrent: `run_batch` and `orch.batch(spec)` (fail-fast, time-out, progress).
mod batch;
// Automatic selection: `orch.execute(Request)` and conflicting options.
mod execute;
// Task graphs: dependencies, priorities, resources, cancel, shutdown.
mod graph;
// Task graphs: property test of random DAGs against their invariants.
mod graph_props;
// Delayed one-off jobs: `start_at` / `start_after` on launch and run, across a restart.
mod delayed;
// FireAndForget: `launch`, `status`, `wait`, `cancel`, `find_runs`, retention.
mod launch;
// LongRunning: `orch.stream`, `output`, `subscribe_output`, `cancel`.
mod long_running;
// LongRunning: byte-exact chunks and back-pressure of the run's own stream.
mod long_running_bytes;
// Periodic: schedules on paused time; one real-process shutdown test.
mod periodic;
// Pooled: routing, queueing, time-outs, worker crashes, recycling, resize, close.
mod pool;
// Simple: `orch.run(task)`, errors, retries, the registry entry.
mod simple;
// Supervised services: policies, intensity, probes, dependencies, groups, stop, store.
mod services;

// ---- What a crash of each pattern's actor does to callers, runs and processes ----

// The batch coordinator mid-batch: finished results kept, rest interrupted.
mod batch_crash;
// The executor: no hung caller, no orphan, back for the next request.
mod crash;
// The batch coordinator mid-graph: adopted by the next incarnation.
mod graph_crash;
// The launcher: launched runs keep going; shutdown still ends them.
mod launch_crash;
// The executor mid-stream: run interrupted, lines kept.
mod long_running_crash;
// The scheduler: state kept outside, no tick fired twice or lost.
mod periodic_crash;
// The pool keeper: pools restored, queued requests survive.
mod pool_crash;
// A panic inside a run's own task ends the run in every pattern.
mod run_panic;

// ---- Processes and limits ----

// Process groups, leader exit as a subreaper, the guardian after `kill -9`.
mod containment;
// A child's working directory and environment.
mod environment;
// Memory bounds: output ceiling, event ring bounds.
mod limits;
// A cut capture is reported (bytes dropped) on every surface.
mod output_loss;
// Durations and values no clock can hold are refused where they enter.
mod poison;
// Graceful shutdown: reverse order, runs ended, no orphans, idempotent.
mod shutdown;

// ---- Durable state (the redb store) ----

// History, output and outcomes across a restart; queued runs started once.
mod durable;
// `kill -9` of the durable example at seeded points: nothing lost or run twice.
mod durable_crash;
// Failing commits: typed refusal, reopen, nothing acknowledged lost.
mod durable_faults;
// Task graphs adopted after a `kill -9`.
mod durable_graph;
// Damaged store files refused untouched; file permissions.
mod durable_store;
// The halt and workflows across a `kill -9`.
mod durable_workflow;
// The PostgreSQL store (feature `postgres`) against a real server: restart,
// a killed node, typed start errors, the CLI's `--store postgres://…`.
#[cfg(feature = "postgres")]
mod postgres;
// Job options (key, labels, priority, queue, start): refused when malformed,
// stored with the run and read back after a restart.
mod job;
// Caller's keys (idempotent submits, kept across a restart) and label,
// prefix, time and status queries in memory and in the store.
mod job_keys;
// Priorities and named queues of every run.
mod queue;
// Reruns by hand (`Orchestrator::rerun`), before and after a restart, and
// the dead-letter view (`RunQuery::dead_letter`).
mod rerun;

// ---- Operations: workflows, events, halt, breakers, tracing, faults ----

// Circuit breakers with real processes.
mod breaker;
// The seeded chaos harness over every pattern, invariants checked.
mod chaos;
// The event stream: order, JSON form, lagging subscribers.
mod events;
// Fault injection: each fault in every actor, aimed faults, refusals.
mod fault;
// The HTTP API: routes, SSE over the wire, metrics, OpenAPI, bad input.
#[cfg(feature = "server")]
mod http;
// The dashboard in headless Chromium through WebDriver (chromedriver).
#[cfg(all(feature = "server", unix))]
mod dashboard;
// Emergency halt and resume; risk limits that halt.
mod halt;
// Runtime-wide metrics and `is_running`: counts, rates, latencies, restarts.
mod metrics;
// Structured logging (JSON lines) and the config presets.
mod logging;
// The runtime's panic hook chains to the application's.
mod panic_hook;
// The message trace, its exports, `tracing` spans, `TRACEPARENT`.
mod trace;
// The application's own actors under the root: restarts, groups, status,
// trace, faults, refusals, stop order.
mod user_actors;
// OpenTelemetry: a run's span, its parent, and the child's TRACEPARENT.
#[cfg(feature = "otel")]
mod otel;
// Workflows end to end: data between blocks, command templates, risk limits.
mod workflow;
// Workflows under the global concurrency cap (no self-wait).
mod workflow_slots;

// ---- The command-line tool and the example programs ----

// The `taskorch` binary: subcommands, exit codes, pipes, signals, the store.
mod cli;
// The video_pipeline, ml_training and api_service examples on small inputs.
mod scenarios;
