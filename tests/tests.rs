//! Integration tests: one binary, one module per capability.
//!
//! Run one module with `cargo test --all-features --test tests <module>::`.
//! Shared fixtures (the `Runtime` whose Drop aborts, `wait_until`,
//! `wait_for`, `wait_for_status`, pid checks) are in `common`.

mod common;

// The six patterns, one module each, and automatic selection.
mod simple; // Simple: `orch.run(task)`, errors, retries, the registry entry
mod long_running; // LongRunning: `orch.stream`, `output`, `subscribe_output`, `cancel`
mod long_running_bytes; // LongRunning: byte-exact chunks and back-pressure of the run's own stream
mod periodic; // Periodic: schedules on paused time; one real-process shutdown test
mod batch; // Concurrent: `run_batch` and `orch.batch(spec)` (fail-fast, time-out, progress)
mod graph; // task graphs: dependencies, priorities, resources, cancel, shutdown
mod graph_props; // task graphs: property test of random DAGs against their invariants
mod pool; // Pooled: routing, queueing, time-outs, worker crashes, recycling, resize, close
mod launch; // FireAndForget: `launch`, `status`, `wait`, `cancel`, `find_runs`, retention
mod execute; // automatic selection: `orch.execute(Request)` and conflicting options

// What a crash of each pattern's actor does to callers, runs and processes.
mod crash; // the executor: no hung caller, no orphan, back for the next request
mod long_running_crash; // the executor mid-stream: run interrupted, lines kept
mod periodic_crash; // the scheduler: state kept outside, no tick fired twice or lost
mod batch_crash; // the batch coordinator mid-batch: finished results kept, rest interrupted
mod graph_crash; // the batch coordinator mid-graph: adopted by the next incarnation
mod pool_crash; // the pool keeper: pools restored, queued requests survive
mod launch_crash; // the launcher: launched runs keep going; shutdown still ends them
mod run_panic; // a panic inside a run's own task ends the run in every pattern

// Processes and limits.
mod containment; // process groups, leader exit as a subreaper, the guardian after `kill -9`
mod environment; // a child's working directory and environment
mod output_loss; // a cut capture is reported (bytes dropped) on every surface
mod limits; // memory bounds: output ceiling, event ring bounds
mod poison; // durations and values no clock can hold are refused where they enter
mod shutdown; // graceful shutdown: reverse order, runs ended, no orphans, idempotent

// Durable state (the redb store).
mod durable; // history, output and outcomes across a restart; queued runs started once
mod durable_crash; // `kill -9` of the durable example at seeded points: nothing lost or run twice
mod durable_graph; // task graphs adopted after a `kill -9`
mod durable_workflow; // the halt and workflows across a `kill -9`
mod durable_faults; // failing commits: typed refusal, reopen, nothing acknowledged lost
mod durable_store; // damaged store files refused untouched; file permissions

// Operations: workflows, events, halt, breakers, tracing, faults.
mod workflow; // workflows end to end: data between blocks, command templates, risk limits
mod workflow_slots; // workflows under the global concurrency cap (no self-wait)
mod events; // the event stream: order, JSON form, lagging subscribers
mod halt; // emergency halt and resume; risk limits that halt
mod breaker; // circuit breakers with real processes
mod trace; // the message trace, its exports, `tracing` spans, `TRACEPARENT`
mod logging; // structured logging (JSON lines) and the config presets
mod panic_hook; // the runtime's panic hook chains to the application's
mod fault; // fault injection: each fault in every actor, aimed faults, refusals
mod chaos; // the seeded chaos harness over every pattern, invariants checked

// The command-line tool and the example programs.
mod cli; // the `taskorch` binary: subcommands, exit codes, pipes, signals, the store
mod scenarios; // the video_pipeline, ml_training and api_service examples on small inputs
