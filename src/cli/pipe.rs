//! Writing to our stdout, and what happens when the reader goes away.
//!
//! Rust ignores SIGPIPE, so a write to a pipe whose reader has exited
//! (`taskorch up | head -3`) fails with `EPIPE` instead of killing us; and
//! `println!` then panics. Every subcommand writes its output through
//! [`write_stdout`] (or [`line()`]) instead: `EPIPE` becomes
//! [`CliError::OutputClosed`], the process-wide [`closed`] future
//! resolves (so `up`, whose output comes from many tasks, notices it in
//! one place), and the subcommand stops its children as after Ctrl-C and
//! returns the error. The binary maps it to exit 141 (128 + SIGPIPE) with
//! no message, as `seq 1000000 | head -1` leaves `seq`.
//!
//! stdout is one per process, so the "closed" state is too: a static, not
//! a value threaded through every caller.

use std::io::Write;
use std::sync::LazyLock;

use tokio::sync::watch;

use super::CliError;

/// The exit code after our reader went away: 128 + SIGPIPE, what a shell
/// reports for a process killed by it.
pub const OUTPUT_CLOSED: i32 = 141;

/// `true` once a write to stdout found its reader gone.
static CLOSED: LazyLock<watch::Sender<bool>> = LazyLock::new(|| watch::Sender::new(false));

/// Write `bytes` to stdout whole. A reader that went away (`EPIPE`) is
/// [`CliError::OutputClosed`], and [`closed`] resolves from then on.
///
/// # Errors
/// [`CliError::OutputClosed`] on `EPIPE` (also for every later write, so
/// nothing half-written follows); [`CliError::Io`] for any other failure.
pub fn write_stdout(bytes: &[u8]) -> Result<(), CliError> {
    if is_closed() {
        return Err(CliError::OutputClosed);
    }
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) => Err(from_io(e, "writing to stdout")),
    }
}

/// Write `bytes` to stderr whole; a closed stderr is
/// [`CliError::OutputClosed`] too (nothing more can be said anyway).
///
/// # Errors
/// As [`write_stdout`].
pub fn write_stderr(bytes: &[u8]) -> Result<(), CliError> {
    let mut err = std::io::stderr().lock();
    err.write_all(bytes)
        .and_then(|()| err.flush())
        .map_err(|e| from_io(e, "writing to stderr"))
}

/// One line (`text` and a newline) to stdout, as [`write_stdout`].
///
/// # Errors
/// As [`write_stdout`].
pub fn line(text: impl std::fmt::Display) -> Result<(), CliError> {
    write_stdout(format!("{text}\n").as_bytes())
}

/// Resolves once a write found stdout's reader gone (at once if one
/// already did). For `select!`: cancel-safe.
pub async fn closed() {
    let mut seen = CLOSED.subscribe();
    // The sender is a static: it is never dropped, so this only returns
    // once the value is `true`.
    let _ = seen.wait_for(|closed| *closed).await;
}

/// Whether a write found stdout's reader gone.
pub fn is_closed() -> bool {
    *CLOSED.borrow()
}

/// The error for a failed write: `EPIPE` is [`CliError::OutputClosed`]
/// (and marks stdout closed).
pub fn from_io(e: std::io::Error, context: &str) -> CliError {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        CLOSED.send_replace(true);
        CliError::OutputClosed
    } else {
        CliError::Io {
            context: context.to_string(),
            source: e,
        }
    }
}
