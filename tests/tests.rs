//! Integration tests: one binary, one module per capability.

mod common;

mod batch;
mod batch_crash;
mod crash;
mod graph;
mod graph_crash;
mod graph_props;
mod launch;
mod launch_crash;
mod long_running;
mod long_running_crash;
mod periodic;
mod periodic_crash;
mod pool;
mod pool_crash;
mod shutdown;
mod simple;
