//! Node identity and liveness: each orchestrator started on the database
//! is a row of `taskorch_nodes` (id, host, pid, start), whose heartbeat a
//! task of the backend's runtime renews every [`HEARTBEAT`] on a
//! connection of its own, and which is marked stopped when the store
//! closes.
//!
//! Every time is the database's (`now()`), never a node's clock: a node
//! whose clock is off by seconds neither looks dead early nor alive late.
//! A node is live while it has not stopped and its last heartbeat is
//! younger than [`LEASE`]; a node killed (or frozen) shows as not live
//! once that has passed. Rows of nodes gone for a day are removed at the
//! next start.

use std::time::{Duration, SystemTime};

use tokio_postgres::Client;

use super::connect;
use crate::store::NodeInfo;

/// How often a node renews its heartbeat.
pub(super) const HEARTBEAT: Duration = Duration::from_secs(5);

/// How long after its last heartbeat a node counts as gone: three missed
/// heartbeats.
pub(super) const LEASE: Duration = Duration::from_secs(15);

/// Register this process as a node; answers its id.
pub(super) async fn register(client: &Client) -> Result<[u8; 16], tokio_postgres::Error> {
    let id = *uuid::Uuid::now_v7().as_bytes();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    client
        .execute(
            "DELETE FROM taskorch_nodes
             WHERE coalesce(stopped, heartbeat) < now() - interval '1 day'",
            &[],
        )
        .await?;
    client
        .execute(
            "INSERT INTO taskorch_nodes (id, host, pid) VALUES ($1, $2, $3)",
            &[&id.as_slice(), &host, &(std::process::id() as i32)],
        )
        .await?;
    Ok(id)
}

/// Renew node `id`'s heartbeat every [`HEARTBEAT`], reconnecting after a
/// failure, until the task is aborted (the store closes).
pub(super) async fn heartbeat(config: tokio_postgres::Config, shown: String, id: [u8; 16]) {
    let mut client: Option<Client> = None;
    loop {
        tokio::time::sleep(HEARTBEAT).await;
        if client.as_ref().is_none_or(Client::is_closed) {
            client = connect(&config, &shown).await.ok();
        }
        let Some(c) = &client else {
            continue;
        };
        if let Err(e) = c
            .execute(
                "UPDATE taskorch_nodes SET heartbeat = now() WHERE id = $1",
                &[&id.as_slice()],
            )
            .await
        {
            tracing::warn!(store = %shown, error = %e, "node heartbeat failed");
            client = None;
        }
    }
}

/// Mark node `id` stopped.
pub(super) async fn stopped(client: &Client, id: [u8; 16]) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "UPDATE taskorch_nodes SET stopped = now() WHERE id = $1",
            &[&id.as_slice()],
        )
        .await
        .map(drop)
}

/// Every node on record, newest first.
pub(super) async fn list(
    client: std::sync::Arc<Client>,
) -> Result<Vec<NodeInfo>, tokio_postgres::Error> {
    let lease = LEASE.as_secs_f64();
    let rows = client
        .query(
            "SELECT id, host, pid, started, heartbeat, stopped,
                    stopped IS NULL AND heartbeat > now() - make_interval(secs => $1)
             FROM taskorch_nodes ORDER BY id DESC",
            &[&lease],
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let id: Vec<u8> = r.get(0);
            NodeInfo {
                id: uuid::Uuid::from_slice(&id).map_or_else(|_| String::new(), |u| u.to_string()),
                host: r.get(1),
                pid: r.get::<_, i32>(2).max(0) as u32,
                started: r.get::<_, SystemTime>(3),
                heartbeat: r.get::<_, SystemTime>(4),
                stopped: r.get::<_, Option<SystemTime>>(5),
                live: r.get(6),
            }
        })
        .collect())
}
