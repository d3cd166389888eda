//! Scheduler actor tests.
