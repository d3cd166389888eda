//! Integration tests: one binary, one module per capability.

mod common;

mod crash;
mod pool;
mod shutdown;
mod simple;
