//! `taskorch runs`, `show` and `logs`: reads of the store (or of a running
//! `up`, see `client`). `--json` prints machine output: `runs` a JSON
//! array of runs, `show` one object, `logs` one JSON object per line.

use std::future::Future;
use std::path::PathBuf;

use clap::Args as ClapArgs;

use crate::{HistoryQuery, RunId, RunStatus, StreamKind};

use super::client::Source;
use super::store_dir::StoreDir;
use super::{CliError, pipe, render};

const RUNS_EXAMPLES: &str = "\
Examples:
  taskorch runs                          the 20 newest runs
  taskorch runs --status failed --limit 50
  taskorch runs --name nightly-export --json | jq '.[0].exit_code'";

const SHOW_EXAMPLES: &str = "\
Examples:
  taskorch show 0197b2c4-8a2e-7c31-9a55-3f1d2e4b6a70
  taskorch show 0197b2c4-8a2e-7c31-9a55-3f1d2e4b6a70 --json";

const LOGS_EXAMPLES: &str = "\
Examples:
  taskorch logs 0197b2c4-8a2e-7c31-9a55-3f1d2e4b6a70
  taskorch logs 0197b2c4-8a2e-7c31-9a55-3f1d2e4b6a70 --follow   (while `taskorch up` runs it)";

/// `taskorch runs`.
#[derive(Debug, ClapArgs)]
#[command(after_help = RUNS_EXAMPLES)]
pub struct RunsArgs {
    /// Only runs in this status: queued, running, succeeded, failed,
    /// cancelled, timed_out, interrupted.
    #[arg(long, value_parser = parse_status, value_name = "S")]
    pub status: Option<RunStatus>,
    /// Only runs with exactly this name.
    #[arg(long, value_name = "N")]
    pub name: Option<String>,
    /// At most this many runs (the newest).
    #[arg(long, default_value_t = 20, value_name = "K")]
    pub limit: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `taskorch show`.
#[derive(Debug, ClapArgs)]
#[command(after_help = SHOW_EXAMPLES)]
pub struct ShowArgs {
    /// The run's id (as `taskorch runs` lists it).
    #[arg(value_parser = parse_id, value_name = "ID")]
    pub id: RunId,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `taskorch logs`.
#[derive(Debug, ClapArgs)]
#[command(after_help = LOGS_EXAMPLES)]
pub struct LogsArgs {
    /// The run's id (as `taskorch runs` lists it).
    #[arg(value_parser = parse_id, value_name = "ID")]
    pub id: RunId,
    /// Keep printing new lines until the run ends (needs a running `up`;
    /// a run in a store no process holds has ended).
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Print one JSON object per line (`stream`, `seq`, `text`).
    #[arg(long)]
    pub json: bool,
}

fn parse_status(s: &str) -> Result<RunStatus, String> {
    s.parse()
}

fn parse_id(s: &str) -> Result<RunId, String> {
    s.parse().map_err(|e| format!("{e}"))
}

/// Print; a reader that went away (`| head`) is `CliError::OutputClosed`.
fn print(text: &str) -> Result<(), CliError> {
    pipe::write_stdout(text.as_bytes())
}

fn json<T: serde::Serialize>(value: &T) -> String {
    // Plain data; serializing it to a string cannot fail.
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

/// `taskorch runs`.
pub(super) async fn runs(args: RunsArgs, store: Option<PathBuf>) -> Result<i32, CliError> {
    let source = Source::open(&StoreDir::or_default(store)).await?;
    let mut query = HistoryQuery::new().limit(args.limit);
    if let Some(status) = args.status {
        query = query.status(status);
    }
    if let Some(name) = args.name {
        query = query.name(name);
    }
    let result = source.runs(query).await;
    source.close();
    let runs = result?;
    if args.json {
        print(&json(&runs))?;
    } else if runs.is_empty() {
        eprintln!("taskorch: no runs match");
    } else {
        print(&render::runs(&runs))?;
    }
    Ok(0)
}

/// `taskorch show`.
pub(super) async fn show(args: ShowArgs, store: Option<PathBuf>) -> Result<i32, CliError> {
    let source = Source::open(&StoreDir::or_default(store)).await?;
    let result = source.show(args.id).await;
    source.close();
    let details = result?;
    print(&if args.json {
        json(&details)
    } else {
        render::details(&details)
    })?;
    Ok(0)
}

/// `taskorch logs`. `shutdown` (Ctrl-C) ends a `--follow`.
pub(super) async fn logs(
    args: LogsArgs,
    store: Option<PathBuf>,
    shutdown: impl Future<Output = ()>,
) -> Result<i32, CliError> {
    let source = Source::open(&StoreDir::or_default(store)).await?;
    let json = args.json;
    let read = source.logs(args.id, args.follow, |line| {
        if json {
            let mut text = serde_json::to_string(&line).unwrap_or_default();
            text.push('\n');
            return print(&text);
        }
        match line.stream {
            StreamKind::Stdout => print(&format!("{}\n", line.text)),
            StreamKind::Stderr => pipe::write_stderr(format!("{}\n", line.text).as_bytes()),
        }
    });
    let result = tokio::select! {
        result = read => result.map(Some),
        () = shutdown => Ok(None),
    };
    source.close();
    match result? {
        Some(dropped) if dropped > 0 && !json => {
            eprintln!("taskorch: {dropped} earlier lines were no longer kept");
            Ok(0)
        }
        Some(_) => Ok(0),
        None => Ok(super::run::INTERRUPTED),
    }
}
