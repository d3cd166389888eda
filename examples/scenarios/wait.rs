//! A bounded wait for the scenarios: poll until a condition holds or a
//! time limit passes, which is a `TimedOut` failure rather than a hang.
//! Included beside the scenario modules that need it (as `failure.rs` is)
//! by the examples and by the integration test.

use std::time::{Duration, Instant};

use taskorch::Error;

use super::failure::Result;

/// Poll `ready` every 10 ms for at most `limit`, until it has a value.
pub async fn wait_for<T>(limit: Duration, mut ready: impl FnMut() -> Option<T>) -> Result<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = ready() {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            return Err(Error::TimedOut {
                run: None,
                after: limit,
            }
            .into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
