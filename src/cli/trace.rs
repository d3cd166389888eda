//! `taskorch trace`: the message trace of the last process that worked on
//! the store (`up` writes its trace when it exits, and on request while it
//! runs; `run`, `stream` and `batch` with `--store` when they exit).
//!
//! Without options: a summary per actor (events, worst queue time, worst
//! handling time; every time in milliseconds). `--chrome FILE` writes the
//! Chrome trace (open it in <https://ui.perfetto.dev>; `-` for stdout);
//! `--json` prints the events as JSON lines in the read commands' JSON
//! style: the wall-clock time an event started as RFC 3339
//! (`started_at`), every duration in seconds (`queue_secs`,
//! `handling_secs`, and `enqueued_secs`, `started_secs`, `ended_secs`
//! counted from the start of the trace).

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
  taskorch trace --chrome - | gzip > trace.json.gz
  taskorch trace --json | jq 'select(.kind == \"run\") | .handling_secs'";

/// `taskorch trace`.
#[derive(Debug, ClapArgs)]
#[command(after_help = EXAMPLES)]
pub struct TraceArgs {
    /// Write the trace in the Chrome trace format to FILE (`-`: standard
    /// output).
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
        if out.as_os_str() == "-" {
            let chrome = std::fs::read(dir.trace_chrome()).map_err(CliError::io(format!(
                "reading {}",
                dir.trace_chrome().display()
            )))?;
            print(&chrome)?;
        } else {
            std::fs::copy(dir.trace_chrome(), out)
                .map_err(CliError::io(format!("writing {}", out.display())))?;
            eprintln!(
                "taskorch: wrote {} ({} events); open it in https://ui.perfetto.dev",
                out.display(),
                text.lines().count()
            );
        }
    }
    if args.json {
        print(json_lines(&text)?.as_bytes())?;
    } else if args.chrome.is_none() {
        print(summary(&text)?.as_bytes())?;
    }
    Ok(0)
}

fn no_trace(dir: &StoreDir) -> CliError {
    CliError::Usage(format!(
        "no trace in {} yet: `taskorch up` writes one (and `run`/`batch` with --store) when it exits",
        dir.dir.display()
    ))
}

/// Write to stdout, ignoring a reader that went away (`| head`).
fn print(bytes: &[u8]) -> Result<(), CliError> {
    pipe::write_stdout(bytes)
}

/// The trace file's events (times in `_ns` and `_unix_us` integers, as
/// the runtime writes them) in the JSON style of the read commands (see
/// the module docs). Other fields pass through unchanged.
fn json_lines(text: &str) -> Result<String, CliError> {
    let mut out = String::with_capacity(text.len());
    for (n, line) in text.lines().enumerate() {
        let event: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line)
            .map_err(|e| CliError::Usage(format!("trace line {}: {e}", n + 1)))?;
        let mut converted = serde_json::Map::with_capacity(event.len());
        for (key, value) in event {
            if let Some(base) = key.strip_suffix("_ns") {
                let secs = value
                    .as_u64()
                    .map(|ns| super::json::seconds(Duration::from_nanos(ns)));
                converted.insert(format!("{base}_secs"), secs.into());
            } else if key == "started_unix_us" {
                let at = value
                    .as_u64()
                    .map(|us| super::json::time(std::time::UNIX_EPOCH + Duration::from_micros(us)));
                converted.insert("started_at".into(), at.into());
            } else {
                converted.insert(key, value);
            }
        }
        // A map of plain values: serializing it cannot fail.
        out.push_str(&serde_json::to_string(&converted).unwrap_or_default());
        out.push('\n');
    }
    Ok(out)
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
    // One unit for every column, so they compare at a glance.
    let us = |ns: u64| format!("{:.3}", ns as f64 / 1e6);
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
            "WORST QUEUE ms",
            "WORST HANDLING ms",
            "TOTAL HANDLING ms",
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
