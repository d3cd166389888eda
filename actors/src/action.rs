//! In-process actions: named async functions from JSON to JSON.
//!
//! The table lives in the runtime [`Context`](crate::Context), outside the
//! actors, so registrations survive restarts.

use std::future::Future;
use std::sync::Arc;

use dashmap::DashMap;
use futures::future::BoxFuture;
use serde_json::Value;
use tokio::sync::Notify;

/// A registered action, type-erased.
pub type ActionFn = Arc<dyn Fn(Value) -> BoxFuture<'static, Result<Value, String>> + Send + Sync>;

/// Actions by name.
#[derive(Default)]
pub struct ActionTable {
    actions: DashMap<String, ActionFn>,
    // Woken on every registration: a run resumed after a restart may wait
    // for its action, which the application registers after `start`.
    registered: Notify,
}

impl std::fmt::Debug for ActionTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<String> = self.actions.iter().map(|e| e.key().clone()).collect();
        names.sort();
        f.debug_struct("ActionTable")
            .field("actions", &names)
            .finish()
    }
}

impl ActionTable {
    /// Register `f` under `name`, replacing any earlier registration.
    ///
    /// Actions run on the runtime's worker threads: one that blocks (heavy
    /// computation, blocking I/O) should move that work to
    /// `tokio::task::spawn_blocking` itself.
    pub fn register<F, Fut>(&self, name: impl Into<String>, f: F)
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, String>> + Send + 'static,
    {
        let f: ActionFn = Arc::new(move |input| Box::pin(f(input)));
        self.actions.insert(name.into(), f);
        self.registered.notify_waiters();
    }

    /// Wait until `name` is registered (at once if it is).
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn registered(&self, name: &str) {
        loop {
            let notified = self.registered.notified();
            tokio::pin!(notified);
            // Interest first, then the check: a registration in between
            // still wakes us.
            notified.as_mut().enable();
            if self.contains(name) {
                return;
            }
            notified.await;
        }
    }

    /// The action registered under `name`.
    pub fn get(&self, name: &str) -> Option<ActionFn> {
        self.actions.get(name).map(|a| Arc::clone(a.value()))
    }

    /// Whether `name` is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.actions.contains_key(name)
    }
}
