//! The `taskorch` binary: parses the command line, installs the signal
//! handlers, calls [`taskorch::cli::run`], and maps its errors to exit
//! codes. Everything else lives in the library (`src/cli.rs`), where the
//! tests reach it.
//!
//! Exit codes: the work's own (the child's code for `run`/`stream`, 1 for
//! a batch with failures); 128 + N after signal N stopped it (130 Ctrl-C,
//! 143 SIGTERM, 129 SIGHUP; `up` exits 0); 141 when our reader went away
//! (`| head`), with no message; 2 for bad input (clap's usage errors, a
//! malformed jobs file); 127 / 126 for a program that is missing / not
//! executable; 1 for any other failure of the tool.

#[cfg(unix)]
fn main() -> std::process::ExitCode {
    use clap::Parser;
    use taskorch::cli::{Args, CliError};

    keep_standard_fds_open();
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("taskorch: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let result: anyhow::Result<i32, CliError> = runtime.block_on(async {
        // First thing: a signal from now on stops the work cleanly instead
        // of killing us and leaving the children behind.
        let signals = taskorch::cli::Signals::install();
        taskorch::cli::run_with_signals(args, &signals).await
    });
    let code = match result {
        Ok(code) => code,
        // The reader chose to stop reading: nothing to say, and no one to
        // say it to.
        Err(CliError::OutputClosed) => taskorch::cli::pipe::OUTPUT_CLOSED,
        Err(e) => {
            eprintln!("taskorch: {e}");
            match e {
                CliError::Usage(_) => 2,
                CliError::NotFound { .. } => 127,
                CliError::PermissionDenied { .. } => 126,
                _ => 1,
            }
        }
    };
    // Exit codes are 0..=255; a child's code is already in range.
    std::process::ExitCode::from(u8::try_from(code.clamp(0, 255)).unwrap_or(1))
}

/// Put `/dev/null` on any of fds 0, 1, 2 we were started without
/// (`taskorch run -- cat <&-`): otherwise the first file we open (the async
/// runtime's epoll, the store) takes that number, and a child handed our
/// stdin would read it.
#[cfg(unix)]
fn keep_standard_fds_open() {
    use std::os::fd::{AsRawFd, IntoRawFd};
    for _ in 0..3 {
        let opened = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null");
        match opened {
            // The lowest free number: one of ours was closed; keep it open
            // for the life of the process.
            Ok(null) if null.as_raw_fd() <= 2 => {
                let _ = null.into_raw_fd();
            }
            _ => break,
        }
    }
}

#[cfg(not(unix))]
fn main() -> std::process::ExitCode {
    eprintln!(
        "taskorch: the command-line tool needs a Unix system (its read socket is a unix socket)"
    );
    std::process::ExitCode::from(1)
}
