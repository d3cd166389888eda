//! What to run, beyond [`Task`](crate::Task) itself: its kind, the retry report, the
//! environment every child gets, and the limits on output and durations.

pub use taskorch_actors::duration;
pub use taskorch_actors::{MAX_OUTPUT_CEILING, RUN_ID_ENV, Retries, RetryNotice, TaskKind};
