//! Periodic runs beyond [`ScheduleSpec`](crate::ScheduleSpec): missed-tick catch-up and
//! the clock schedules read.

pub use crate::orchestrator::Schedules;
pub use taskorch_actors::scheduler::{CatchUp, Clock, MAX_BACKFILL, Triggered};
