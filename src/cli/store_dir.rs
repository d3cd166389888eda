//! The store directory: where its files live, starting an orchestrator on
//! it, and the trace a process leaves behind in it.
//!
//! ```text
//! .taskorch/
//!   taskorch.redb       the durable store (runs, output, schedules)
//!   up.sock, up.pid     while a `taskorch up` runs: its read socket and pid
//!   trace.jsonl         the message trace of the last process that worked
//!   trace.chrome.json   on the store, as JSON lines and as a Chrome trace
//! ```
//!
//! `--store postgres://…` (feature `postgres`) keeps the store in that
//! PostgreSQL database instead; the socket, pid file and traces then go in
//! `./.taskorch/`.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::store::StoreConfig;
use crate::{Config, Orchestrator};

use super::CliError;

/// The default store directory, relative to the working directory.
pub(super) const DEFAULT_DIR: &str = ".taskorch";

/// The files of one store directory.
#[derive(Debug, Clone)]
pub(super) struct StoreDir {
    pub(super) dir: PathBuf,
}

impl StoreDir {
    /// `--store`, or the default.
    pub(super) fn or_default(store: Option<PathBuf>) -> StoreDir {
        StoreDir {
            dir: store.unwrap_or_else(|| PathBuf::from(DEFAULT_DIR)),
        }
    }

    pub(super) fn database(&self) -> PathBuf {
        self.dir.join("taskorch.redb")
    }

    /// The PostgreSQL store `--store` names, if it is a URL.
    pub(super) fn postgres(&self) -> Option<StoreConfig> {
        match StoreConfig::parse(self.dir.to_str()?) {
            StoreConfig::File(_) => None,
            pg => Some(pg),
        }
    }

    /// Whether the store exists: the file, or for PostgreSQL (created by
    /// the first start) always.
    pub(super) fn exists(&self) -> bool {
        self.postgres().is_some() || self.database().exists()
    }

    /// How the store is named in messages: the directory, or the URL
    /// without its password.
    pub(super) fn shown(&self) -> String {
        match self.postgres() {
            Some(StoreConfig::Postgres(url)) => url.to_string(),
            _ => self.dir.display().to_string(),
        }
    }

    /// Where the local files go: the directory, or `./.taskorch/` for a
    /// PostgreSQL store.
    fn local(&self) -> PathBuf {
        match self.postgres() {
            Some(_) => PathBuf::from(DEFAULT_DIR),
            None => self.dir.clone(),
        }
    }

    pub(super) fn socket(&self) -> PathBuf {
        self.local().join("up.sock")
    }

    pub(super) fn pid_file(&self) -> PathBuf {
        self.local().join("up.pid")
    }

    pub(super) fn trace_jsonl(&self) -> PathBuf {
        self.local().join("trace.jsonl")
    }

    pub(super) fn trace_chrome(&self) -> PathBuf {
        self.local().join("trace.chrome.json")
    }

    /// Who holds the store, from the pid file a `taskorch up` leaves
    /// (only if that process is still alive).
    pub(super) fn holder(&self) -> Option<String> {
        let pid: u32 = std::fs::read_to_string(self.pid_file())
            .ok()?
            .trim()
            .parse()
            .ok()?;
        taskorch_actors::process::pid_alive(pid).then(|| format!("taskorch up, pid {pid}"))
    }

    /// The error for a store another process holds.
    pub(super) fn in_use(&self) -> CliError {
        CliError::StoreInUse {
            dir: self.dir.clone(),
            holder: self.holder(),
        }
    }

    /// Start an orchestrator on this store (created if missing).
    pub(super) async fn start(&self, config: Config) -> Result<Orchestrator, CliError> {
        let config = match self.postgres() {
            Some(pg) => {
                // The redb store creates its directory; here nothing else
                // would, and the socket and pid file go in it.
                std::fs::create_dir_all(self.local())
                    .map_err(CliError::io(format!("creating {DEFAULT_DIR}")))?;
                config.store(pg)
            }
            None => config.store(self.database()),
        };
        match Orchestrator::start(config).await {
            Ok(orch) => Ok(orch),
            Err(e) if e.is_store_in_use() => Err(self.in_use()),
            Err(e) => Err(CliError::Runtime(e)),
        }
    }

    /// Write `orch`'s message trace into the directory (both forms), each
    /// file replaced whole (written aside, then renamed), so a reader
    /// never sees half a trace.
    pub(super) fn write_trace(&self, orch: &Orchestrator) -> Result<(), CliError> {
        let trace = orch.trace();
        replace(&self.trace_jsonl(), |w| trace.write_json_lines(w))?;
        replace(&self.trace_chrome(), |w| trace.write_chrome_trace(w))
    }
}

/// Write `path` through `write` into a temporary file beside it, then
/// rename it into place.
fn replace(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> Result<(), CliError> {
    let context = || format!("writing {}", path.display());
    let tmp = path.with_extension("tmp");
    let file = std::fs::File::create(&tmp).map_err(CliError::io(context()))?;
    let mut w = std::io::BufWriter::new(file);
    write(&mut w)
        .and_then(|()| w.flush())
        .map_err(CliError::io(context()))?;
    std::fs::rename(&tmp, path).map_err(CliError::io(context()))
}

/// A `Config` for a CLI process: the defaults, with history enough for
/// `jobs` runs (a batch bigger than the default history would otherwise
/// evict its own first runs before the summary reads them).
pub(super) fn config_for(jobs: usize) -> Config {
    let base = Config::default();
    Config {
        history_limit: base.history_limit.max(jobs),
        ..base
    }
}
