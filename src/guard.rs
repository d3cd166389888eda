//! Guards on the runtime ([`Orchestrator::guard`](crate::Orchestrator::guard)): emergency
//! halt, risk limits and circuit breakers.

pub use crate::orchestrator::Guard;
pub use taskorch_actors::{
    Bound, BreakerOptions, BreakerSpec, BreakerState, BreakerStatus, RiskLimit,
};
