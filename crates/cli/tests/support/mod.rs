//! Helpers for the CLI tests: a stand-in for the daemon's socket.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod fake_daemon;
pub mod user;
