//! Structured logging: JSON lines with correlation ids, and the presets.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use taskorch::logging::LogFormat;
use taskorch::{Config, Error, Task};

use crate::common::fast_config;

/// A `MakeWriter` into a shared buffer.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Buffer {
        self.clone()
    }
}

// Current-thread runtime: the thread-local default subscriber sees every
// actor and run task.
#[tokio::test]
async fn json_log_lines_carry_the_run_and_its_correlation_id() {
    let buffer = Buffer::default();
    let config = Config {
        log_format: LogFormat::Json,
        log_filter: "taskorch=debug".into(),
        ..fast_config()
    };
    let subscriber = taskorch::logging::subscriber(&config, buffer.clone()).unwrap();
    let _default = tracing::subscriber::set_default(subscriber);
    let orch = taskorch::Orchestrator::start(config).await.unwrap();
    let out = orch
        .run(
            Task::command("false")
                .retries(1)
                .backoff(taskorch::Backoff::fixed(Duration::ZERO)),
        )
        .await
        .unwrap();
    orch.shutdown().await.unwrap();
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    // The retry is logged inside the run's span, which carries its ids.
    let retry = lines
        .iter()
        .find(|l| l["fields"]["message"] == "retrying")
        .unwrap_or_else(|| panic!("no retry line in {text}"));
    assert_eq!(retry["span"]["run_id"], out.run_id.to_string());
    assert_eq!(retry["span"]["correlation"].as_str().unwrap().len(), 32);
    assert!(retry["spans"].is_array());
}

#[test]
fn a_bad_filter_is_an_invalid_config() {
    let config = Config {
        log_filter: "taskorch=loud".into(),
        ..Config::default()
    };
    // RUST_LOG would win over the filter; only check when it is unset.
    if std::env::var_os("RUST_LOG").is_none() {
        assert!(matches!(
            taskorch::logging::subscriber(&config, std::io::sink),
            Err(Error::InvalidConfig(msg)) if msg.contains("log_filter")
        ));
    }
}

#[test]
fn presets_differ_where_documented_and_default_is_unchanged() {
    let default = Config::default();
    assert_eq!(default.max_concurrency, 64);
    assert_eq!(default.log_format, LogFormat::Compact);
    assert!(default.store.is_none());
    default.validate().unwrap();

    let dev = Config::development();
    assert_eq!(dev.log_format, LogFormat::Pretty);
    assert!(dev.store.is_none());
    assert!(dev.max_concurrency < default.max_concurrency);
    assert!(dev.history_limit < default.history_limit);
    dev.validate().unwrap();

    let prod = Config::production();
    assert_eq!(prod.log_format, LogFormat::Json);
    assert!(prod.store.is_some(), "persistence on");
    assert!(prod.max_concurrency > default.max_concurrency);
    assert!(prod.history_limit > default.history_limit);
    assert!(prod.event_capacity > default.event_capacity);
    prod.validate().unwrap();

    assert!(matches!(
        Config {
            event_capacity: 0,
            ..Config::default()
        }
        .validate(),
        Err(Error::InvalidConfig(msg)) if msg.contains("event_capacity")
    ));
}
