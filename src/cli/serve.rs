//! The read socket of `taskorch up`: `up.sock` in the store directory. The
//! store file is locked to `up`'s process, so the read commands of other
//! processes ask `up` instead, which answers from its live orchestrator
//! (the store's history, and live output for `logs --follow`).
//!
//! One connection per request: a JSON [`Request`] line in, [`Reply`] lines
//! out (see `wire`). Like the store file, the socket is for the user who
//! runs `up` only (mode 0600, and never reachable with a wider mode: it
//! is bound in a private directory and renamed into place).

use std::collections::HashMap;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinSet;

use crate::{Orchestrator, RunQuery};

use super::CliError;
use super::store_dir::StoreDir;
use super::wire::{Reply, Request, RunDetails, TimedLine, runs_query};

/// The commands `up` started, by run name, for `show`.
pub(super) type Commands = Arc<HashMap<String, String>>;

/// A running read server; [`stop`](Self::stop) closes it and removes the
/// socket.
#[derive(Debug)]
pub(super) struct Server {
    task: tokio::task::JoinHandle<()>,
    dir: StoreDir,
}

impl Server {
    /// Bind `up.sock` (replacing a stale one: we hold the store's lock, so
    /// no other `up` is behind it) and serve until stopped.
    pub(super) fn start(
        orch: Orchestrator,
        dir: &StoreDir,
        commands: Commands,
    ) -> Result<Server, CliError> {
        let path = dir.socket();
        let _ = std::fs::remove_file(&path);
        let listener = bind_private(&path)
            .map_err(CliError::io(format!("listening on {}", path.display())))?;
        let served = dir.clone();
        let task = tokio::spawn(async move {
            // Connections end with the server (JoinSet aborts them on drop).
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => {
                            let orch = orch.clone();
                            let dir = served.clone();
                            let commands = Arc::clone(&commands);
                            connections.spawn(async move {
                                let _ = serve(stream, &orch, &dir, &commands).await;
                            });
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "read socket: accept failed");
                        }
                    },
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        Ok(Server {
            task,
            dir: dir.clone(),
        })
    }

    /// Stop serving and remove the socket.
    pub(super) fn stop(self) {
        self.task.abort();
        let _ = std::fs::remove_file(self.dir.socket());
    }
}

/// Bind a unix socket at `path`, mode 0600. `bind` gives the socket the
/// umask's mode, so it is bound in a fresh directory only we can enter,
/// narrowed there, then renamed into place: no one else can connect in
/// between, whatever the store directory's own mode.
fn bind_private(path: &std::path::Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let parent = path.parent().unwrap_or(std::path::Path::new("."));
    let private = parent.join(format!(".up.sock.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&private);
    std::fs::DirBuilder::new().mode(0o700).create(&private)?;
    let staged = private.join("up.sock");
    let bound = UnixListener::bind(&staged).and_then(|listener| {
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o600))?;
        std::fs::rename(&staged, path)?;
        Ok(listener)
    });
    let _ = std::fs::remove_dir_all(&private);
    bound
}

async fn serve(
    stream: UnixStream,
    orch: &Orchestrator,
    dir: &StoreDir,
    commands: &Commands,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let Some(line) = BufReader::new(read).lines().next_line().await? else {
        return Ok(());
    };
    let mut send = async |reply: Reply| -> std::io::Result<()> {
        // Plain data: serializing it cannot fail.
        let mut text = serde_json::to_string(&reply).unwrap_or_default();
        text.push('\n');
        write.write_all(text.as_bytes()).await
    };
    let request: Request = match serde_json::from_str(&line) {
        Ok(request) => request,
        Err(e) => return send(Reply::Error(format!("unreadable request: {e}"))).await,
    };
    match request {
        Request::Runs { filter } => match orch.observe().history(&runs_query(filter)) {
            Ok(runs) => {
                let runs = runs
                    .into_iter()
                    .map(|info| {
                        let fallback = commands.get(&info.name).cloned();
                        match orch.observe().stored_run(info.id) {
                            Some(run) => RunDetails::stored(run, fallback),
                            None => RunDetails::new(info, fallback, None),
                        }
                    })
                    .collect();
                send(Reply::Runs(runs)).await
            }
            Err(e) => send(Reply::Error(e.to_string())).await,
        },
        Request::Ids => match orch.observe().history(&RunQuery::new()) {
            Ok(runs) => send(Reply::Ids(runs.into_iter().map(|r| r.id).collect())).await,
            Err(e) => send(Reply::Error(e.to_string())).await,
        },
        Request::Show { id } => {
            let Some(info) = orch.observe().find_run(id) else {
                return send(Reply::UnknownRun(id)).await;
            };
            let fallback = commands.get(&info.name).cloned();
            // A finished run as the store keeps it: what a read of the file
            // prints (the store keeps times to the microsecond).
            if info.status.is_terminal()
                && let Some(run) = orch.observe().stored_run(id)
            {
                let details = RunDetails::stored(run, fallback);
                return send(Reply::Run(Box::new(details))).await;
            }
            // A finished run's outcome answers at once.
            let outcome = if info.status.is_terminal() {
                Some(orch.wait(id).await)
            } else {
                None
            };
            let command = orch
                .observe()
                .stored_run(id)
                .and_then(|run| run.task)
                .map(|task| super::wire::describe(&task))
                .or(fallback);
            let details = RunDetails::new(info, command, outcome.as_ref());
            send(Reply::Run(Box::new(details))).await
        }
        Request::Logs { id, follow: false } => {
            let Some(timed) = orch.observe().timed_output(id) else {
                return send(Reply::UnknownRun(id)).await;
            };
            for (i, line) in timed.output.lines.into_iter().enumerate() {
                let time = timed.times.get(i);
                send(Reply::Line(TimedLine::new(line, time))).await?;
            }
            send(Reply::End {
                dropped: timed.output.dropped,
            })
            .await
        }
        Request::Logs { id, follow: true } => {
            let Ok(mut lines) = orch.observe().subscribe_output(id) else {
                return send(Reply::UnknownRun(id)).await;
            };
            while let Some(line) = lines.next_line().await {
                let time = lines.last_time();
                send(Reply::Line(TimedLine::new(line, time))).await?;
            }
            send(Reply::End {
                dropped: lines.missed(),
            })
            .await
        }
        Request::Trace => match dir.write_trace(orch) {
            Ok(()) => send(Reply::TraceWritten).await,
            Err(e) => send(Reply::Error(e.to_string())).await,
        },
        Request::Metrics => send(Reply::Metrics(Box::new(orch.metrics()))).await,
    }
}
