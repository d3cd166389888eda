//! What every handler shares: where the data comes from (a live
//! orchestrator, or a store read-only), the config, the event hub, the
//! HTTP-side metrics.

use std::collections::HashMap;
use std::sync::Arc;

use taskorch_actors::Store;

use crate::{Error, Orchestrator, Result, RunId, RunInfo, RunQuery};

use super::HttpConfig;
use super::hub::Hub;
use super::metrics::HttpMetrics;
use super::run_json::{self, RunDetails};

/// Where the API reads from and acts on.
#[derive(Clone)]
pub(crate) enum Backend {
    /// A running orchestrator: every route.
    Live(Orchestrator),
    /// A store file opened read-only: runs and their output only.
    #[cfg_attr(not(all(feature = "cli", unix)), allow(dead_code))]
    Stored(Arc<Store>),
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Backend::Live(_) => f.write_str("Backend::Live"),
            Backend::Stored(_) => f.write_str("Backend::Stored"),
        }
    }
}

/// The handlers' state (cheap to clone).
#[derive(Clone, Debug)]
pub(crate) struct AppState(Arc<Shared>);

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) backend: Backend,
    pub(crate) config: HttpConfig,
    /// Commands by run name for runs whose task is not kept.
    commands: Arc<HashMap<String, String>>,
    /// The event ring and its fan-out (live backends only).
    pub(crate) hub: Option<Hub>,
    pub(crate) metrics: Arc<HttpMetrics>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub(crate) fn new(
        backend: Backend,
        config: HttpConfig,
        commands: Arc<HashMap<String, String>>,
    ) -> AppState {
        let metrics = Arc::new(HttpMetrics::new());
        let hub = match &backend {
            Backend::Live(orch) => Some(Hub::start(orch, &config, Arc::clone(&metrics))),
            Backend::Stored(_) => None,
        };
        AppState(Arc::new(Shared {
            backend,
            config,
            commands,
            hub,
            metrics,
        }))
    }

    /// The live orchestrator; `ReadOnly` naming `what` on a store.
    pub(crate) fn live(&self, what: &str) -> Result<&Orchestrator> {
        match &self.backend {
            Backend::Live(orch) => Ok(orch),
            Backend::Stored(_) => Err(Error::ReadOnly {
                what: what.to_string(),
            }),
        }
    }

    /// Runs matching `query`, newest first.
    pub(crate) fn history(&self, query: &RunQuery) -> Result<Vec<RunInfo>> {
        match &self.backend {
            Backend::Live(orch) => orch.observe().history(query),
            Backend::Stored(store) => store.history(query),
        }
    }

    /// Every known run id (for short ids).
    pub(crate) fn all_ids(&self) -> Result<Vec<RunId>> {
        match &self.backend {
            Backend::Live(orch) => {
                let mut ids: Vec<RunId> = orch.runs().into_iter().map(|r| r.id).collect();
                if let Ok(stored) = orch.observe().history(&RunQuery::new()) {
                    ids.extend(stored.into_iter().map(|r| r.id));
                    ids.sort_unstable();
                    ids.dedup();
                }
                Ok(ids)
            }
            Backend::Stored(store) => Ok(store
                .history(&RunQuery::new())?
                .into_iter()
                .map(|r| r.id)
                .collect()),
        }
    }

    /// The run a full id or a short one (a unique suffix) names.
    ///
    /// # Errors
    /// `BadRequest` for text that is no id; `UnresolvedRunId` for a short
    /// id matching no run or several; `UnknownRun` for a full id that is
    /// not known here.
    pub(crate) fn resolve(&self, text: &str) -> Result<RunId> {
        let id = if let Ok(id) = text.parse::<RunId>() {
            id
        } else if run_json::is_short_form(text) {
            let matches = run_json::matching(text, &self.all_ids()?);
            match matches.as_slice() {
                [one] => *one,
                many => {
                    return Err(Error::UnresolvedRunId {
                        id: text.to_string(),
                        matches: many.len(),
                    });
                }
            }
        } else {
            return Err(Error::BadRequest {
                what: "id".to_string(),
                reason: format!(
                    "{text:?} is not a run id: give the full id or its last {} or more hex digits",
                    run_json::MIN
                ),
            });
        };
        if self.known(id) {
            Ok(id)
        } else {
            Err(Error::UnknownRun(id))
        }
    }

    fn known(&self, id: RunId) -> bool {
        match &self.backend {
            Backend::Live(orch) => {
                orch.status(id).is_some() || orch.observe().stored_run(id).is_some()
            }
            Backend::Stored(store) => store.stored_run(id).is_some(),
        }
    }

    /// Run `id` as the JSON resource shows it (see `run_json`).
    pub(crate) async fn details(&self, id: RunId) -> Result<RunDetails> {
        match &self.backend {
            Backend::Stored(store) => store
                .stored_run(id)
                .map(|run| RunDetails::stored(run, None))
                .ok_or(Error::UnknownRun(id)),
            Backend::Live(orch) => {
                let Some(info) = orch.observe().find_run(id) else {
                    return orch
                        .observe()
                        .stored_run(id)
                        .map(|run| RunDetails::stored(run, None))
                        .ok_or(Error::UnknownRun(id));
                };
                let fallback = self.commands.get(&info.name).cloned();
                // A finished run as the store keeps it: what a read of the
                // file shows.
                if info.status.is_terminal()
                    && let Some(run) = orch.observe().stored_run(id)
                {
                    return Ok(RunDetails::stored(run, fallback));
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
                    .map(|task| run_json::describe(&task))
                    .or(fallback);
                let mut details = RunDetails::new(info, command, outcome.as_ref());
                details.rerun_of = orch.observe().rerun_of(id);
                Ok(details)
            }
        }
    }

    /// The details of each of `runs` (a list page).
    pub(crate) fn list_details(&self, runs: Vec<RunInfo>) -> Vec<RunDetails> {
        runs.into_iter()
            .map(|info| {
                let fallback = self.commands.get(&info.name).cloned();
                let stored = match &self.backend {
                    Backend::Live(orch) => orch.observe().stored_run(info.id),
                    Backend::Stored(store) => store.stored_run(info.id),
                };
                match stored {
                    Some(run) => RunDetails::stored(run, fallback),
                    None => RunDetails::new(info, fallback, None),
                }
            })
            .collect()
    }
}
