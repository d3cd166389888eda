//! `taskorch nodes`: the orchestrators that started on a PostgreSQL store
//! (`Store::nodes`): id, host, pid, whether each is live (heartbeat
//! within its lease, by the database's clock), stopped cleanly, or gone.
//! A redb store is held by one process and records no nodes: asking is a
//! usage error (exit 2).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::SystemTime;

use clap::Args as ClapArgs;

use crate::store::{NodeInfo, StoreConfig};

use super::store_dir::StoreDir;
use super::{CliError, pipe, render};

const EXAMPLES: &str = "\
Examples:
  taskorch nodes --store postgres://app@db/taskorch
  taskorch nodes --store postgres://app@db/taskorch --json | jq '.[] | select(.live)'";

/// `taskorch nodes`.
#[derive(Debug, ClapArgs)]
#[command(after_help = EXAMPLES)]
pub struct NodesArgs {
    /// Print the nodes as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `taskorch nodes`.
pub(super) async fn run(args: NodesArgs, store: Option<PathBuf>) -> Result<i32, CliError> {
    let dir = StoreDir::or_default(store);
    let Some(StoreConfig::Postgres(url)) = dir.postgres() else {
        return Err(CliError::Usage(format!(
            "taskorch nodes needs a PostgreSQL store (--store postgres://…); the redb store {} \
             is held by one process and records no nodes",
            dir.dir.display()
        )));
    };
    let nodes = read(url).await?;
    let now = SystemTime::now();
    let text = if args.json {
        let list: Vec<_> = nodes
            .iter()
            .map(|n| {
                serde_json::json!({
                    "id": n.id,
                    "host": n.host,
                    "pid": n.pid,
                    "live": n.live,
                    "started": render::time(n.started),
                    "heartbeat": render::time(n.heartbeat),
                    "stopped": n.stopped.map(render::time),
                })
            })
            .collect();
        // Plain data; serializing it to a string cannot fail.
        let mut text = serde_json::to_string_pretty(&list).unwrap_or_default();
        text.push('\n');
        text
    } else {
        human(&nodes, now)
    };
    pipe::write_stdout(text.as_bytes())?;
    Ok(0)
}

/// One line per node, newest first.
fn human(nodes: &[NodeInfo], now: SystemTime) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<36}  {:<7}  {:<20}  {:>8}  heartbeat",
        "node", "state", "host", "pid"
    );
    for n in nodes {
        let state = match (n.live, n.stopped) {
            (true, _) => "live",
            (false, Some(_)) => "stopped",
            (false, None) => "gone",
        };
        let age = now.duration_since(n.heartbeat).unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<36}  {:<7}  {:<20}  {:>8}  {} ago",
            n.id,
            state,
            n.host,
            n.pid,
            render::duration(age)
        );
    }
    out
}

#[cfg(feature = "postgres")]
async fn read(url: crate::store::PostgresUrl) -> Result<Vec<NodeInfo>, CliError> {
    tokio::task::spawn_blocking(move || {
        let store = taskorch_actors::Store::open_postgres_read_only(url.as_str())?;
        let nodes = store.nodes();
        store.close();
        nodes
    })
    .await
    .map_err(|e| CliError::Usage(format!("reading the store failed: {e}")))?
    .map_err(CliError::Runtime)
}

#[cfg(not(feature = "postgres"))]
async fn read(url: crate::store::PostgresUrl) -> Result<Vec<NodeInfo>, CliError> {
    Err(CliError::Runtime(crate::Error::InvalidStoreUrl {
        url: url.to_string(),
        reason: "this build of taskorch has no PostgreSQL support: enable the `postgres` feature"
            .into(),
    }))
}
