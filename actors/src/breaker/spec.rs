//! What a task asks of its breaker: the key and the options. Apart from
//! [`Breakers`](super::Breakers) (which reports through the events) so that
//! `task.rs` can hold a spec without importing the breakers' machinery.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// When a breaker opens and for how long (`Task::breaker_options`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BreakerOptions {
    /// Consecutive failures that open the breaker (default 5, at least 1).
    pub failures: u32,
    /// Also open when at least this fraction (0 < rate <= 1) of the
    /// outcomes within `window` failed, once `min_calls` outcomes are in
    /// the window (default: off).
    pub failure_rate: Option<f64>,
    /// The window of the failure rate (default 60 s).
    pub window: Duration,
    /// Outcomes needed in the window before the rate counts (default 10).
    pub min_calls: u32,
    /// How long the breaker stays open before it lets one trial through
    /// (default 30 s).
    pub reset_timeout: Duration,
}

impl Default for BreakerOptions {
    fn default() -> Self {
        BreakerOptions {
            failures: 5,
            failure_rate: None,
            window: Duration::from_secs(60),
            min_calls: 10,
            reset_timeout: Duration::from_secs(30),
        }
    }
}

impl BreakerOptions {
    /// Open after `n` consecutive failures.
    pub fn failures(mut self, n: u32) -> Self {
        self.failures = n;
        self
    }

    /// Open when `rate` of the outcomes within `window` failed.
    pub fn failure_rate(mut self, rate: f64, window: Duration) -> Self {
        self.failure_rate = Some(rate);
        self.window = window;
        self
    }

    /// Outcomes needed in the window before the rate counts.
    pub fn min_calls(mut self, n: u32) -> Self {
        self.min_calls = n;
        self
    }

    /// How long to stay open before a trial.
    pub fn reset_timeout(mut self, timeout: Duration) -> Self {
        self.reset_timeout = timeout;
        self
    }

    /// Check the options.
    ///
    /// # Errors
    /// `InvalidTask` naming the option out of range: zero `failures`,
    /// `min_calls`, `window` or `reset_timeout`, a rate outside (0, 1].
    pub fn validate(&self, key: &str) -> Result<()> {
        let invalid = |what: String| Err(Error::InvalidTask(format!("breaker {key:?}: {what}")));
        if key.trim().is_empty() {
            return Err(Error::InvalidTask("empty circuit breaker key".into()));
        }
        if self.failures == 0 {
            return invalid("failures must be at least 1".into());
        }
        if self.reset_timeout.is_zero() {
            return invalid("reset_timeout must be greater than zero".into());
        }
        crate::duration::check("BreakerOptions::reset_timeout", self.reset_timeout)?;
        crate::duration::check("BreakerOptions::failure_rate window", self.window)?;
        if let Some(rate) = self.failure_rate {
            if !(rate > 0.0 && rate <= 1.0) {
                return invalid(format!("failure_rate must be in (0, 1], not {rate}"));
            }
            if self.window.is_zero() {
                return invalid("window must be greater than zero".into());
            }
            if self.min_calls == 0 {
                return invalid("min_calls must be at least 1".into());
            }
        }
        Ok(())
    }
}

/// A task's breaker: its key and options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakerSpec {
    /// The dependency key; tasks with one key share one breaker.
    pub key: String,
    /// The options (the last task admitted sets them for the key).
    pub options: BreakerOptions,
}
