//! `taskorch rerun ID`: start a finished run's task again, as a new run
//! linked to the old one ([`Orchestrator::rerun`]), wait for it, and exit
//! with its code.
//!
//! # How it runs
//! It opens the store read-write (default `./.taskorch/`; a missing store
//! is [`CliError::NoStore`], as for the read commands), as `run --store`
//! does: the new run is kept in the history with its `rerun_of` link, and
//! `taskorch show` / `logs` read it afterwards. The store must be free: a
//! running `taskorch up` holds it ([`CliError::StoreInUse`]). The id may
//! be short (see `ids`). The run's output is printed when it ends (stdout
//! to ours, stderr to ours, byte for byte as captured, up to the task's
//! `max_output`), not live; a line on stderr names the new run first.
//!
//! # Exit codes
//! As `run`: the new run's exit code, 128 + N when signal N killed it, 124
//! when it timed out, 130 after Ctrl-C (which cancels it); 127 / 126 when
//! its program is gone or not executable; 1 for an unknown run, one that
//! has not ended, or one whose task the store does not hold; 2 for an
//! ambiguous short id.

use std::future::Future;
use std::path::PathBuf;

use clap::Args as ClapArgs;

use crate::{Error, Orchestrator, RunId, RunQuery};

use super::run::{exit_code, outcome_code};
use super::store_dir::{StoreDir, config_for};
use super::{CliError, ids, pipe};

const RERUN_EXAMPLES: &str = "\
Examples:
  taskorch runs --dead               runs that failed after every attempt
  taskorch rerun 2e4b6a70            run one of them again (short id), exit with its code
  taskorch show <new id>             the new run, with the run it reruns";

/// `taskorch rerun`.
#[derive(Debug, ClapArgs)]
#[command(after_help = RERUN_EXAMPLES)]
pub struct RerunArgs {
    /// The finished run to run again: the full id, or a unique suffix of
    /// at least 6 hex digits (`taskorch runs` prints one).
    #[arg(value_parser = ids::parse, value_name = "ID")]
    pub id: String,
}

/// `taskorch rerun`.
pub(super) async fn run(
    args: RerunArgs,
    store: Option<PathBuf>,
    shutdown: impl Future<Output = ()>,
) -> Result<i32, CliError> {
    let dir = StoreDir::or_default(store);
    // Starting an orchestrator would create an empty store: there would
    // be nothing to rerun in it.
    if !dir.exists() {
        return Err(CliError::NoStore(dir.dir.clone()));
    }
    let orch = dir.start(config_for(1)).await?;
    let code = rerun(&orch, &args.id, shutdown).await;
    orch.shutdown().await?;
    dir.write_trace(&orch)?;
    code
}

/// Rerun the run `text` names, wait for the new run and print its output.
async fn rerun(
    orch: &Orchestrator,
    text: &str,
    shutdown: impl Future<Output = ()>,
) -> Result<i32, CliError> {
    let all: Vec<RunId> = orch
        .observe()
        .history(&RunQuery::new())?
        .into_iter()
        .map(|run| run.id)
        .collect();
    let old = ids::resolve(text, &all)?;
    let new = match orch.rerun(old).await {
        Ok(new) => new,
        Err(Error::UnknownRun(_)) => return Err(CliError::UnknownRun(text.to_string())),
        Err(e) => return Err(CliError::from_start(e)),
    };
    eprintln!("taskorch: rerun of {old} started as {new}");
    tokio::pin!(shutdown);
    let outcome = tokio::select! {
        outcome = orch.wait(new) => outcome,
        () = &mut shutdown => {
            // The cancel of a run that just ended is refused: its outcome
            // is then what `wait` returns.
            let _ = orch.cancel(new).await;
            orch.wait(new).await
        }
    };
    match outcome {
        Ok(out) => {
            pipe::write_stdout(&out.stdout)?;
            pipe::write_stderr(&out.stderr)?;
            Ok(exit_code(&out))
        }
        Err(e) => outcome_code(e),
    }
}
