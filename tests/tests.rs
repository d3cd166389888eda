//! Integration tests: one binary, one module per capability.

mod common;

mod batch;
mod batch_crash;
mod crash;
mod shutdown;
mod simple;
