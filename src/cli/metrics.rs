//! `taskorch metrics`: the live runtime metrics of a running `taskorch up`
//! (`Orchestrator::metrics`), asked over its socket. They are figures of a
//! live process (rates, queue depths, restarts), so a store no `up` serves
//! has none: that is [`CliError::NotRunning`]. `--json` prints the
//! snapshot's own JSON form (durations in seconds, `*_seconds` fields).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args as ClapArgs;

use crate::Metrics;
use crate::metrics::LatencySummary;

use super::store_dir::StoreDir;
use super::{CliError, client, pipe, render};

const EXAMPLES: &str = "\
Examples:
  taskorch metrics                       while `taskorch up` runs on ./.taskorch
  taskorch metrics --store /srv/jobs --json | jq '.runs.finished'";

/// `taskorch metrics`.
#[derive(Debug, ClapArgs)]
#[command(after_help = EXAMPLES)]
pub struct MetricsArgs {
    /// Print the snapshot as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `taskorch metrics`.
pub(super) async fn run(args: MetricsArgs, store: Option<PathBuf>) -> Result<i32, CliError> {
    let metrics = client::live_metrics(&StoreDir::or_default(store)).await?;
    let text = if args.json {
        // Plain data; serializing it to a string cannot fail.
        let mut text = serde_json::to_string_pretty(&metrics).unwrap_or_default();
        text.push('\n');
        text
    } else {
        human(&metrics)
    };
    pipe::write_stdout(text.as_bytes())?;
    Ok(0)
}

/// The snapshot for people: one figure per line.
fn human(m: &Metrics) -> String {
    let mut out = String::new();
    let state = if m.running {
        "running"
    } else {
        "shutting down"
    };
    let _ = writeln!(
        out,
        "uptime        {} ({state})",
        render::duration(m.uptime)
    );
    let finished: Vec<String> = m
        .runs
        .finished
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(status, n)| format!("{status} {n}"))
        .collect();
    let _ = writeln!(
        out,
        "runs          submitted {}, started {}, finished {}{}",
        m.runs.submitted,
        m.runs.started,
        m.runs.finished_total(),
        if finished.is_empty() {
            String::new()
        } else {
            format!(" ({})", finished.join(", "))
        }
    );
    let _ = writeln!(
        out,
        "rates         {:.2} starts/s, {:.2} finishes/s (last {})",
        m.starts_per_second,
        m.finishes_per_second,
        render::duration(m.rate_window)
    );
    for (name, q) in &m.queues {
        let _ = writeln!(
            out,
            "queue {name:<8}{} queued, {} running of {}{}",
            q.queued,
            q.running,
            q.concurrency,
            if q.paused { " (paused)" } else { "" }
        );
    }
    let _ = writeln!(out, "queue wait    {}", latency(&m.queue_wait));
    let _ = writeln!(out, "run time      {}", latency(&m.run_time));
    if let Some(store) = &m.store {
        let _ = writeln!(
            out,
            "store         {} commits, {}",
            store.commits,
            latency(&store.commit_latency)
        );
    }
    let restarts: Vec<String> = m
        .actors
        .iter()
        .map(|(name, a)| format!("{name} {}", a.restarts))
        .collect();
    let _ = writeln!(out, "restarts      {}", restarts.join(", "));
    out
}

fn latency(l: &LatencySummary) -> String {
    let at = |d: Option<Duration>| d.map_or("-".to_string(), short);
    format!(
        "p50 {}, p90 {}, p99 {}, max {} (last {} of {})",
        at(l.p50),
        at(l.p90),
        at(l.p99),
        at(l.max),
        l.window,
        l.count
    )
}

/// A latency for people: microseconds below a millisecond (commits and
/// queue waits often are), then as `render::duration`.
fn short(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        format!("{}us", d.as_micros())
    } else if d < Duration::from_secs(1) {
        format!("{:.1}ms", d.as_secs_f64() * 1e3)
    } else {
        render::duration(d)
    }
}
