//! The PostgreSQL backend of the store (feature `postgres`):
//! `StoreConfig::postgres(url)` keeps the same state as the redb file, in
//! tables of a PostgreSQL database, with the same guarantees.
//!
//! # What it keeps, and how
//! One table per redb table (`taskorch_runs`, `taskorch_jobs`,
//! `taskorch_labels`, `taskorch_output`, `taskorch_schedules`,
//! `taskorch_queues`, `taskorch_halt`, `taskorch_graphs`,
//! `taskorch_graph_tasks`, `taskorch_meta`; the prefix keeps them apart
//! from an application's own tables). A row's value is the same versioned
//! record the redb file holds (`records`: version byte + bincode), so both
//! backends read and write one format and a record type changes in one
//! place; the columns beside it (`active`, a label, a graph task's run)
//! are what the database filters on. Run ids are UUID v7 bytes, so
//! `ORDER BY id` is acceptance order, as the redb keys are.
//!
//! # Acknowledged only after commit
//! The runtime journals [`Op`]s exactly as for redb; one writer thread
//! (`writer`) takes whatever has queued up and applies it in **one
//! PostgreSQL transaction**, then answers the batch's `Sync`s: `launch`,
//! `schedule`, `queue` and a run's start answer only once their change is
//! committed. If the connection drops (the server restarts), the writer
//! keeps the changes, refuses work that needs a commit with
//! `Error::StoreUnavailable` and reconnects with backoff (20 ms doubling
//! to 2 s), then commits them in order: nothing acknowledged is lost.
//!
//! # Start
//! `open` connects ([`Error::StoreConnect`] names what failed: server
//! unreachable, credentials, missing database), applies the schema
//! migrations of `schema` under an advisory lock ([`Error::StoreSchemaTooNew`]
//! for a database written by a newer taskorch, which is left as it is),
//! takes the store's advisory lock for this orchestrator, and recovers
//! (`recover`): what a crash left `Running` ends `Interrupted` (its
//! process group stopped, as for redb), what was `Queued` starts again,
//! once; schedules, queues, the halt and unfinished graphs come back.
//!
//! # One orchestrator per database (for now)
//! The store's session advisory lock is held by the writer's connection
//! for the store's life, as redb locks its file: a second orchestrator on
//! the same database is refused at start with `StoreConnect` ("in use").
//! Several nodes sharing one database (claims with `SKIP LOCKED`, leases,
//! exactly-once ticks) need the runtime to claim work from the database
//! instead of its own queue; until that exists the lock keeps a second
//! node from recovering (interrupting) the first one's runs.
//!
//! # Why tokio-postgres
//! `tokio-postgres` (without a pool crate) rather than `sqlx`: the store
//! needs plain parameterised statements on two connections (the writer's,
//! which holds the advisory lock and the transactions, and one for reads:
//! a tokio-postgres client pipelines concurrent queries on one
//! connection), and direct access to the connection for `LISTEN/NOTIFY`
//! later; sqlx's pool, its macros and its compile-time query checking
//! would add a large dependency tree for none of that.
//!
//! # Threads
//! The store's API is blocking (the registry reads it from sync code), so
//! the backend owns a one-worker tokio runtime of its own ("taskorch-pg")
//! where its connections live; a blocking call spawns its query there and
//! waits on a channel, which is safe from any thread, including an async
//! one of the application's runtime (it blocks that thread as a redb read
//! does, and never needs it to make progress).

mod nodes;
mod read;
mod recover;
mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;
use tokio_postgres::{Client, NoTls};

use super::config::redact;
use super::engine::Engine;
use super::records::{JobRow, OutputRow, RunRow};
use super::{FaultSwitch, Op, Recovered, StoreLimits};
use crate::error::{Error, Result};
use crate::metrics::LatencyWindow;
use crate::run::{RunId, RunInfo, RunQuery};

/// How long a connection attempt may take when the URL sets no
/// `connect_timeout`: a start against an unreachable host fails in
/// bounded time.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The PostgreSQL store (see the module docs).
pub(crate) struct Postgres {
    /// The URL without its password: what messages and errors show.
    location: PathBuf,
    config: tokio_postgres::Config,
    runtime: Runtime,
    ops: mpsc::Sender<Op>,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// The reads' connection; `None` after it failed (the next read
    /// connects again).
    reader: Mutex<Option<Arc<Client>>>,
    commits: Arc<LatencyWindow>,
    /// This orchestrator's node row and its heartbeat task (`None` for a
    /// reader).
    node: Mutex<Option<([u8; 16], tokio::task::AbortHandle)>>,
}

/// The backend's own tokio runtime (see "Threads" in the module docs).
#[derive(Clone)]
pub(super) struct Runtime {
    handle: tokio::runtime::Handle,
    // Shut down (in the background, safe from any context) when the last
    // clone goes.
    _owner: Arc<RuntimeOwner>,
}

struct RuntimeOwner(Option<tokio::runtime::Runtime>);

impl Drop for RuntimeOwner {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl Runtime {
    fn new() -> std::io::Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("taskorch-pg")
            .enable_all()
            .build()?;
        Ok(Runtime {
            handle: rt.handle().clone(),
            _owner: Arc::new(RuntimeOwner(Some(rt))),
        })
    }

    /// Run `fut` on the backend's runtime and wait for it, from any
    /// thread. `None` if the runtime is gone (the store was closed).
    pub(super) fn block<T: Send + 'static>(
        &self,
        fut: impl Future<Output = T> + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv().ok()
    }
}

impl Postgres {
    /// Connect, migrate, lock, recover, and start the writer (see the
    /// module docs). Blocking.
    pub(super) fn open(url: &str, limits: StoreLimits) -> Result<(Postgres, Recovered)> {
        let shown = redact(url);
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|e| Error::InvalidStoreUrl {
                url: shown.clone(),
                reason: format!("{e}"),
            })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("taskorch");
        }
        let runtime = Runtime::new().map_err(|e| Error::StoreConnect {
            url: shown.clone(),
            reason: format!("could not start the store's runtime: {e}"),
        })?;
        let started = {
            let (config, shown_in) = (config.clone(), shown.clone());
            runtime
                .block(async move {
                    let shown = shown_in;
                    let mut client = connect(&config, &shown).await?;
                    schema::migrate(&mut client, &shown).await?;
                    lock(&client, &shown).await?;
                    let recovered =
                        recover::recover(&mut client, limits)
                            .await
                            .map_err(|e| Error::Store {
                                path: PathBuf::from(&shown),
                                reason: format!("recovering the store failed: {e}"),
                            })?;
                    let node = nodes::register(&client).await.map_err(|e| Error::Store {
                        path: PathBuf::from(&shown),
                        reason: format!("registering this node failed: {e}"),
                    })?;
                    let beat = tokio::spawn(nodes::heartbeat(config, shown, node));
                    Ok::<_, Error>((client, recovered, (node, beat.abort_handle())))
                })
                .unwrap_or_else(|| Err(closed(&shown)))
        };
        let (client, recovered, node) = started?;
        let location = PathBuf::from(&shown);
        let commits = Arc::new(LatencyWindow::new(crate::metrics::LATENCY_WINDOW));
        let (ops, rx) = mpsc::channel();
        let writer = writer::Writer::new(
            client,
            config.clone(),
            runtime.clone(),
            shown.clone(),
            limits,
            Arc::clone(&commits),
        );
        let handle = std::thread::Builder::new()
            .name("taskorch-store".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| Error::Store {
                path: location.clone(),
                reason: format!("could not start the store's writer thread: {e}"),
            })?;
        Ok((
            Postgres {
                location,
                config,
                runtime,
                ops,
                writer: Mutex::new(Some(handle)),
                reader: Mutex::new(None),
                commits,
                node: Mutex::new(Some(node)),
            },
            recovered,
        ))
    }

    /// Connect for reading only: no migration (a database of an older
    /// schema, or none, is read as it is), no lock, no recovery, no
    /// writer. For readers outside the runtime (the CLI). Blocking.
    pub(super) fn open_read_only(url: &str) -> Result<Postgres> {
        let shown = redact(url);
        let config: tokio_postgres::Config = url.parse().map_err(|e| Error::InvalidStoreUrl {
            url: shown.clone(),
            reason: format!("{e}"),
        })?;
        let runtime = Runtime::new().map_err(|e| Error::StoreConnect {
            url: shown.clone(),
            reason: format!("could not start the store's runtime: {e}"),
        })?;
        let client = {
            let (config, shown) = (config.clone(), shown.clone());
            runtime
                .block(async move {
                    let client = connect(&config, &shown).await?;
                    schema::check(&client, &shown).await?;
                    Ok::<_, Error>(client)
                })
                .unwrap_or_else(|| Err(closed(&redact(url))))?
        };
        // No writer: a journaled change (a reader makes none) goes nowhere.
        let (ops, _) = mpsc::channel();
        Ok(Postgres {
            location: PathBuf::from(&shown),
            config,
            runtime,
            ops,
            writer: Mutex::new(None),
            reader: Mutex::new(Some(Arc::new(client))),
            commits: Arc::new(LatencyWindow::new(1)),
            node: Mutex::new(None),
        })
    }

    /// Run a read with the reads' connection (connecting it first if
    /// needed); a failure is logged and answers `None`.
    fn read<T, F, Fut>(&self, f: F) -> Option<T>
    where
        T: Send + 'static,
        F: Fn(Arc<Client>) -> Fut + Send + 'static,
        Fut: Future<Output = std::result::Result<T, tokio_postgres::Error>> + Send,
    {
        self.try_read(f)
            .inspect_err(|e| {
                tracing::warn!(store = %self.location.display(), error = %e, "store read failed");
            })
            .ok()
    }

    fn try_read<T, F, Fut>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(Arc<Client>) -> Fut + Send + 'static,
        Fut: Future<Output = std::result::Result<T, tokio_postgres::Error>> + Send,
    {
        let shown = self.location.display().to_string();
        let current = self.reader.lock().clone();
        let config = self.config.clone();
        let answer = self.runtime.block({
            let shown = shown.clone();
            async move {
                let mut client = match current {
                    Some(client) if !client.is_closed() => client,
                    _ => Arc::new(connect(&config, &shown).await?),
                };
                let mut result = f(Arc::clone(&client)).await;
                // A connection the server dropped since the last read (a
                // restart): once more on a new one.
                if result.as_ref().is_err_and(lost_connection) {
                    client = Arc::new(connect(&config, &shown).await?);
                    result = f(Arc::clone(&client)).await;
                }
                let result = result.map_err(|e| Error::Store {
                    path: PathBuf::from(&shown),
                    reason: format!("reading failed: {e}"),
                });
                Ok::<_, Error>((client, result))
            }
        });
        match answer {
            None => Err(closed(&shown)),
            Some(Err(e)) => {
                *self.reader.lock() = None;
                Err(unavailable(&shown, &e.to_string()))
            }
            Some(Ok((client, result))) => {
                *self.reader.lock() = (!client.is_closed()).then_some(client);
                result
            }
        }
    }
}

impl Engine for Postgres {
    fn location(&self) -> &Path {
        &self.location
    }

    fn ops(&self) -> &mpsc::Sender<Op> {
        &self.ops
    }

    fn close(&self) {
        let (tx, rx) = mpsc::channel();
        if self.ops.send(Op::Close(tx)).is_ok() {
            let _ = rx.recv();
        }
        if let Some(handle) = self.writer.lock().take() {
            let _ = handle.join();
        }
        let node = self.node.lock().take();
        if let Some((id, beat)) = node {
            beat.abort();
            // Best effort: a node that cannot say so shows as gone once its
            // lease has passed.
            let _ = self.try_read(move |c| async move { nodes::stopped(&c, id).await });
        }
        self.reader.lock().take();
    }

    fn faults(&self) -> Option<Arc<FaultSwitch>> {
        None
    }

    fn commits(&self) -> &LatencyWindow {
        &self.commits
    }

    fn size(&self) -> u64 {
        0
    }

    fn run(&self, id: RunId) -> Option<RunRow> {
        self.read(move |c| read::run(c, id)).flatten()
    }

    fn run_with_output(&self, id: RunId) -> Option<(RunRow, Option<OutputRow>)> {
        self.read(move |c| read::run_with_output(c, id)).flatten()
    }

    fn task_of_run(&self, run: RunId) -> Option<crate::task::Task> {
        self.read(move |c| read::task_of_run(c, run)).flatten()
    }

    fn job(&self, id: RunId) -> Option<JobRow> {
        self.read(move |c| read::job(c, id)).flatten()
    }

    fn keyed_since(
        &self,
        since: std::time::SystemTime,
    ) -> Vec<(String, RunId, Option<std::time::SystemTime>)> {
        self.read(move |c| read::keyed_since(c, since))
            .unwrap_or_default()
    }

    fn graph_task_status(&self, key: [u8; 16], index: u32) -> Option<super::StoredTaskStatus> {
        self.read(move |c| read::graph_task_status(c, key, index))
            .flatten()
    }

    fn nodes(&self) -> Result<Vec<super::NodeInfo>> {
        self.try_read(nodes::list)
    }

    fn history(&self, query: &RunQuery) -> Result<Vec<RunInfo>> {
        let query = query.clone();
        self.try_read(move |c| read::history(c, query.clone()))
    }
}

impl Drop for Postgres {
    /// The last handle gone without `close`: still commit what is queued.
    fn drop(&mut self) {
        Engine::close(self);
    }
}

/// Connect with `config` and drive the connection on the current
/// (the backend's) runtime.
async fn connect(config: &tokio_postgres::Config, shown: &str) -> Result<Client> {
    let (client, connection) = config
        .connect(NoTls)
        .await
        .map_err(|e| Error::StoreConnect {
            url: shown.to_string(),
            reason: connect_reason(&e),
        })?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "store connection ended");
        }
    });
    Ok(client)
}

/// Whether `e` means the connection is gone (the server restarted or
/// ended the session, the network dropped), not that a statement failed.
pub(super) fn lost_connection(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        // Connection exceptions, and the server shutting the session.
        Some(code) => code.code().starts_with("08") || code.code().starts_with("57P"),
        None => std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()),
    }
}

/// What a failed connection attempt means, and what to do.
fn connect_reason(e: &tokio_postgres::Error) -> String {
    use tokio_postgres::error::SqlState;
    let what = match e.code() {
        Some(c) if *c == SqlState::INVALID_PASSWORD => {
            "authentication failed: check the user and password in the URL"
        }
        Some(c) if *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION => {
            "the server refused this user: check the user in the URL and pg_hba.conf"
        }
        Some(c) if *c == SqlState::INVALID_CATALOG_NAME => {
            "the database does not exist: create it (createdb) or fix its name in the URL"
        }
        _ => "is the server running and reachable at that host and port?",
    };
    match e.as_db_error() {
        Some(db) => format!("{} ({what})", db.message()),
        None => format!("{e} ({what})"),
    }
}

/// Take the store's advisory lock for this orchestrator, on `client`'s
/// session (see "One orchestrator per database" in the module docs).
pub(super) async fn lock(client: &Client, shown: &str) -> Result<()> {
    let row = client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&schema::STORE_LOCK])
        .await
        .map_err(|e| Error::StoreConnect {
            url: shown.to_string(),
            reason: format!("could not take the store's lock: {e}"),
        })?;
    if row.get::<_, bool>(0) {
        Ok(())
    } else {
        Err(Error::StoreConnect {
            url: shown.to_string(),
            reason: IN_USE.into(),
        })
    }
}

/// Why a second orchestrator is refused.
pub(super) const IN_USE: &str = "the database is in use by another orchestrator (it holds the \
     store's advisory lock); each orchestrator needs its own database for now: stop the other \
     one or choose another database";

fn closed(shown: &str) -> Error {
    Error::Store {
        path: PathBuf::from(shown),
        reason: "the store is closed (the orchestrator has shut down)".into(),
    }
}

fn unavailable(shown: &str, reason: &str) -> Error {
    Error::StoreUnavailable {
        path: PathBuf::from(shown),
        reason: format!("the database cannot be reached ({reason}); try again shortly"),
    }
}

#[cfg(test)]
pub(super) mod tests;
