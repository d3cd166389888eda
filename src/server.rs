//! The HTTP API (feature `server`): runs, live streams (SSE), Prometheus
//! metrics and an OpenAPI document, as an [`axum::Router`] to nest in an
//! application's own server ([`Orchestrator::http_router`]) or served by
//! [`serve`] (and `taskorch up --http ADDR`, `taskorch serve`).
//!
//! # Layout
//! ```text
//! server.rs          HttpConfig, Http (the builder), serve, Listener
//! server/state.rs    what every handler shares: the backend, the config
//! server/problem.rs  Error -> application/problem+json
//! server/auth.rs     bearer token, size limits (a middleware)
//! server/listen.rs   the accept loop: header-read timeout per connection
//! server/routes/     one file per resource (runs, system)
//! server/sse.rs      /events and /runs/{id}/output/stream
//! server/hub.rs      the event ring that /events replays from
//! server/metrics.rs  /metrics (prometheus-client)
//! server/openapi.rs  /openapi.json (utoipa, from the handlers)
//! server/dashboard.rs GET /
//! server/run_json.rs the JSON shape of a run (shared with the CLI)
//! ```
//!
//! The docs in `docs/http.md` list the routes and the threat model.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::{Error, Orchestrator, Result};

mod auth;
mod dashboard;
mod hub;
mod listen;
mod metrics;
mod openapi;
mod problem;
mod routes;
pub(crate) mod run_json;
mod sse;
mod state;

pub use listen::{Listener, MAX_CONNECTIONS};

use state::{AppState, Backend};

/// Environment variable holding the bearer token
/// ([`HttpConfig::from_env`]).
pub const TOKEN_ENV: &str = "TASKORCH_HTTP_TOKEN";

/// Environment variable naming a file that holds the bearer token
/// ([`HttpConfig::from_env`]).
pub const TOKEN_FILE_ENV: &str = "TASKORCH_HTTP_TOKEN_FILE";

/// How the HTTP API guards itself. [`Default`] is the safe setting:
/// every route that changes anything needs the token, requests are
/// bounded, slow clients are cut off.
#[derive(Clone)]
#[non_exhaustive]
pub struct HttpConfig {
    /// The bearer token (`Authorization: Bearer TOKEN`). Without one,
    /// mutating routes answer 401 (unless `loopback_writes` lets loopback
    /// clients through); [`serve`] generates and prints one.
    pub token: Option<String>,
    /// Let clients on a loopback address (127.0.0.0/8, ::1) use the
    /// mutating routes without the token. Off by default; only honoured
    /// when the peer address is known (served by [`serve`] / [`Http::bind`]).
    pub loopback_writes: bool,
    /// Require the token on every route, reads included. [`serve`] sets it
    /// for any address other than loopback.
    pub token_for_reads: bool,
    /// Largest request body, in bytes (default 64 KiB).
    pub max_body: usize,
    /// Longest query string, in bytes (default 4 KiB).
    pub max_query: usize,
    /// Time a client has to send its request head (default 10 s): a
    /// slow-loris client is disconnected after it.
    pub header_timeout: Duration,
    /// Time a client has to send its request body (default 10 s).
    pub body_timeout: Duration,
    /// Longest a write to a client may make no progress (default 30 s):
    /// a client that stopped reading (an SSE client that never reads) is
    /// disconnected after it.
    pub write_timeout: Duration,
    /// Events one `/events` client may fall behind by before it is sent
    /// a `lagged` event and dropped (default 1024).
    pub client_buffer: usize,
    /// Events `/events` keeps for `Last-Event-ID` replay (default 4096).
    pub replay: usize,
    /// Most runs one `GET /runs` answers (default 1000).
    pub max_page: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            token: None,
            loopback_writes: false,
            token_for_reads: false,
            max_body: 64 * 1024,
            max_query: 4 * 1024,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
            client_buffer: 1024,
            replay: 4096,
            max_page: 1000,
        }
    }
}

impl std::fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token itself: configs end up in logs.
        f.debug_struct("HttpConfig")
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("loopback_writes", &self.loopback_writes)
            .field("token_for_reads", &self.token_for_reads)
            .field("max_body", &self.max_body)
            .field("max_query", &self.max_query)
            .field("header_timeout", &self.header_timeout)
            .field("body_timeout", &self.body_timeout)
            .field("write_timeout", &self.write_timeout)
            .field("client_buffer", &self.client_buffer)
            .field("replay", &self.replay)
            .field("max_page", &self.max_page)
            .finish()
    }
}

impl HttpConfig {
    /// The default config with the token from [`TOKEN_ENV`], or else read
    /// from the file [`TOKEN_FILE_ENV`] names (surrounding whitespace
    /// trimmed).
    ///
    /// # Errors
    /// `InvalidConfig` if the file cannot be read or the token is empty.
    pub fn from_env() -> Result<HttpConfig> {
        let mut config = HttpConfig::default();
        if let Ok(token) = std::env::var(TOKEN_ENV) {
            config.token = Some(check_token(token.trim(), TOKEN_ENV)?);
        } else if let Ok(path) = std::env::var(TOKEN_FILE_ENV) {
            config.token = Some(read_token_file(std::path::Path::new(&path))?);
        }
        Ok(config)
    }

    /// `self` with `token`.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }
}

/// The token in the file at `path` (whitespace trimmed).
///
/// # Errors
/// `InvalidConfig` if it cannot be read or is empty.
pub fn read_token_file(path: &std::path::Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::InvalidConfig(format!("token file {}: {e}", path.display())))?;
    check_token(text.trim(), &path.display().to_string())
}

fn check_token(token: &str, source: &str) -> Result<String> {
    if token.is_empty() {
        return Err(Error::InvalidConfig(format!(
            "{source}: the token is empty"
        )));
    }
    Ok(token.to_string())
}

/// A fresh random token: 32 bytes from the OS-seeded generator, as hex.
pub fn generate_token() -> String {
    use rand::Rng;
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Builds the HTTP API of an orchestrator: [`router`](Http::router) to
/// nest it, [`bind`](Http::bind) to serve it.
#[derive(Debug, Clone)]
pub struct Http {
    backend: Backend,
    config: HttpConfig,
    commands: Arc<HashMap<String, String>>,
}

impl Http {
    /// The API of `orch` with [`HttpConfig::default`].
    pub fn new(orch: &Orchestrator) -> Http {
        Http {
            backend: Backend::Live(orch.clone()),
            config: HttpConfig::default(),
            commands: Arc::default(),
        }
    }

    /// The read-only API of a store no process holds (`taskorch serve`):
    /// runs and their output; everything live answers `read_only`.
    // Only the CLI builds these (a library user serves a live orchestrator).
    #[cfg_attr(not(all(feature = "cli", unix)), allow(dead_code))]
    pub(crate) fn stored(store: taskorch_actors::Store) -> Http {
        Http {
            backend: Backend::Stored(Arc::new(store)),
            config: HttpConfig::default(),
            commands: Arc::default(),
        }
    }

    /// Use `config`.
    pub fn config(mut self, config: HttpConfig) -> Http {
        self.config = config;
        self
    }

    /// Commands by run name, for runs whose task the store does not keep
    /// (what `taskorch up` started).
    #[cfg_attr(not(all(feature = "cli", unix)), allow(dead_code))]
    pub(crate) fn commands(mut self, commands: Arc<HashMap<String, String>>) -> Http {
        self.commands = commands;
        self
    }

    /// The router. Must be called inside a tokio runtime: it starts the
    /// task that keeps the event ring for `/events` (it stops when the
    /// router and every clone of it are dropped).
    pub fn router(self) -> axum::Router {
        let state = AppState::new(self.backend, self.config, self.commands);
        routes::router(state)
    }

    /// Bind `addr` and serve the API on it until [`Listener::stop`] (or
    /// the listener is dropped). A non-loopback address needs the token on
    /// every route: without a token in the config one is generated, and
    /// [`Listener::token`] tells it (the CLI prints it).
    ///
    /// # Errors
    /// `Io` if the address cannot be bound.
    pub async fn bind(mut self, addr: SocketAddr) -> Result<Listener> {
        if !addr.ip().is_loopback() {
            self.config.token_for_reads = true;
        }
        let generated = self.config.token.is_none();
        if generated {
            self.config.token = Some(generate_token());
        }
        let token = self.config.token.clone();
        let limits = listen::Limits {
            header_timeout: self.config.header_timeout,
            write_timeout: self.config.write_timeout,
        };
        let router = self.router();
        listen::Listener::start(addr, router, limits, token, generated).await
    }
}

/// Serve `orch`'s HTTP API on `addr` until the orchestrator shuts down,
/// with [`HttpConfig::from_env`]. A generated token (none in the
/// environment) is printed on stderr.
///
/// # Errors
/// `InvalidConfig` for an unreadable token file; `Io` if the address
/// cannot be bound.
pub async fn serve(orch: Orchestrator, addr: SocketAddr) -> Result<()> {
    let config = HttpConfig::from_env()?;
    let listener = Http::new(&orch).config(config).bind(addr).await?;
    if listener.token_generated() {
        eprintln!(
            "taskorch: HTTP API on http://{}; bearer token: {}",
            listener.local_addr(),
            listener.token().unwrap_or_default()
        );
    }
    // The orchestrator has no awaitable end to select on: check it a few
    // times a second (a stopped orchestrator answers `ShuttingDown`
    // meanwhile anyway).
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    while orch.is_running() {
        tick.tick().await;
    }
    listener.stop().await;
    Ok(())
}

impl Orchestrator {
    /// The HTTP API of this orchestrator as an [`axum::Router`] to nest in
    /// an application's own server (feature `server`): the routes of
    /// `docs/http.md`, with [`HttpConfig::from_env`] (mutating routes need
    /// the token; without one they answer 401) or, if the environment's
    /// token file is unreadable, the default config.
    /// [`server::Http`](crate::server::Http) sets the config explicitly.
    ///
    /// Must be called inside a tokio runtime (see [`Http::router`]).
    pub fn http_router(&self) -> axum::Router {
        let config = HttpConfig::from_env().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "http_router: token from the environment unusable");
            HttpConfig::default()
        });
        Http::new(self).config(config).router()
    }
}
