//! What the store keeps, one record type per table, and their encoding.
//!
//! Records are serde types encoded with bincode 2 (varint integers, so a
//! finished run costs about a hundred bytes). bincode is not
//! self-describing, so nothing here uses `#[serde(flatten)]`, `skip`,
//! internally tagged enums or `serde_json::Value`: JSON values travel as
//! text. Every record starts with a schema version byte
//! ([`RECORD_VERSION`]): a later release reads the byte, migrates what it
//! knows, and refuses what it does not, instead of misreading it.
//!
//! Enums are encoded by variant index, so new variants go at the end.
//!
//! A record type whose fields change gets a version of its own, above
//! [`RECORD_VERSION`], and a decoder that still reads its older versions:
//! [`OutputRow`] is at [`OUTPUT_VERSION`] (it gained the lines' capture
//! times) and is read with [`OutputRow::decode`]. The other records keep
//! version 1, so a release that predates the change still reads every run
//! of a newer store (only its output rows are refused, and logged).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use super::graphs::StoredPriority;
use crate::error::Error;
use crate::lines::{CapturedOutput, LineTimes};
use crate::output::Output;
use crate::pattern::Pattern;
use crate::run::{RunId, RunInfo, RunStatus};
use crate::task::{JobOptions, Start, Task};

/// The version byte in front of every record this release writes.
pub(crate) const RECORD_VERSION: u8 = 1;

/// Why a record could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DecodeFailure {
    /// Written by a newer release (its version byte).
    Newer(u8),
    /// Not a record at all (truncated, garbage, a bug).
    Malformed(String),
}

impl std::fmt::Display for DecodeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeFailure::Newer(v) => write!(
                f,
                "record schema version {v} is newer than this release reads ({RECORD_VERSION})"
            ),
            DecodeFailure::Malformed(why) => write!(f, "malformed record: {why}"),
        }
    }
}

/// The version byte in front of every [`OutputRow`] this release writes:
/// 2 added the capture time of each line (`times`); 1 had none.
pub(crate) const OUTPUT_VERSION: u8 = 2;

/// `value` as a record: the version byte, then bincode.
pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    encode_as(RECORD_VERSION, value)
}

/// `value` as a record of schema `version`.
fn encode_as<T: Serialize>(version: u8, value: &T) -> Vec<u8> {
    let mut out = vec![version];
    // Encoding into a Vec fails only for types serde cannot express in
    // bincode (maps with non-string keys are fine; `Value` is not used);
    // every record type here is plain data.
    let body = bincode::serde::encode_to_vec(value, bincode::config::standard())
        .expect("store records are plain data bincode can encode");
    out.extend_from_slice(&body);
    out
}

/// A record written by [`encode`] (of this or an older release).
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeFailure> {
    decode_up_to(RECORD_VERSION, bytes).and_then(|(_, body)| decode_body(body))
}

/// The version byte and body of a record whose type is read up to
/// version `newest`.
fn decode_up_to(newest: u8, bytes: &[u8]) -> Result<(u8, &[u8]), DecodeFailure> {
    let Some((&version, body)) = bytes.split_first() else {
        return Err(DecodeFailure::Malformed("empty record".into()));
    };
    if version > newest {
        return Err(DecodeFailure::Newer(version));
    }
    if version == 0 {
        return Err(DecodeFailure::Malformed("version byte 0".into()));
    }
    Ok((version, body))
}

fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, DecodeFailure> {
    bincode::serde::decode_from_slice(body, bincode::config::standard())
        .map(|(value, _)| value)
        .map_err(|e| DecodeFailure::Malformed(e.to_string()))
}

/// Microseconds since the Unix epoch (0 for times before it).
pub(crate) fn micros(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// The time `us` microseconds after the Unix epoch.
pub(crate) fn time(us: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(us)
}

/// One run: everything but its output. Keyed by run id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RunRow {
    pub(crate) name: String,
    pub(crate) pattern: Pattern,
    pub(crate) status: RunStatus,
    /// Times in microseconds since the Unix epoch.
    pub(crate) queued: u64,
    pub(crate) started: Option<u64>,
    pub(crate) finished: Option<u64>,
    pub(crate) exit_code: Option<i32>,
    pub(crate) attempts: u32,
    /// The running attempt's process (and process group, which it leads),
    /// so a restart can stop what a crash left behind.
    pub(crate) pid: Option<u32>,
    /// What runs: needed to start a queued run again after a restart.
    /// `None` for runs registered without one (they cannot be resumed).
    pub(crate) task: Option<Task>,
    /// How it ended.
    pub(crate) outcome: Option<OutcomeRow>,
}

impl RunRow {
    pub(crate) fn info(&self, id: RunId) -> RunInfo {
        RunInfo {
            id,
            name: self.name.clone(),
            status: self.status,
            pattern: self.pattern,
            queued: time(self.queued),
            started: self.started.map(time),
            finished: self.finished.map(time),
            exit_code: self.exit_code,
            attempts: self.attempts,
            stdout_dropped: self.dropped().0,
            stderr_dropped: self.dropped().1,
            key: None,
            labels: std::collections::BTreeMap::new(),
        }
    }

    /// Bytes of stdout and stderr missing from the stored output: cut at
    /// capture, and (if its output row is gone) reclaimed since. An output
    /// row that is present is counted as kept; `Store::stored_run` corrects
    /// it from the row itself.
    fn dropped(&self) -> (u64, u64) {
        match &self.outcome {
            Some(OutcomeRow::Output {
                stdout_dropped,
                stderr_dropped,
                ..
            }) => (*stdout_dropped, *stderr_dropped),
            _ => (0, 0),
        }
    }
}

/// How a run ended. Captured bytes and lines live in the output table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum OutcomeRow {
    /// It ran to its end (any exit code).
    Output {
        signal: Option<i32>,
        /// An action's return value, as JSON text.
        value: Option<String>,
        duration_us: u64,
        stdout_truncated: bool,
        stderr_truncated: bool,
        stdout_dropped: u64,
        stderr_dropped: u64,
        /// Bytes of stdout and stderr captured (kept in the output table).
        captured: (u64, u64),
    },
    /// It could not run or finish.
    Error(ErrorRow),
}

impl OutcomeRow {
    pub(crate) fn from_outcome(outcome: &Result<Output, Error>) -> Self {
        match outcome {
            Ok(out) => OutcomeRow::from_output(out),
            Err(e) => OutcomeRow::Error(ErrorRow::from_error(e)),
        }
    }

    /// A finished output's outcome (its bytes go to the output table).
    pub(crate) fn from_output(out: &Output) -> Self {
        OutcomeRow::Output {
            signal: out.signal,
            value: out.value.as_ref().map(|v| v.to_string()),
            duration_us: u64::try_from(out.duration.as_micros()).unwrap_or(u64::MAX),
            stdout_truncated: out.stdout_truncated,
            stderr_truncated: out.stderr_truncated,
            stdout_dropped: out.stdout_dropped,
            stderr_dropped: out.stderr_dropped,
            captured: (out.stdout.len() as u64, out.stderr.len() as u64),
        }
    }

    /// The outcome as `wait` returns it, with the captured bytes of `output`.
    pub(crate) fn outcome(
        &self,
        id: RunId,
        row: &RunRow,
        output: Option<&OutputRow>,
    ) -> Result<Output, Error> {
        match self {
            OutcomeRow::Output {
                signal,
                value,
                duration_us,
                stdout_truncated,
                stderr_truncated,
                stdout_dropped,
                stderr_dropped,
                captured,
            } => {
                let mut out = Output::empty(id);
                out.exit_code = row.exit_code;
                out.signal = *signal;
                out.value = value.as_deref().and_then(|v| serde_json::from_str(v).ok());
                out.duration = Duration::from_micros(*duration_us);
                out.attempts = row.attempts;
                out.stdout_truncated = *stdout_truncated;
                out.stderr_truncated = *stderr_truncated;
                out.stdout_dropped = *stdout_dropped;
                out.stderr_dropped = *stderr_dropped;
                match output {
                    Some(output) => {
                        out.stdout = output.stdout.clone();
                        out.stderr = output.stderr.clone();
                    }
                    None => {
                        // Reclaimed by the output budget: counted as
                        // dropped, as the registry does in memory.
                        out.stdout_dropped += captured.0;
                        out.stderr_dropped += captured.1;
                        out.stdout_truncated |= captured.0 > 0;
                        out.stderr_truncated |= captured.1 > 0;
                    }
                }
                Ok(out)
            }
            OutcomeRow::Error(e) => Err(e.error(id)),
        }
    }
}

/// `Error::kind()` of `Error::RunPanicked`, the key of its `Other` row.
const RUN_PANICKED: &str = "run_panicked";

/// An [`Error`] a run ended with, in a form that survives a restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum ErrorRow {
    TimedOut {
        after_us: u64,
    },
    Cancelled,
    ActorFailed {
        actor: String,
        reason: String,
    },
    ShuttingDown,
    NotFound {
        program: String,
    },
    PermissionDenied {
        program: String,
    },
    UnknownAction(String),
    InvalidTask(String),
    Spawn {
        program: String,
        message: String,
    },
    Io {
        context: String,
        message: String,
    },
    Store {
        path: String,
        reason: String,
    },
    /// Any other variant, by kind and message.
    Other {
        kind: String,
        message: String,
    },
}

impl ErrorRow {
    pub(crate) fn from_error(e: &Error) -> Self {
        match e {
            Error::TimedOut { after, .. } => ErrorRow::TimedOut {
                after_us: u64::try_from(after.as_micros()).unwrap_or(u64::MAX),
            },
            Error::Cancelled { .. } => ErrorRow::Cancelled,
            Error::ActorFailed { actor, reason } => ErrorRow::ActorFailed {
                actor: actor.clone(),
                reason: reason.clone(),
            },
            Error::ShuttingDown => ErrorRow::ShuttingDown,
            Error::NotFound { program } => ErrorRow::NotFound {
                program: program.clone(),
            },
            Error::PermissionDenied { program } => ErrorRow::PermissionDenied {
                program: program.clone(),
            },
            Error::UnknownAction(name) => ErrorRow::UnknownAction(name.clone()),
            Error::InvalidTask(why) => ErrorRow::InvalidTask(why.clone()),
            Error::Spawn { program, source } => ErrorRow::Spawn {
                program: program.clone(),
                message: source.to_string(),
            },
            Error::Io { context, source } => ErrorRow::Io {
                context: context.clone(),
                message: source.to_string(),
            },
            Error::Store { path, reason } => ErrorRow::Store {
                path: path.display().to_string(),
                reason: reason.clone(),
            },
            // Kept by kind (no row of its own, so old stores still decode),
            // with the bare panic message so it reads back as the same error.
            Error::RunPanicked { message, .. } => ErrorRow::Other {
                kind: RUN_PANICKED.to_string(),
                message: message.clone(),
            },
            other => ErrorRow::Other {
                kind: other.kind().to_string(),
                message: other.to_string(),
            },
        }
    }

    /// The error, as run `id` reports it.
    pub(crate) fn error(&self, id: RunId) -> Error {
        let io = |message: &str| std::sync::Arc::new(std::io::Error::other(message.to_string()));
        match self {
            ErrorRow::TimedOut { after_us } => Error::TimedOut {
                run: Some(id),
                after: Duration::from_micros(*after_us),
            },
            ErrorRow::Cancelled => Error::Cancelled { run: Some(id) },
            ErrorRow::ActorFailed { actor, reason } => Error::actor_failed(actor, reason),
            ErrorRow::ShuttingDown => Error::ShuttingDown,
            ErrorRow::NotFound { program } => Error::NotFound {
                program: program.clone(),
            },
            ErrorRow::PermissionDenied { program } => Error::PermissionDenied {
                program: program.clone(),
            },
            ErrorRow::UnknownAction(name) => Error::UnknownAction(name.clone()),
            ErrorRow::InvalidTask(why) => Error::InvalidTask(why.clone()),
            ErrorRow::Spawn { program, message } => Error::Spawn {
                program: program.clone(),
                source: io(message),
            },
            ErrorRow::Io { context, message } => Error::Io {
                context: context.clone(),
                source: io(message),
            },
            ErrorRow::Store { path, reason } => Error::Store {
                path: path.into(),
                reason: reason.clone(),
            },
            ErrorRow::Other { kind, message } if kind == RUN_PANICKED => Error::RunPanicked {
                run: id,
                message: message.clone(),
            },
            // A variant this table has no row for: keep what it said.
            ErrorRow::Other { kind, message } => {
                Error::actor_failed("store", format!("{kind}: {message}"))
            }
        }
    }
}

/// A finished run's captured output: the bytes `wait` returns and the line
/// ring `output(id)` returns. Keyed by run id; absent when there was none
/// or the output budget reclaimed it. Versioned on its own
/// ([`OUTPUT_VERSION`]): write it with [`OutputRow::encode`], read it with
/// [`OutputRow::decode`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct OutputRow {
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: Vec<u8>,
    pub(crate) lines: CapturedOutput,
    /// When each of `lines.lines` was captured (since version 2; empty in
    /// a row of version 1).
    pub(crate) times: LineTimes,
}

/// [`OutputRow`] as version 1 wrote it: no capture times.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct OutputRowV1 {
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: Vec<u8>,
    pub(crate) lines: CapturedOutput,
}

impl OutputRow {
    /// The row as a record of version [`OUTPUT_VERSION`].
    pub(crate) fn encode(&self) -> Vec<u8> {
        encode_as(OUTPUT_VERSION, self)
    }

    /// A row written by [`encode`](Self::encode) of this or an older
    /// release: a version 1 row reads back with its lines and no times.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, DecodeFailure> {
        let (version, body) = decode_up_to(OUTPUT_VERSION, bytes)?;
        if version == 1 {
            let old: OutputRowV1 = decode_body(body)?;
            return Ok(OutputRow {
                stdout: old.stdout,
                stderr: old.stderr,
                lines: old.lines,
                times: LineTimes::default(),
            });
        }
        decode_body(body)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.stdout.is_empty()
            && self.stderr.is_empty()
            && self.lines.lines.is_empty()
            && self.lines.dropped == 0
    }
}

/// When a schedule fires, as stored: interval or cron expression and zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum TriggerRow {
    Every {
        interval: Duration,
        immediately: bool,
    },
    Cron {
        expression: String,
        /// "UTC", "Local" or an IANA name.
        zone: String,
        immediately: bool,
    },
}

/// One schedule: definition and state. Keyed by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ScheduleRow {
    pub(crate) trigger: TriggerRow,
    pub(crate) task: Task,
    /// `Overlap` and `CatchUp` by index (see `scheduler::spec`).
    pub(crate) overlap: u8,
    pub(crate) catch_up: u8,
    pub(crate) jitter: Duration,
    pub(crate) grace: Duration,
    pub(crate) enabled: bool,
    /// The upcoming tick on the wall clock (microseconds since the epoch):
    /// its exact time and its time with jitter.
    pub(crate) next: Option<(u64, u64)>,
    pub(crate) runs: u64,
    pub(crate) failures: u64,
    pub(crate) skipped: u64,
    pub(crate) missed: u64,
    pub(crate) last: Option<RunId>,
}

/// The version byte in front of every [`JobRow`]: a table of its own since
/// the job options, versioned apart from the run records.
pub(crate) const JOB_VERSION: u8 = 1;

/// A run's job options (`Task::key`, `label`, `priority`, `queue`,
/// `start_at`/`start_after`), when it was accepted, and what it reruns.
/// Keyed by run id; written in the transaction of the run's `Queued`
/// record, only for runs that have any, and removed with the run. Not in
/// the task's own stored form, so [`RunRow`] reads as it always did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct JobRow {
    pub(crate) key: Option<String>,
    pub(crate) labels: Vec<(String, String)>,
    pub(crate) priority: StoredPriority,
    pub(crate) queue: Option<String>,
    pub(crate) start: Option<StartRow>,
    /// When it is due (microseconds since the epoch): fixed at acceptance,
    /// so a restart keeps it.
    pub(crate) due: Option<u64>,
    /// The run this one reruns (its id's bytes).
    pub(crate) rerun_of: Option<[u8; 16]>,
}

/// A delayed start, as stored (microseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum StartRow {
    /// At this time since the epoch.
    At(u64),
    /// This long after acceptance.
    After(u64),
}

impl JobRow {
    /// The row of a run with `job`, due at `due`, rerunning `rerun_of`.
    pub(crate) fn new(job: &JobOptions, due: Option<SystemTime>, rerun_of: Option<RunId>) -> Self {
        JobRow {
            key: job.key.clone(),
            labels: job
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            priority: job.priority.into(),
            queue: job.queue.clone(),
            start: job.start.map(|start| match start {
                Start::At(at) => StartRow::At(micros(at)),
                Start::After(delay) => {
                    StartRow::After(u64::try_from(delay.as_micros()).unwrap_or(u64::MAX))
                }
            }),
            due: due.map(micros),
            rerun_of: rerun_of.map(|id| *id.as_bytes()),
        }
    }

    /// The options as the task had them.
    pub(crate) fn options(&self) -> JobOptions {
        JobOptions {
            key: self.key.clone(),
            labels: self.labels.iter().cloned().collect(),
            priority: self.priority.into(),
            queue: self.queue.clone(),
            start: self.start.map(|start| match start {
                StartRow::At(us) => Start::At(time(us)),
                StartRow::After(us) => Start::After(Duration::from_micros(us)),
            }),
        }
    }

    /// Give `info` (read from the run's [`RunRow`]) this row's key and
    /// labels.
    pub(crate) fn fill(&self, info: &mut crate::run::RunInfo) {
        info.key.clone_from(&self.key);
        info.labels = self.labels.iter().cloned().collect();
    }

    pub(crate) fn due(&self) -> Option<SystemTime> {
        self.due.map(time)
    }

    pub(crate) fn rerun_of(&self) -> Option<RunId> {
        self.rerun_of.map(RunId::from_bytes)
    }

    /// The row as a record of version [`JOB_VERSION`].
    pub(crate) fn encode(&self) -> Vec<u8> {
        encode_as(JOB_VERSION, self)
    }

    /// A row written by [`encode`](Self::encode); a newer version is
    /// `DecodeFailure::Newer`.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, DecodeFailure> {
        let (_, body) = decode_up_to(JOB_VERSION, bytes)?;
        decode_body(body)
    }
}

/// A declared queue, in `QUEUES` under its name: its limits as declared
/// and whether it is paused, so a restart declares it again as it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct QueueRow {
    /// Most runs of the queue at once (`None`: only the global cap).
    pub(crate) concurrency: Option<u64>,
    /// Starts allowed per interval: (starts, interval in microseconds).
    pub(crate) rate: Option<(u32, u64)>,
    pub(crate) paused: bool,
}
