//! Captured output beyond [`CapturedOutput`](crate::CapturedOutput): line times, live
//! subscriptions and their chunks.

pub use taskorch_actors::{LineTimes, OutputChunk, OutputSubscription, TimedOutput};
