//! Integration tests: one binary, one module per capability.

mod common;

mod crash;
mod launch;
mod launch_crash;
mod shutdown;
mod simple;
