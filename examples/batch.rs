//! The Concurrent pattern on real work: checksum every file under a
//! directory with `sha256sum`, 4 at a time, with a live progress count.
//! Ctrl-C cancels the whole batch (running checksums are terminated, the
//! rest never start); the results still come back, one per file, in the
//! order the files were found.
//!
//! ```text
//! cargo run --release --example batch -- [DIR]     # default: the current directory
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};

use taskorch::batch::BatchSpec;
use taskorch::{Config, Error, Orchestrator, Task};

#[tokio::main]
async fn main() -> taskorch::Result<()> {
    let root = std::env::args().nth(1).unwrap_or_else(|| ".".into());
    let files = files_under(Path::new(&root));
    eprintln!(
        "checksumming {} files under {root}, 4 at a time",
        files.len()
    );

    let orch = Orchestrator::start(Config::default()).await?;
    let tasks = files
        .iter()
        .map(|file| Task::command("sha256sum").arg(file.to_string_lossy()));
    let mut batch = orch.start_batch(BatchSpec::new(tasks, 4)).await?;

    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut cancelled = false;
    loop {
        let p = tokio::select! {
            p = batch.changed() => p,
            _ = &mut ctrl_c, if !cancelled => {
                eprintln!("\ncancelling...");
                batch.cancel();
                cancelled = true;
                continue;
            }
        };
        eprint!(
            "\r{:>6}/{} done, {} failed, {} running, {} queued   ",
            p.done, p.total, p.failed, p.running, p.queued
        );
        let _ = std::io::stderr().flush();
        if p.is_finished() {
            eprintln!();
            break;
        }
    }

    let mut failed = 0;
    for (file, result) in files.iter().zip(batch.wait().await) {
        match result {
            // sha256sum prints "<hash>  <file>".
            Ok(out) if out.success() => print!("{}", out.stdout_str()),
            Ok(out) => {
                failed += 1;
                eprintln!("{}: {}", file.display(), out.stderr_str().trim_end());
            }
            Err(Error::Cancelled { .. }) => failed += 1,
            Err(e) => {
                failed += 1;
                eprintln!("{}: {e}", file.display());
            }
        }
    }
    eprintln!("{} checksummed, {failed} not", files.len() - failed);
    orch.shutdown().await
}

/// Regular files under `dir`, depth first, skipping hidden entries and
/// `target/` (build output is not worth checksumming here).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut entries: Vec<_> = entries.filter_map(|e| e.ok()).collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') || name == "target" {
                continue;
            }
            match entry.file_type() {
                Ok(t) if t.is_dir() => pending.push(entry.path()),
                Ok(t) if t.is_file() => found.push(entry.path()),
                _ => {}
            }
        }
    }
    found
}
