//! `taskorch trace`: the message trace of the last process that worked on
//! the store (`up` writes its trace when it exits, and on request while it
//! runs; `run`, `stream` and `batch` with `--store` when they exit).
//!
//! Without options: a summary per actor (events, worst queue time, worst
//! handling time). `--chrome FILE` writes the Chrome trace (open it in
//! <https://ui.perfetto.dev>); `--json` prints the events as JSON lines.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args as ClapArgs;
use serde::Deserialize;

use super::client::Source;
use super::store_dir::StoreDir;
use super::{CliError, pipe, render};

const EXAMPLES: &str = "\
Examples:
  taskorch trace                          per-actor summary
  taskorch trace --chrome trace.json      then open it in https://ui.perfetto.dev
  taskorch trace --json | jq 'select(.kind == \"run\")'";

/// `taskorch trace`.
#[derive(Debug, ClapArgs)]
#[command(after_help = EXAMPLES)]
pub struct TraceArgs {
    /// Write the trace in the Chrome trace format to FILE.
    #[arg(long, value_name = "FILE")]
    pub chrome: Option<PathBuf>,
    /// Print the events as JSON lines.
    #[arg(long)]
    pub json: bool,
}

/// The fields of a JSON-lines event the summary reads.
#[derive(Deserialize)]
struct Event {
    kind: String,
    actor: String,
    outcome: String,
    queue_ns: Option<u64>,
    handling_ns: u64,
}

#[derive(Default)]
struct PerActor {
    events: usize,
    failed: usize,
    worst_queue: u64,
    worst_handling: u64,
    total_handling: u64,
}

/// `taskorch trace`.
pub(super) async fn run(args: TraceArgs, store: Option<PathBuf>) -> Result<i32, CliError> {
    let dir = StoreDir::or_default(store);
    if !dir.trace_jsonl().exists() && !dir.socket().exists() {
        return Err(no_trace(&dir));
    }
    // A live `up` writes its trace so far; otherwise the files are what
    // the last process left. The store file itself is not opened.
    if dir.socket().exists()
        && let Ok(source) = Source::open(&dir).await
    {
        let refreshed = source.refresh_trace().await;
        source.close();
        refreshed?;
    }
    let jsonl = dir.trace_jsonl();
    let text = std::fs::read_to_string(&jsonl).map_err(|_| no_trace(&dir))?;
    if let Some(out) = &args.chrome {
        std::fs::copy(dir.trace_chrome(), out)
            .map_err(CliError::io(format!("writing {}", out.display())))?;
        eprintln!(
            "taskorch: wrote {} ({} events); open it in https://ui.perfetto.dev",
            out.display(),
            text.lines().count()
        );
    }
    if args.json {
        pipe::write_stdout(text.as_bytes())?;
    } else if args.chrome.is_none() {
        pipe::write_stdout(summary(&text)?.as_bytes())?;
    }
    Ok(0)
}

fn no_trace(dir: &StoreDir) -> CliError {
    CliError::Usage(format!(
        "no trace in {} yet: `taskorch up` writes one (and `run`/`batch` with --store) when it exits",
        dir.dir.display()
    ))
}

fn summary(text: &str) -> Result<String, CliError> {
    let mut actors: BTreeMap<String, PerActor> = BTreeMap::new();
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let e: Event = serde_json::from_str(line)
            .map_err(|e| CliError::Usage(format!("trace line {}: {e}", n + 1)))?;
        *kinds.entry(e.kind).or_default() += 1;
        let a = actors.entry(e.actor).or_default();
        a.events += 1;
        a.failed += usize::from(e.outcome != "ok");
        a.worst_queue = a.worst_queue.max(e.queue_ns.unwrap_or(0));
        a.worst_handling = a.worst_handling.max(e.handling_ns);
        a.total_handling += e.handling_ns;
    }
    let us = |ns: u64| render::duration_us(Duration::from_nanos(ns));
    let rows: Vec<Vec<String>> = actors
        .iter()
        .map(|(name, a)| {
            vec![
                name.clone(),
                a.events.to_string(),
                a.failed.to_string(),
                us(a.worst_queue),
                us(a.worst_handling),
                us(a.total_handling),
            ]
        })
        .collect();
    let mut out = render::table(
        &[
            "ACTOR",
            "EVENTS",
            "NOT OK",
            "WORST QUEUE",
            "WORST HANDLING",
            "TOTAL HANDLING",
        ],
        &rows,
    );
    let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
    out.push_str(&format!(
        "\n{} events: {}\n",
        text.lines().count(),
        kinds.join(", ")
    ));
    Ok(out)
}
