//! What to run, beyond [`Task`](crate::Task) itself: its kind, the retry report, the
//! environment every child gets, the limits on output and durations, and its job
//! options ([`JobOptions`], [`Start`]; see `docs/jobs.md`).

pub use taskorch_actors::duration;
pub use taskorch_actors::{
    JobOptions, MAX_KEY_BYTES, MAX_LABEL_KEY_BYTES, MAX_LABEL_VALUE_BYTES, MAX_LABELS,
    MAX_QUEUE_BYTES, Start,
};
pub use taskorch_actors::{MAX_OUTPUT_CEILING, RUN_ID_ENV, Retries, RetryNotice, TaskKind};
