//! Runnable demos of the release-monitoring suite, as a library so tests can run them in-process.

pub mod admin;
pub mod browser;
pub mod report;
pub mod rollout;
pub mod webhook;
