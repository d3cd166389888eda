//! Durable state: closing the store (it is opened and recovered by
//! `taskorch_actors::Runtime::start`).

use std::sync::Arc;

use taskorch_actors::Context;

/// Commit what is left and release the file.
pub(super) async fn close_store(ctx: &Arc<Context>) {
    let store = ctx.store().clone();
    if store.is_enabled() {
        let _ = tokio::task::spawn_blocking(move || store.close()).await;
    }
}
