//! Integration tests: one binary, one module per capability.

mod common;

mod crash;
mod shutdown;
mod simple;
