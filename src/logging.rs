//! Structured logging through `tracing-subscriber`, opt-in.
//!
//! taskorch logs through `tracing` (actor messages and runs are spans that
//! carry the run id and the request's correlation id). It never installs a
//! subscriber by itself — a library must not take over the process's
//! logging — so nothing is printed until the application either installs
//! its own subscriber or calls [`init`] once at start-up:
//!
//! ```no_run
//! # async fn demo() -> taskorch::Result<()> {
//! let config = taskorch::Config::production(); // JSON lines at "info"
//! taskorch::logging::init(&config)?;
//! let orch = taskorch::Orchestrator::start(config).await?;
//! # orch.shutdown().await }
//! ```
//!
//! With [`LogFormat::Json`] every line is one JSON
//! object carrying the fields of the current span (`run_id`,
//! `correlation`, `actor`) and the list of spans it is in, so a log
//! shipper can join log lines to events (`Event::correlation`) and traces.

use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::Config;
pub use crate::config::LogFormat;
use crate::{Error, Result};

/// Install the global `tracing` subscriber `config` describes
/// (`log_format`, `log_filter`; `RUST_LOG` wins when set), writing to
/// stderr.
///
/// # Errors
/// `InvalidConfig` if `log_filter` is not a valid filter directive, or a
/// global subscriber is already installed.
pub fn init(config: &Config) -> Result<()> {
    let subscriber = subscriber(config, std::io::stderr)?;
    tracing::subscriber::set_global_default(subscriber).map_err(|_| {
        Error::InvalidConfig(
            "a global tracing subscriber is already installed; logging::init installs one only once"
                .into(),
        )
    })
}

/// The subscriber [`init`] would install, writing to `writer`: use it with
/// `tracing::subscriber::with_default` (tests) or wrap it yourself.
///
/// # Errors
/// `InvalidConfig` if `log_filter` is not a valid filter directive.
pub fn subscriber<W>(config: &Config, writer: W) -> Result<Box<dyn Subscriber + Send + Sync>>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = env_filter(config)?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    Ok(match config.log_format {
        LogFormat::Compact => Box::new(builder.compact().finish()),
        LogFormat::Pretty => Box::new(builder.pretty().finish()),
        LogFormat::Json => Box::new(
            builder
                .json()
                .with_current_span(true)
                .with_span_list(true)
                .finish(),
        ),
    })
}

/// The filter [`init`] applies: `RUST_LOG` when set, else
/// `Config::log_filter`.
///
/// # Errors
/// `InvalidConfig` if the directive is not a valid filter.
pub(crate) fn env_filter(config: &Config) -> Result<EnvFilter> {
    match std::env::var("RUST_LOG") {
        Ok(env) if !env.trim().is_empty() => EnvFilter::try_new(env),
        _ => EnvFilter::try_new(&config.log_filter),
    }
    .map_err(|e| {
        Error::InvalidConfig(format!(
            "Config::log_filter {:?} is not a valid filter: {e}",
            config.log_filter
        ))
    })
}
