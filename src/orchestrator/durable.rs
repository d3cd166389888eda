//! Durable state: opening and closing the store.

use std::sync::Arc;

use taskorch_actors::{Context, Error, Recovered, Result, Store, StoreLimits};

use crate::config::Config;

/// Open `config.store` (if set) and recover it, off the async threads:
/// redb reads (and after a crash, checks) the file.
pub(super) async fn open_store(config: &Config) -> Result<(Store, Recovered)> {
    let Some(path) = config.store.clone() else {
        return Ok((Store::disabled(), Recovered::default()));
    };
    let limits = StoreLimits {
        history_limit: config.history_limit,
        output_budget: config.output_budget,
        kill_grace: config.kill_grace,
    };
    let fallback = path.clone();
    tokio::task::spawn_blocking(move || Store::open(path, limits))
        .await
        .unwrap_or_else(|e| {
            Err(Error::Store {
                path: fallback,
                reason: format!(
                    "opening the store failed inside the storage engine ({e}); the file was left \
                     untouched: move it aside (or delete it) to start with an empty history, or \
                     restore it from a backup"
                ),
            })
        })
}

/// Commit what is left and release the file.
pub(super) async fn close_store(ctx: &Arc<Context>) {
    let store = ctx.store().clone();
    if store.is_enabled() {
        let _ = tokio::task::spawn_blocking(move || store.close()).await;
    }
}
