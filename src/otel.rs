//! OpenTelemetry: the runtime's spans exported through
//! `tracing-opentelemetry` and OTLP (feature `otel`).
//!
//! taskorch traces through `tracing`: a `run` span around every run
//! (target `taskorch::run`, level `DEBUG`; attributes `run_id`, `pattern`,
//! `actor`, `correlation`, and `status` once it ended) and a `message` span
//! around every actor message. With the feature on and
//! [`layer`] in the subscriber:
//! - each run is **one trace**: its span is the child of the span that was
//!   current where the request was made (`run`, `launch`, a batch, a
//!   schedule's creation...), even when the run starts or ends after that
//!   span closed; a request made outside any span starts a trace of its
//!   own, rooted at the run;
//! - every child process gets `TRACEPARENT` naming the run's span, so a
//!   program that exports its own spans joins the run's trace. (A
//!   `TRACEPARENT` the task sets itself still wins.)
//!
//! [`init`] installs all of it at once — the log lines of
//! [`logging::init`](crate::logging::init) plus an OTLP/HTTP exporter — and
//! returns a guard that flushes the last spans when dropped. To add the
//! layer to a subscriber of your own, use [`otlp_provider`] (or any
//! `SdkTracerProvider`) and [`layer`]. The crates are re-exported so their
//! versions match the ones taskorch was built with (the three move in
//! lockstep). The guide is `docs/opentelemetry.md`.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracing::Subscriber;
use tracing::level_filters::LevelFilter;
use tracing_opentelemetry::OpenTelemetryLayer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{Layer, Registry, layer::SubscriberExt};

pub use opentelemetry;
pub use opentelemetry_otlp;
pub use opentelemetry_sdk;
pub use tracing_opentelemetry;

use crate::config::{Config, LogFormat};
use crate::{Error, Result};

/// The instrumentation scope taskorch's spans are exported under.
pub const TRACER_NAME: &str = "taskorch";

/// The `tracing` layer that turns spans into OpenTelemetry spans exported
/// by `provider`, with taskorch's run parenting (see the module docs).
///
/// The runtime's spans are at `DEBUG`: a filter in front of this layer
/// must let `taskorch=debug` through for runs to be exported.
pub fn layer<S>(provider: &SdkTracerProvider) -> OpenTelemetryLayer<S, SdkTracer>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    tracing_opentelemetry::layer().with_tracer(provider.tracer(TRACER_NAME))
}

/// A tracer provider exporting over OTLP/HTTP (protobuf) in batches.
/// The endpoint and headers come from the standard variables
/// (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`,
/// `OTEL_EXPORTER_OTLP_HEADERS`; default `http://localhost:4318`);
/// `service_name` becomes the `service.name` resource attribute.
///
/// # Errors
/// `InvalidConfig` naming the exporter's complaint (a malformed endpoint).
pub fn otlp_provider(service_name: impl Into<String>) -> Result<SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .map_err(|e| Error::InvalidConfig(format!("the OTLP span exporter: {e}")))?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(service_name.into())
                .build(),
        )
        .build())
}

/// Flushes and shuts down the tracer provider [`init`] installed when
/// dropped: keep it alive for as long as the application runs.
#[derive(Debug)]
pub struct OtelGuard {
    provider: SdkTracerProvider,
}

impl OtelGuard {
    /// The provider spans are exported through.
    pub fn provider(&self) -> &SdkTracerProvider {
        &self.provider
    }
}

impl Drop for OtelGuard {
    fn drop(&mut self) {
        // Shutdown flushes the batch; an error here (the collector is
        // down) has nowhere better to go than the exporter's own log.
        let _ = self.provider.shutdown();
    }
}

/// Install the global `tracing` subscriber: the log lines `config`
/// describes (as [`logging::init`](crate::logging::init): `log_format`,
/// `log_filter`, `RUST_LOG` wins) and an OTLP exporter of taskorch's spans
/// ([`otlp_provider`]) that sees `taskorch` at `DEBUG` and everything else
/// at `INFO`, whatever the log filter says.
///
/// # Errors
/// `InvalidConfig` if `log_filter` is not a valid filter directive, the
/// exporter cannot be built, or a global subscriber is already installed.
pub fn init(config: &Config, service_name: impl Into<String>) -> Result<OtelGuard> {
    let provider = otlp_provider(service_name)?;
    let filter = crate::logging::env_filter(config)?;
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let log: Box<dyn Layer<Registry> + Send + Sync> = match config.log_format {
        LogFormat::Compact => fmt.compact().with_filter(filter).boxed(),
        LogFormat::Pretty => fmt.pretty().with_filter(filter).boxed(),
        LogFormat::Json => fmt
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_filter(filter)
            .boxed(),
    };
    let spans = Targets::new()
        .with_target("taskorch", LevelFilter::DEBUG)
        .with_default(LevelFilter::INFO);
    let subscriber = Registry::default()
        .with(log)
        .with(layer(&provider).with_filter(spans));
    tracing::subscriber::set_global_default(subscriber).map_err(|_| {
        Error::InvalidConfig(
            "a global tracing subscriber is already installed; otel::init installs one only once"
                .into(),
        )
    })?;
    Ok(OtelGuard { provider })
}
