//! Fault injection (cargo feature `fault-injection`): break the runtime on
//! purpose, in your own tests, to see what your system does about it.
//!
//! - [`Orchestrator::inject_fault`](crate::Orchestrator::inject_fault)
//!   queues a [`Fault`] for the next message of an actor;
//!   [`orch.faults().inject_at`](Faults::inject_at) aims at the
//!   nth message of a kind ([`FaultTarget`]).
//! - [`Chaos`] runs a seeded mixed workload over every pattern (graphs,
//!   workflows, pools and schedules included, the store on) while
//!   injecting random faults into the actors and inside the runs, then
//!   checks that nothing was lost, hung, run twice or orphaned (zombies
//!   included) ([`ChaosReport`]). The long run:
//!   `CHAOS_ROUNDS=200 cargo test --all-features --test tests chaos::soak -- --ignored --nocapture`.
//!
//! ```no_run
//! use taskorch::fault::{Fault, FaultTarget};
//! use taskorch::{Config, Error, Orchestrator, Task};
//!
//! # async fn f() -> taskorch::Result<()> {
//! let orch = Orchestrator::start(Config::default()).await?;
//! // The third launch from now finds the launcher failing.
//! orch.faults().inject_at("launcher", FaultTarget::message("Launch").nth(3), Fault::ErrorNextMessage)?;
//! for n in 1..=4 {
//!     let launched = orch.launch(Task::command("true")).await;
//!     assert_eq!(launched.is_err(), n == 3); // ActorFailed; the launcher is restarted
//! }
//! # Ok(()) }
//! ```

mod chaos;

pub use crate::orchestrator::Faults;
pub use chaos::{Chaos, ChaosReport, PlannedFault};
pub use taskorch_actors::{Fault, FaultStats, FaultTarget, process_alive, process_group_alive};
