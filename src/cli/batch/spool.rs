//! Where each job's output waits for its turn, and the thread that prints
//! it in input order as soon as order allows (like `parallel -k`).
//!
//! # Why files
//! Each job's stdout and stderr are two files of its own in a temporary
//! directory, which the runtime appends every byte to as it reads them
//! (`Task::tee_output`): nothing is cut and memory does not grow with the
//! output, while the run's own capture (bounded, 1 MiB a stream) still
//! goes to the store, so `show`/`logs` of a batch job work as for any run.
//! Disk holds only what still waits for its turn: a job's files are
//! removed once printed, the directory when the batch ends.
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

use crate::Task;

use super::super::CliError;

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

    /// `task` (the `index`th of the batch) with its output copied to its
    /// files as it is read (appended, so a retry adds to them). An
    /// in-process action has no output to copy and is left as it is.
    pub(crate) fn wrap(&self, index: usize, task: Task) -> Task {
        if task.is_action() {
            return task;
        }
        let [out, err] = files(self.dir.path(), index);
        task.tee_output(out, err)
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

fn files(dir: &Path, index: usize) -> [PathBuf; 2] {
    [
        dir.join(format!("{index}.out")),
        dir.join(format!("{index}.err")),
    ]
}

/// A job that ended: its index and what the runtime captured of it (empty
/// for a job whose output was copied to its files).
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
