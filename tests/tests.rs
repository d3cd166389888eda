//! Integration tests: one binary, one module per capability.

mod common;

mod crash;
mod pool;
mod pool_crash;
mod shutdown;
mod simple;
