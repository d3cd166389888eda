//! `taskorch runs`, `show` and `logs`: reads of the store (or of a running
//! `up`, see `client`). `--json` prints machine output (see `json`):
//! `runs` a JSON array of runs, `show` one run, `logs` one JSON object per
//! line. Run ids may be short (see `ids`).

use std::future::Future;
use std::path::PathBuf;
use std::time::SystemTime;

use clap::Args as ClapArgs;

use crate::{RunStatus, StreamKind};

use super::client::Source;
use super::store_dir::StoreDir;
use super::wire::RunsFilter;
use super::{CliError, ids, json as json_out, pipe, render};

const RUNS_EXAMPLES: &str = "\
Examples:
  taskorch runs                          the 20 newest runs
  taskorch runs --status failed --limit 50
  taskorch runs --dead                   runs that failed after every attempt (then `taskorch rerun ID`)
  taskorch runs --name nightly-export --json | jq '.[0].exit_code'
  taskorch runs --label bot=b-7 --label strategy=mean   (both labels)
  taskorch runs --key training_session_123";

const SHOW_EXAMPLES: &str = "\
Examples:
  taskorch show 0197b2c4-8a2e-7c31-9a55-3f1d2e4b6a70
  taskorch show 2e4b6a70 --json      (the short id `taskorch runs` prints)";

const LOGS_EXAMPLES: &str = "\
Examples:
  taskorch logs 0197b2c4-8a2e-7c31-9a55-3f1d2e4b6a70
  taskorch logs 2e4b6a70 --follow   (short id; while `taskorch up` runs it)
  taskorch logs 2e4b6a70 --timestamps   (each line with the time it was captured)";

/// `taskorch runs`.
#[derive(Debug, ClapArgs)]
#[command(after_help = RUNS_EXAMPLES)]
pub struct RunsArgs {
    /// Only runs in this status: queued, running, succeeded, failed,
    /// cancelled, timed_out, interrupted.
    #[arg(long, value_parser = parse_status, value_name = "S")]
    pub status: Option<RunStatus>,
    /// Only dead letters: runs that failed for good, every attempt their
    /// task allowed used up (they ended `failed` or `timed_out`; cancelled
    /// and interrupted runs are not). With `--status`, runs in either.
    #[arg(long)]
    pub dead: bool,
    /// Only runs with exactly this name.
    #[arg(long, value_name = "N")]
    pub name: Option<String>,
    /// Only runs labelled `k=v` (`Task::label`). Repeatable: runs that
    /// carry every one of the labels.
    #[arg(long = "label", value_parser = super::job_args::parse_label, value_name = "K=V")]
    pub labels: Vec<(String, String)>,
    /// Only runs whose task carried this key (`Task::key`).
    #[arg(long, value_parser = super::job_args::parse_key, value_name = "KEY")]
    pub key: Option<String>,
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
    /// The run's id: the full id, or a unique suffix of at least 6 hex
    /// digits (`taskorch runs` prints one).
    #[arg(value_parser = ids::parse, value_name = "ID")]
    pub id: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `taskorch logs`.
#[derive(Debug, ClapArgs)]
#[command(after_help = LOGS_EXAMPLES)]
pub struct LogsArgs {
    /// The run's id: the full id, or a unique suffix of at least 6 hex
    /// digits (`taskorch runs` prints one).
    #[arg(value_parser = ids::parse, value_name = "ID")]
    pub id: String,
    /// Keep printing new lines until the run ends (needs a running `up`;
    /// a run in a store no process holds has ended).
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Print one JSON object per line (`stream`, `seq`, `text`; with
    /// `--timestamps` also `time`).
    #[arg(long)]
    pub json: bool,
    /// Prefix each line with the time it was captured (RFC 3339, UTC,
    /// milliseconds, as `stream --timestamps`; `--json` adds `time`, to
    /// the microsecond). Lines of a run stored by a release that kept no
    /// times show `-` (`null` in JSON).
    #[arg(long, short = 't')]
    pub timestamps: bool,
}

/// A line's `--timestamps` prefix: as `stream --timestamps` prints it, or
/// `-` for a line whose time the store does not have.
fn stamp(time: Option<SystemTime>) -> String {
    time.map_or_else(
        || "-".to_string(),
        |t| humantime::format_rfc3339_millis(t).to_string(),
    )
}

fn parse_status(s: &str) -> Result<RunStatus, String> {
    s.parse()
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
    let filter = RunsFilter {
        name: args.name,
        status: args.status,
        limit: Some(args.limit),
        key: args.key,
        labels: args.labels,
        dead: args.dead,
    };
    let result = match source.runs(filter).await {
        Ok(runs) => source.ids().await.map(|all| (runs, all)),
        Err(e) => Err(e),
    };
    source.close();
    let (runs, all) = result?;
    let shorts: Vec<String> = runs.iter().map(|r| ids::short(r.info.id, &all)).collect();
    if args.json {
        let runs: Vec<json_out::Run> = runs
            .iter()
            .zip(shorts)
            .map(|(r, short)| json_out::Run::new(r, short))
            .collect();
        print(&json(&runs))?;
    } else if runs.is_empty() {
        eprintln!("taskorch: no runs match");
    } else {
        print(&render::runs(&runs, &shorts))?;
    }
    Ok(0)
}

/// `taskorch show`.
pub(super) async fn show(args: ShowArgs, store: Option<PathBuf>) -> Result<i32, CliError> {
    let source = Source::open(&StoreDir::or_default(store)).await?;
    let result = async {
        let id = source.resolve(&args.id).await?;
        let details = source.show(id).await?;
        let all = source.ids().await?;
        Ok::<_, CliError>((details, ids::short(id, &all)))
    }
    .await;
    source.close();
    let (details, short) = result?;
    print(&if args.json {
        json(&json_out::Run::new(&details, short))
    } else {
        render::details(&details, &short)
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
    let id = match source.resolve(&args.id).await {
        Ok(id) => id,
        Err(e) => {
            source.close();
            return Err(e);
        }
    };
    let (json, timestamps) = (args.json, args.timestamps);
    let read = source.logs(id, args.follow, |line, time| {
        if json {
            let mut text = if timestamps {
                serde_json::to_string(&json_out::Line::new(&line, time))
            } else {
                serde_json::to_string(&line)
            }
            .unwrap_or_default();
            text.push('\n');
            return print(&text);
        }
        let text = if timestamps {
            format!("{} {}\n", stamp(time), line.text)
        } else {
            format!("{}\n", line.text)
        };
        match line.stream {
            StreamKind::Stdout => print(&text),
            StreamKind::Stderr => pipe::write_stderr(text.as_bytes()),
        }
    });
    let result = tokio::select! {
        result = read => result.map(Some),
        () = shutdown => Ok(None),
    };
    // Loss is never silent: the capture's cut (`max_output`) is part of
    // the run's outcome, so it is read once the lines are out.
    let details = match result {
        Ok(Some(_)) => source.show(id).await.ok(),
        _ => None,
    };
    source.close();
    let Some(dropped) = result? else {
        return Ok(super::run::INTERRUPTED);
    };
    if dropped > 0 {
        eprintln!("taskorch: {dropped} earlier lines were no longer kept");
    }
    if let Some(details) = details {
        for note in render::truncation_notes(&details) {
            eprintln!("taskorch: {note}");
        }
    }
    Ok(0)
}
