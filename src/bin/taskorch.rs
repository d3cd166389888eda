//! The `taskorch` binary: parses the command line, installs the signal
//! handlers, calls [`taskorch::cli::run`], and maps its errors to exit
//! codes. Everything else lives in the library (`src/cli.rs`), where the
//! tests reach it.
//!
//! Exit codes: the work's own (the child's code for `run`/`stream`, 130
//! after Ctrl-C, 1 for a batch with failures); 2 for bad input (clap's
//! usage errors, a malformed jobs file); 127 / 126 for a program that is
//! missing / not executable; 1 for any other failure of the tool.

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
    let result: anyhow::Result<i32, CliError> =
        runtime.block_on(async { taskorch::cli::run(args, shutdown_signal()).await });
    let code = match result {
        Ok(code) => code,
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

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM.
#[cfg(unix)]
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    // Without a handler the signal would kill us outright, leaving the
    // children's process groups behind; if one cannot be installed, the
    // other still works.
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (int, term) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        (Ok(mut one), Err(_)) | (Err(_), Ok(mut one)) => {
            one.recv().await;
        }
        (Err(_), Err(_)) => std::future::pending().await,
    }
}

#[cfg(not(unix))]
fn main() -> std::process::ExitCode {
    eprintln!(
        "taskorch: the command-line tool needs a Unix system (its read socket is a unix socket)"
    );
    std::process::ExitCode::from(1)
}
