//! Where the read commands read from: a running `taskorch up` (over its
//! unix socket), or the store file itself when no process holds it.
//!
//! A socket file left by an `up` that was killed refuses connections: it
//! is then ignored and the file read directly (the kill released the
//! lock). The file is opened read-only and read as it is: no recovery, no
//! signal to any process, no byte changed. Runs a crash left `Running`
//! show as running until the next `up` recovers them (and stops what is
//! left of their groups).

use std::time::SystemTime;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::OwnedReadHalf;

use crate::{OutputLine, RunId, RunQuery};
use taskorch_actors::Store;

use super::CliError;
use super::store_dir::StoreDir;
use super::wire::{Reply, Request, RunDetails, RunsFilter, runs_query};

/// An open source of reads.
pub(super) enum Source {
    /// A running `taskorch up`.
    Served(StoreDir),
    /// The store file, opened by us.
    File(Store),
}

impl Source {
    /// Connect to a running `up`, else open the store file.
    pub(super) async fn open(dir: &StoreDir) -> Result<Source, CliError> {
        if UnixStream::connect(dir.socket()).await.is_ok() {
            return Ok(Source::Served(dir.clone()));
        }
        if let Some(pg) = dir.postgres() {
            return open_postgres(pg).await;
        }
        let path = dir.database();
        if !path.exists() {
            return Err(CliError::NoStore(dir.dir.clone()));
        }
        // Read-only, as it is: a crashed store is recovered (its orphans
        // stopped) by the next `up`, not by a read.
        let opened = tokio::task::spawn_blocking(move || Store::open_read_only(path))
            .await
            .map_err(|e| CliError::Usage(format!("opening the store failed: {e}")))?;
        match opened {
            Ok(store) => Ok(Source::File(store)),
            Err(e) if e.is_store_in_use() => Err(dir.in_use()),
            Err(e) => Err(CliError::Runtime(e)),
        }
    }

    /// Release the file (if we opened it).
    pub(super) fn close(self) {
        if let Source::File(store) = self {
            store.close();
        }
    }

    /// Every run's id, newest first.
    pub(super) async fn ids(&self) -> Result<Vec<RunId>, CliError> {
        match self {
            Source::File(store) => Ok(store
                .history(&RunQuery::new())?
                .into_iter()
                .map(|r| r.id)
                .collect()),
            Source::Served(dir) => match Conn::ask(dir, &Request::Ids).await?.next().await? {
                Reply::Ids(ids) => Ok(ids),
                other => Err(unexpected(other)),
            },
        }
    }

    /// The run a full or short id (see `ids`) names.
    ///
    /// # Errors
    /// `UnknownRun`, or `Usage` for an ambiguous short id.
    pub(super) async fn resolve(&self, text: &str) -> Result<RunId, CliError> {
        if let Ok(id) = text.parse() {
            return Ok(id);
        }
        super::ids::resolve(text, &self.ids().await?)
    }

    /// Runs matching `query`, newest first.
    pub(super) async fn runs(&self, filter: RunsFilter) -> Result<Vec<RunDetails>, CliError> {
        match self {
            Source::File(store) => Ok(store
                .history(&runs_query(filter))?
                .into_iter()
                .map(|info| match store.stored_run(info.id) {
                    Some(run) => RunDetails::stored(run, None),
                    None => RunDetails::new(info, None, None),
                })
                .collect()),
            Source::Served(dir) => {
                let request = Request::Runs { filter };
                match Conn::ask(dir, &request).await?.next().await? {
                    Reply::Runs(runs) => Ok(runs),
                    other => Err(unexpected(other)),
                }
            }
        }
    }

    /// One run.
    pub(super) async fn show(&self, id: RunId) -> Result<RunDetails, CliError> {
        match self {
            Source::File(store) => {
                let run = store
                    .stored_run(id)
                    .ok_or_else(|| CliError::UnknownRun(id.to_string()))?;
                Ok(RunDetails::stored(run, None))
            }
            Source::Served(dir) => match Conn::ask(dir, &Request::Show { id }).await?.next().await?
            {
                Reply::Run(details) => Ok(*details),
                other => Err(unexpected(other)),
            },
        }
    }

    /// One run's lines, each handed to `each` with the time it was
    /// captured (`None` when the store has none for it); returns the lines
    /// dropped before the first one kept. With `follow` (and a live `up`),
    /// waits for new lines until the run ends.
    pub(super) async fn logs(
        &self,
        id: RunId,
        follow: bool,
        mut each: impl FnMut(OutputLine, Option<SystemTime>) -> Result<(), CliError>,
    ) -> Result<u64, CliError> {
        match self {
            Source::File(store) => {
                let run = store
                    .stored_run(id)
                    .ok_or_else(|| CliError::UnknownRun(id.to_string()))?;
                for (i, line) in run.lines.lines.into_iter().enumerate() {
                    each(line, run.line_times.get(i))?;
                }
                Ok(run.lines.dropped)
            }
            Source::Served(dir) => {
                let mut conn = Conn::ask(dir, &Request::Logs { id, follow }).await?;
                loop {
                    match conn.next().await? {
                        Reply::Line(timed) => {
                            let time = timed.time();
                            each(timed.line, time)?;
                        }
                        Reply::End { dropped } => return Ok(dropped),
                        other => return Err(unexpected(other)),
                    }
                }
            }
        }
    }

    /// Make sure the store directory holds the newest trace: a live `up`
    /// writes its trace so far.
    pub(super) async fn refresh_trace(&self) -> Result<(), CliError> {
        match self {
            Source::File(_) => Ok(()),
            Source::Served(dir) => match Conn::ask(dir, &Request::Trace).await?.next().await? {
                Reply::TraceWritten => Ok(()),
                other => Err(unexpected(other)),
            },
        }
    }
}

/// The metrics of the `up` running on `dir`.
///
/// # Errors
/// `NotRunning` when no `up` answers on the store's socket.
pub(super) async fn live_metrics(dir: &StoreDir) -> Result<crate::Metrics, CliError> {
    if UnixStream::connect(dir.socket()).await.is_err() {
        return Err(CliError::NotRunning(dir.dir.clone()));
    }
    match Conn::ask(dir, &Request::Metrics).await?.next().await? {
        Reply::Metrics(metrics) => Ok(*metrics),
        other => Err(unexpected(other)),
    }
}

/// A reply that is an error, or not the one asked for.
fn unexpected(reply: Reply) -> CliError {
    match reply {
        Reply::UnknownRun(id) => CliError::UnknownRun(id.to_string()),
        Reply::Error(message) => CliError::Usage(format!("taskorch up answered: {message}")),
        other => CliError::Usage(format!(
            "taskorch up answered something unexpected: {other:?}"
        )),
    }
}

/// One request's connection.
struct Conn {
    lines: tokio::io::Lines<BufReader<OwnedReadHalf>>,
    dir: StoreDir,
}

impl Conn {
    async fn ask(dir: &StoreDir, request: &Request) -> Result<Conn, CliError> {
        let context = || format!("asking taskorch up at {}", dir.socket().display());
        let stream = UnixStream::connect(dir.socket())
            .await
            .map_err(CliError::io(context()))?;
        let (read, mut write) = stream.into_split();
        // Serializing plain data to a string cannot fail.
        let mut line = serde_json::to_string(request).unwrap_or_default();
        line.push('\n');
        write
            .write_all(line.as_bytes())
            .await
            .map_err(CliError::io(context()))?;
        Ok(Conn {
            lines: BufReader::new(read).lines(),
            dir: dir.clone(),
        })
    }

    async fn next(&mut self) -> Result<Reply, CliError> {
        let context = || {
            format!(
                "reading from taskorch up at {}",
                self.dir.socket().display()
            )
        };
        let line = self
            .lines
            .next_line()
            .await
            .map_err(CliError::io(context()))?
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "taskorch up at {} closed the connection (it is shutting down?)",
                    self.dir.socket().display()
                ))
            })?;
        serde_json::from_str(&line).map_err(|e| {
            CliError::Usage(format!(
                "taskorch up sent a reply this version cannot read: {e}"
            ))
        })
    }
}

/// Read a PostgreSQL store as it is (no recovery, no writer, no lock: the
/// `up` that holds it keeps running).
#[cfg(feature = "postgres")]
async fn open_postgres(pg: crate::store::StoreConfig) -> Result<Source, CliError> {
    let crate::store::StoreConfig::Postgres(url) = pg else {
        return Err(CliError::Usage("not a PostgreSQL store".into()));
    };
    let opened = tokio::task::spawn_blocking(move || Store::open_postgres_read_only(url.as_str()))
        .await
        .map_err(|e| CliError::Usage(format!("opening the store failed: {e}")))?;
    Ok(Source::File(opened?))
}

/// Without the `postgres` feature, a PostgreSQL store cannot be read.
#[cfg(not(feature = "postgres"))]
async fn open_postgres(pg: crate::store::StoreConfig) -> Result<Source, CliError> {
    let url = match pg {
        crate::store::StoreConfig::Postgres(url) => url.to_string(),
        crate::store::StoreConfig::File(path) => path.display().to_string(),
    };
    Err(CliError::Runtime(crate::Error::InvalidStoreUrl {
        url,
        reason: "this build of taskorch has no PostgreSQL support: enable the `postgres` feature"
            .into(),
    }))
}
