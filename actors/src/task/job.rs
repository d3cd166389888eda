//! The job options of a [`Task`]: the caller's own key, free labels, a
//! priority, a named queue and a delayed start ([`JobOptions`], built with
//! `Task::key`, `label`, `priority`, `queue`, `start_at` and
//! `start_after`).
//!
//! They are data here: checked by [`Task::validate`] (through
//! [`JobOptions::validate`]), kept with the run by the registry and, with a
//! store, in the store's `jobs` table next to the run's record, so a
//! restart gets them back. They are not part of the task's own stored form
//! (`wire`): a task written by an older release reads back with none.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use super::Task;
use crate::error::{Error, Result};
use crate::priority::Priority;

/// The longest key [`Task::key`] accepts, in bytes.
pub const MAX_KEY_BYTES: usize = 256;
/// The longest label key [`Task::label`] accepts, in bytes.
pub const MAX_LABEL_KEY_BYTES: usize = 64;
/// The longest label value [`Task::label`] accepts, in bytes.
pub const MAX_LABEL_VALUE_BYTES: usize = 1024;
/// The most labels one task may carry.
pub const MAX_LABELS: usize = 32;
/// The longest queue name [`Task::queue`] accepts, in bytes.
pub const MAX_QUEUE_BYTES: usize = 64;

/// What a caller says about a task as a job, beyond what it runs. Every
/// field is optional; the default is "none of them".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobOptions {
    /// The caller's own id for the work ([`Task::key`]).
    pub key: Option<String>,
    /// Free key/value labels ([`Task::label`]).
    pub labels: BTreeMap<String, String>,
    /// How urgent the work is ([`Task::priority`]).
    pub priority: Priority,
    /// The named queue it goes to ([`Task::queue`]); `None` is the default
    /// queue.
    pub queue: Option<String>,
    /// When it may start ([`Task::start_at`], [`Task::start_after`]);
    /// `None` is at once.
    pub start: Option<Start>,
}

/// When a delayed task may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// At this wall-clock time (one in the past means at once).
    At(SystemTime),
    /// This long after the run is accepted.
    After(Duration),
}

impl Start {
    /// The wall-clock time a run accepted at `accepted` is due. `After` is
    /// counted from acceptance; both saturate (a time past what
    /// `SystemTime` holds is `accepted`'s own end of range, never a panic).
    pub fn due(&self, accepted: SystemTime) -> SystemTime {
        match *self {
            Start::At(at) => at,
            Start::After(delay) => crate::duration::wall_after(accepted, delay),
        }
    }
}

impl JobOptions {
    /// Whether no option is set (the form most runs have, which the store
    /// does not write a row for).
    pub fn is_empty(&self) -> bool {
        *self == JobOptions::default()
    }

    /// Check every option against its limits.
    ///
    /// # Errors
    /// - `InvalidKey`: an empty key, one over [`MAX_KEY_BYTES`], or one
    ///   with a NUL or other control character;
    /// - `InvalidLabel`: an empty label key, one over
    ///   [`MAX_LABEL_KEY_BYTES`] or with a character outside
    ///   `[A-Za-z0-9_.-/]`, a value over [`MAX_LABEL_VALUE_BYTES`], or
    ///   more than [`MAX_LABELS`] labels;
    /// - `InvalidQueue`: an empty queue name, one over
    ///   [`MAX_QUEUE_BYTES`] or with a character outside `[A-Za-z0-9_.-/]`;
    /// - `InvalidDuration`: a `start_after` over
    ///   [`duration::MAX`](crate::duration::MAX), or a `start_at` more
    ///   than that far ahead of now. A `start_at` in the past is accepted:
    ///   the run is due at once.
    pub fn validate(&self) -> Result<()> {
        if let Some(key) = &self.key {
            check_key(key)?;
        }
        if self.labels.len() > MAX_LABELS {
            let (key, _) = self
                .labels
                .iter()
                .nth(MAX_LABELS)
                .expect("more than MAX_LABELS");
            return Err(Error::InvalidLabel {
                key: key.clone(),
                reason: format!(
                    "a task carries at most {MAX_LABELS} labels, not {}",
                    self.labels.len()
                ),
            });
        }
        for (key, value) in &self.labels {
            check_label(key, value)?;
        }
        if let Some(queue) = &self.queue {
            check_queue(queue)?;
        }
        match self.start {
            None => {}
            Some(Start::After(delay)) => {
                crate::duration::check("Task::start_after", delay)?;
            }
            Some(Start::At(at)) => {
                // Only the distance ahead is limited: a time in the past is
                // "now", as for a timer that was missed.
                if let Ok(ahead) = at.duration_since(SystemTime::now()) {
                    crate::duration::check("Task::start_at", ahead)?;
                }
            }
        }
        Ok(())
    }
}

fn check_key(key: &str) -> Result<()> {
    let invalid = |reason: String| {
        Err(Error::InvalidKey {
            key: key.to_string(),
            reason,
        })
    };
    if key.is_empty() {
        return invalid("a key must not be empty".into());
    }
    if key.len() > MAX_KEY_BYTES {
        return invalid(format!(
            "a key is at most {MAX_KEY_BYTES} bytes, not {}",
            key.len()
        ));
    }
    if let Some(c) = key.chars().find(|c| c.is_control()) {
        return invalid(format!("control character {c:?} in the key"));
    }
    Ok(())
}

/// Why `name` is no valid name of a label key or a queue (`what` says
/// which, as "label key"): empty, over `max` bytes, or with a character
/// outside `[A-Za-z0-9_.-/]`; `None` if it is valid.
fn name_problem(what: &str, name: &str, max: usize) -> Option<String> {
    if name.is_empty() {
        return Some(format!("a {what} must not be empty"));
    }
    if name.len() > max {
        return Some(format!(
            "a {what} is at most {max} bytes, not {}",
            name.len()
        ));
    }
    name.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/')))
        .map(|c| {
            format!("{c:?} in the {what}: only A-Z, a-z, 0-9, '_', '.', '-' and '/' are allowed")
        })
}

fn check_label(key: &str, value: &str) -> Result<()> {
    let reason = name_problem("label key", key, MAX_LABEL_KEY_BYTES).or_else(|| {
        (value.len() > MAX_LABEL_VALUE_BYTES).then(|| {
            format!(
                "a label value is at most {MAX_LABEL_VALUE_BYTES} bytes, not {}",
                value.len()
            )
        })
    });
    match reason {
        Some(reason) => Err(Error::InvalidLabel {
            key: key.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

/// Check a queue name (also for the queue slices: a queue's own spec).
///
/// # Errors
/// `InvalidQueue` naming it: empty, over [`MAX_QUEUE_BYTES`], or with a
/// character outside `[A-Za-z0-9_.-/]`.
pub(crate) fn check_queue(queue: &str) -> Result<()> {
    match name_problem("queue name", queue, MAX_QUEUE_BYTES) {
        Some(reason) => Err(Error::InvalidQueue {
            queue: queue.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

impl Task {
    /// Give the work the caller's own id (`"training_session_123"`). A
    /// launch whose key is live returns the existing run instead of
    /// starting another (the existing run is returned even if the task
    /// differs), and runs can be looked up by key.
    ///
    /// Checked by [`validate`](Self::validate): `InvalidKey` if empty, over
    /// 256 bytes, or with a control character.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.job.key = Some(key.into());
        self
    }

    /// Attach a free label (`label("bot", "b-7")`); a second call with the
    /// same key replaces its value. Runs can be queried by label.
    ///
    /// Checked by [`validate`](Self::validate): `InvalidLabel` for an
    /// empty key, one over 64 bytes or outside `[A-Za-z0-9_.-/]`, a value
    /// over 1024 bytes, or more than 32 labels.
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.job.labels.insert(key.into(), value.into());
        self
    }

    /// How urgent the work is (default `Normal`): among work waiting for a
    /// slot, the more urgent starts first.
    pub fn priority(mut self, priority: Priority) -> Self {
        self.job.priority = priority;
        self
    }

    /// Send the work to the named queue, which applies its own concurrency
    /// and rate limits (an undeclared queue is refused with
    /// `UnknownQueue`).
    ///
    /// Checked by [`validate`](Self::validate): `InvalidQueue` if empty,
    /// over 64 bytes, or outside `[A-Za-z0-9_.-/]`.
    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.job.queue = Some(queue.into());
        self
    }

    /// Start the work no earlier than `at` (a time in the past: at once).
    /// Replaces an earlier `start_at` or `start_after`.
    ///
    /// Checked by [`validate`](Self::validate): `InvalidDuration` if `at`
    /// is more than [`duration::MAX`](crate::duration::MAX) ahead.
    pub fn start_at(mut self, at: SystemTime) -> Self {
        self.job.start = Some(Start::At(at));
        self
    }

    /// Start the work `delay` after it is accepted. Replaces an earlier
    /// `start_at` or `start_after`.
    ///
    /// Checked by [`validate`](Self::validate): `InvalidDuration` if
    /// `delay` is over [`duration::MAX`](crate::duration::MAX).
    pub fn start_after(mut self, delay: Duration) -> Self {
        self.job.start = Some(Start::After(delay));
        self
    }

    /// The task's job options.
    pub fn job(&self) -> &JobOptions {
        &self.job
    }

    /// Replace the task's job options at once (a task read back from the
    /// store gets the options kept beside it).
    pub fn with_job(mut self, job: JobOptions) -> Self {
        self.job = job;
        self
    }
}

#[cfg(test)]
mod tests;
