//! Where each job's output waits for its turn, and the thread that prints
//! it in input order as soon as order allows (like `parallel -k`).
//!
//! # Why files, and why the child writes them itself
//! Each job's stdout and stderr are two files of its own in a temporary
//! directory, opened by the job's own shell (`exec >>OUT 2>>ERR`) before it
//! becomes the command: the child writes straight to disk, nothing of its
//! output passes through the runtime's capture (which is bounded, 1 MiB a
//! stream, and kept in memory), so no byte is cut and memory does not grow
//! with the output. Disk holds only what still waits for its turn: a job's
//! files are removed once printed, the directory when the batch ends.
//! (The runtime's byte-level API would stream through memory instead and
//! is not needed for this: a file is the spool.)
//!
//! # Order
//! The first job not yet printed is *live*: its files are followed as it
//! writes them, so its output appears while it runs. The others wait on
//! disk; when the live one ends, the next one's spooled output is printed
//! at once and it becomes live in turn. Per job, stdout goes to stdout and
//! stderr to stderr, each in the order written.
//!
//! # Caveats
//! With `--retries`, the files are appended to, so every attempt's output
//! is printed (a live job's first attempt may already be on screen). The
//! live job writes to its file too (its output is fixed when it starts), so
//! a reader slower than the job leaves the difference on disk, as with
//! `parallel -k`. A
//! `kill -9` of taskorch leaves the directory behind in the system's
//! temporary directory.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::{Task, TaskKind};

use super::super::CliError;

/// The job's shell: both streams to its files (appended, so a retry adds
/// to them), then the command itself in its place (`exec`, no extra
/// process; the runtime's time-out and stop reach it as before).
const WRAPPER: &str = r#"exec >>"$1" 2>>"$2"; shift 2; exec "$@""#;

/// The system shell, as the runtime uses it for `Task::shell`.
const SHELL: &str = "/bin/sh";

/// How often the live job's files are looked at for new bytes.
const TICK: Duration = Duration::from_millis(20);

/// The spool directory of one batch; removed (with what is left in it) on
/// drop.
#[derive(Debug)]
pub(crate) struct Spool {
    dir: tempfile::TempDir,
}

impl Spool {
    pub(crate) fn new() -> Result<Spool, CliError> {
        let dir = tempfile::Builder::new()
            .prefix("taskorch-batch-")
            .tempdir()
            .map_err(CliError::io("creating the batch's spool directory"))?;
        Ok(Spool { dir })
    }

    /// `task` (the `index`th of the batch) with its output sent to its
    /// files. A command whose program is not on `PATH` (or not executable)
    /// is left as it is, so the runtime reports it as before (`NotFound`,
    /// `PermissionDenied`: "not started", exit 127/126); so is an
    /// in-process action, which has no output.
    pub(crate) fn wrap(&self, index: usize, task: Task) -> Task {
        let command: Vec<String> = match task.kind() {
            TaskKind::Command { program, args } if runnable(program) => {
                std::iter::once(program.clone())
                    .chain(args.iter().cloned())
                    .collect()
            }
            TaskKind::Shell { script } if cfg!(unix) => {
                vec![SHELL.into(), "-c".into(), script.clone()]
            }
            _ => return task,
        };
        let [out, err] = files(self.dir.path(), index);
        let mut wrapped = Task::command(SHELL)
            .args(["-c".to_string(), WRAPPER.into(), "sh".into()])
            .args([out, err].map(|p| p.to_string_lossy().into_owned()))
            .args(command)
            .name(task.display_name())
            .retries(task.retry_count())
            .backoff(*task.backoff_policy());
        for (key, value) in task.env_vars() {
            wrapped = wrapped.env(key, value);
        }
        if let Some(dir) = task.dir() {
            wrapped = wrapped.current_dir(dir);
        }
        if let Some(bytes) = task.stdin_bytes() {
            wrapped = wrapped.stdin(bytes.to_vec());
        }
        if let Some(limit) = task.time_limit() {
            wrapped = wrapped.timeout(limit);
        }
        wrapped
    }

    /// Bytes job `index` wrote so far (both streams): the joblog's
    /// `Receive`. Call before the job is handed to the printer, which
    /// removes its files once printed.
    pub(crate) fn received(&self, index: usize) -> u64 {
        files(self.dir.path(), index)
            .iter()
            .filter_map(|path| path.metadata().ok())
            .map(|m| m.len())
            .sum()
    }

    /// Start the printer of `total` jobs. It must be finished before the
    /// spool is dropped (the borrow says so). The receiver resolves when
    /// the printer stops: once all is printed, or at once when writing
    /// failed (the reader of our output went away), so the caller can stop
    /// the batch rather than spool output nobody will read.
    pub(crate) fn printer(&self, total: usize) -> (Printer<'_>, oneshot::Receiver<()>) {
        let (tx, rx) = mpsc::channel();
        let (stopped, on_stop) = oneshot::channel();
        let dir = self.dir.path().to_path_buf();
        let thread = std::thread::spawn(move || {
            let result = print_in_order(&dir, total, &rx);
            drop(stopped);
            result
        });
        let printer = Printer {
            tx: Some(tx),
            thread: Some(thread),
            _spool: self,
        };
        (printer, on_stop)
    }
}

/// Whether `program` will be found and can be executed; one with a `/`
/// is left to the shell (relative to the job's `cwd`).
#[cfg(unix)]
fn runnable(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    if program.contains('/') {
        return true;
    }
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| {
        dir.join(program)
            .metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// Elsewhere there is no `sh` to wrap with: the runtime captures output as
/// before.
#[cfg(not(unix))]
fn runnable(_program: &str) -> bool {
    false
}

fn files(dir: &Path, index: usize) -> [PathBuf; 2] {
    [
        dir.join(format!("{index}.out")),
        dir.join(format!("{index}.err")),
    ]
}

/// A job that ended: its index and what the runtime captured of it (empty
/// for a wrapped job, whose output is in its files).
struct Ended {
    index: usize,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// The printing thread of a [`Spool`].
#[derive(Debug)]
pub(crate) struct Printer<'a> {
    tx: Option<mpsc::Sender<Ended>>,
    thread: Option<JoinHandle<io::Result<()>>>,
    _spool: &'a Spool,
}

impl Printer<'_> {
    /// Job `index` ended. Ignored once the printer has stopped (its
    /// output failed: [`finish`](Self::finish) says why).
    pub(crate) fn ended(&self, index: usize, stdout: Vec<u8>, stderr: Vec<u8>) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Ended {
                index,
                stdout,
                stderr,
            });
        }
    }

    /// Print what is left in order and stop.
    ///
    /// # Errors
    /// The first error writing stdout or stderr (`BrokenPipe` when the
    /// reader went away).
    pub(crate) fn finish(mut self) -> io::Result<()> {
        self.tx = None;
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("the batch's output thread panicked")),
            None => Ok(()),
        }
    }
}

impl Drop for Printer<'_> {
    fn drop(&mut self) {
        // An early return of the caller: the thread must not read a spool
        // being removed.
        self.tx = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The printer's loop: take ended jobs, print every job whose turn has
/// come, follow the live one.
fn print_in_order(dir: &Path, total: usize, rx: &mpsc::Receiver<Ended>) -> io::Result<()> {
    // Only jobs that ended out of order wait here, and only their
    // (normally empty) captures: the output itself is on disk.
    let mut waiting: BTreeMap<usize, Ended> = BTreeMap::new();
    let mut next = 0;
    let mut live = Live::default();
    let mut open = true;
    while next < total {
        match rx.recv_timeout(TICK) {
            Ok(ended) => {
                waiting.insert(ended.index, ended);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => open = false,
        }
        while let Some(ended) = waiting.remove(&next) {
            live.follow(dir, next)?;
            io::stdout().write_all(&ended.stdout)?;
            io::stderr().write_all(&ended.stderr)?;
            live = Live::default();
            for path in files(dir, next) {
                let _ = std::fs::remove_file(path);
            }
            next += 1;
        }
        if !open {
            // The batch is over (or gave up): every job that ended is
            // printed; the others never will.
            break;
        }
        if next < total {
            live.follow(dir, next)?;
        }
    }
    io::stdout().flush()
}

/// The files of the live job, opened once they exist.
#[derive(Default)]
struct Live {
    out: Option<File>,
    err: Option<File>,
}

impl Live {
    /// Copy whatever job `index` wrote since the last look.
    fn follow(&mut self, dir: &Path, index: usize) -> io::Result<()> {
        let [out, err] = files(dir, index);
        if let Some(file) = open(&mut self.out, &out)? {
            let mut stdout = io::stdout().lock();
            io::copy(file, &mut stdout)?;
            stdout.flush()?;
        }
        if let Some(file) = open(&mut self.err, &err)? {
            io::copy(file, &mut io::stderr().lock())?;
        }
        Ok(())
    }
}

/// `slot`'s file, opening `path` if it exists by now.
fn open<'a>(slot: &'a mut Option<File>, path: &Path) -> io::Result<Option<&'a mut File>> {
    if slot.is_none() {
        match File::open(path) {
            Ok(file) => *slot = Some(file),
            // Not started yet, or never (a job that could not run).
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    Ok(slot.as_mut())
}
