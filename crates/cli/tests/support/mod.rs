//! Helpers for the CLI tests: the lab's API test server and a stand-in for the daemon's socket.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod api;
pub mod fake_daemon;
