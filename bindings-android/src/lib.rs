//! Android (JNI) binding of agent-core: the native half of the Java API in `java/`.
//!
//! A thin layer: each `Java_dev_rollout_rum_Native_*` entry converts its arguments, calls
//! [`agent_core::Agent`] and converts the answer back. Evaluation, queueing, spooling, crash
//! records and the upload policy all stay in agent-core; the HTTP requests themselves are made by
//! the Rust uploader or, when configured, by Java's `HttpURLConnection` through [`upload`]. Every
//! entry runs inside [`guard::guard`], so neither a panic nor an error can cross into the JVM
//! except as a Java exception. Agents cross as `jlong` handles made by [`handle::into_handle`].
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod convert;
pub mod error;
pub mod guard;
pub mod handle;
pub mod upload;

mod app_start;
mod calls;
mod hang;
mod lifecycle;
mod listen;

pub use error::BindingError;

/// Name the SDK reports in every batch.
pub const SDK_NAME: &str = "rum-android";
