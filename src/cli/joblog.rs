//! `batch --joblog FILE`: one line per finished job, in GNU parallel's
//! joblog format (tab-separated, with a header), so tools that read
//! parallel's joblogs read ours:
//!
//! ```text
//! Seq  Host  Starttime  JobRuntime  Send  Receive  Exitval  Signal  Command
//! 1    :     1718000000.123  0.004  0     6        0        0       echo hello
//! ```
//!
//! `Starttime` is seconds since the epoch, `JobRuntime` seconds; `Host` is
//! always `:` (this machine) and `Send` 0; `Receive` is every byte the job
//! wrote (both streams). A job that could not start (program not found)
//! has the shell's `Exitval` (127, or 126 when not executable), one that
//! timed out 124 (as GNU parallel and `timeout(1)`), one that was
//! cancelled -1; one killed by a signal has `Exitval` -1 and the signal.
//!
//! Each line is written (and flushed to the file) the moment its job
//! ends, in the order jobs end: a batch killed midway leaves every finished
//! job in the log.
//!
//! `--resume` reads the log first and skips every job whose command has a
//! line with `Exitval` 0 and `Signal` 0 (by command text, each line
//! counting once, so a command listed twice runs twice unless it succeeded
//! twice); new lines are appended.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::CliError;

const HEADER: &str = "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand";

/// One finished job.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) seq: usize,
    pub(super) start: SystemTime,
    pub(super) runtime: Duration,
    pub(super) received: u64,
    pub(super) exit: i32,
    pub(super) signal: i32,
    pub(super) command: String,
}

/// An open joblog.
#[derive(Debug)]
pub(super) struct JobLog {
    path: PathBuf,
    out: BufWriter<File>,
}

/// Commands that already succeeded, with how many times.
pub(super) fn succeeded(path: &Path) -> Result<HashMap<String, usize>, CliError> {
    let mut done = HashMap::new();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        // Nothing ran yet: nothing to skip.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(done),
        Err(e) => {
            return Err(CliError::io(format!("reading joblog {}", path.display()))(
                e,
            ));
        }
    };
    for line in text.lines().skip_while(|l| l.starts_with("Seq\t")) {
        let fields: Vec<&str> = line.splitn(9, '\t').collect();
        if let [_, _, _, _, _, _, exit, signal, command] = fields[..]
            && exit == "0"
            && signal == "0"
        {
            *done.entry(command.to_string()).or_insert(0) += 1;
        }
    }
    Ok(done)
}

impl JobLog {
    /// Open `path`: appended to when resuming, replaced otherwise.
    pub(super) fn open(path: &Path, append: bool) -> Result<JobLog, CliError> {
        let context = || format!("opening joblog {}", path.display());
        let exists = path.metadata().is_ok_and(|m| m.len() > 0);
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(path)
            .map_err(CliError::io(context()))?;
        let mut log = JobLog {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
        };
        if !(append && exists) {
            log.write_line(HEADER)?;
        }
        Ok(log)
    }

    /// Append one job, flushed at once (see the module docs).
    pub(super) fn write(&mut self, e: &Entry) -> Result<(), CliError> {
        let start = e
            .start
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        // A command is one line of the input, so it holds no newline; a
        // tab would shift the columns, so it is written as a space.
        let command = e.command.replace(['\t', '\n'], " ");
        let line = format!(
            "{}\t:\t{start:.3}\t{:.3}\t0\t{}\t{}\t{}\t{command}",
            e.seq,
            e.runtime.as_secs_f64(),
            e.received,
            e.exit,
            e.signal
        );
        self.write_line(&line)?;
        self.out.flush().map_err(CliError::io(format!(
            "writing joblog {}",
            self.path.display()
        )))
    }

    fn write_line(&mut self, line: &str) -> Result<(), CliError> {
        writeln!(self.out, "{line}").map_err(CliError::io(format!(
            "writing joblog {}",
            self.path.display()
        )))
    }

    /// Flush what is buffered.
    pub(super) fn finish(mut self) -> Result<(), CliError> {
        self.out.flush().map_err(CliError::io(format!(
            "writing joblog {}",
            self.path.display()
        )))
    }
}
