//! Unit tests of jobs-file parsing.
