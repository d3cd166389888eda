//! A run's job options as the registry keeps them: set at admission from
//! the task ([`Admission::job`], [`Admission::rerun_of`]), restored from
//! the store after a restart, journaled with the run's `Queued` record
//! (the store's `JobRow`), and read by [`RunRecord`]'s accessors.
//!
//! Most runs have none: a record then holds `None`, not an empty copy.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::SystemTime;

use super::{Admission, RunRecord};
use crate::priority::Priority;
use crate::run::RunId;
use crate::store::JobRow;
use crate::task::JobOptions;

/// What a run with job options carries beside them.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct JobFacts {
    pub(super) options: JobOptions,
    /// When the run is due: fixed at acceptance from its `Start`, or
    /// restored as stored.
    pub(super) due: Option<SystemTime>,
    pub(super) rerun_of: Option<RunId>,
}

impl JobFacts {
    /// The facts of a run accepted at `queued`; `None` if it has no option
    /// and reruns nothing. A `due` given (a restored run) wins over one
    /// computed from the options' start.
    pub(super) fn new(
        options: Cow<'_, JobOptions>,
        due: Option<SystemTime>,
        rerun_of: Option<RunId>,
        queued: SystemTime,
    ) -> Option<Box<Self>> {
        if options.is_empty() && rerun_of.is_none() && due.is_none() {
            return None;
        }
        let due = due.or_else(|| options.start.map(|start| start.due(queued)));
        Some(Box::new(JobFacts {
            options: options.into_owned(),
            due,
            rerun_of,
        }))
    }

    /// The facts as a stored row.
    pub(super) fn row(&self) -> JobRow {
        JobRow::new(&self.options, self.due, self.rerun_of)
    }

    /// The facts of a stored row.
    pub(super) fn from_row(row: &JobRow) -> Box<Self> {
        Box::new(JobFacts {
            options: row.options(),
            due: row.due(),
            rerun_of: row.rerun_of(),
        })
    }
}

impl<'a> Admission<'a> {
    /// Give the run `job`'s options (a task's [`Task::job`](crate::Task::job)):
    /// kept by its record and, with a store, journaled with it.
    pub fn job(mut self, job: &'a JobOptions) -> Self {
        self.job = Cow::Borrowed(job);
        self
    }

    /// Mark the run as a rerun of `run`.
    pub fn rerun_of(mut self, run: RunId) -> Self {
        self.rerun_of = Some(run);
        self
    }
}

/// Labels of a run without any.
static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();

impl RunRecord {
    /// The run's job options (`None` if its task had none).
    pub fn job(&self) -> Option<&JobOptions> {
        self.job.as_ref().map(|facts| &facts.options)
    }

    /// The caller's key of the run ([`Task::key`](crate::Task::key)).
    pub fn key(&self) -> Option<&str> {
        self.job().and_then(|job| job.key.as_deref())
    }

    /// The run's labels ([`Task::label`](crate::Task::label)).
    pub fn labels(&self) -> &BTreeMap<String, String> {
        self.job().map_or(&NO_LABELS, |job| &job.labels)
    }

    /// The run's priority ([`Task::priority`](crate::Task::priority); `Normal` by default).
    pub fn priority(&self) -> Priority {
        self.job().map(|job| job.priority).unwrap_or_default()
    }

    /// The queue the run was sent to ([`Task::queue`](crate::Task::queue)).
    pub fn queue(&self) -> Option<&str> {
        self.job().and_then(|job| job.queue.as_deref())
    }

    /// When the run is due to start, if its task had a delayed start
    /// (`Task::start_at`, `start_after`): fixed when it was accepted, kept
    /// across a restart with a store.
    pub fn due(&self) -> Option<SystemTime> {
        self.job.as_ref().and_then(|facts| facts.due)
    }

    /// The run this one reruns, if it is a rerun.
    pub fn rerun_of(&self) -> Option<RunId> {
        self.job.as_ref().and_then(|facts| facts.rerun_of)
    }
}
