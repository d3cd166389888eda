//! How the root supervisor restarts its children: strategy and restart intensity
//! (the restart type, [`Restart`](crate::Restart), is at the crate root).

pub use taskorch_actors::{RestartIntensity, Strategy};
