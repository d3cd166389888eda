//! Integration tests: one binary, one module per capability.

mod common;

mod batch;
mod batch_crash;
mod breaker;
mod chaos;
mod cli;
mod containment;
mod crash;
mod durable;
mod durable_crash;
mod durable_graph;
mod events;
mod execute;
mod fault;
mod graph;
mod graph_crash;
mod graph_props;
mod halt;
mod launch;
mod launch_crash;
mod logging;
mod long_running;
mod long_running_crash;
mod periodic;
mod periodic_crash;
mod pool;
mod pool_crash;
mod shutdown;
mod simple;
mod trace;
mod workflow;
mod workflows;
