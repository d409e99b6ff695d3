//! agent-core: the release-monitoring agent embedded in apps.
//!
//! Data flows one way: the app calls [`Agent`] (evaluate a flag, track an error, a timing, an
//! event) → the call enqueues and returns → one worker thread batches, deduplicates and spools →
//! the platform's uploader pulls the next upload and reports its result. Flag evaluation is pure
//! and local ([`flags`]), on definitions kept current by [`sync`].
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod bucketing;
pub mod clock;
pub mod consent;
pub mod decimal;
pub mod flags;
pub mod ids;
pub mod semver;
#[cfg(test)]
mod test_rng;
pub mod wire;

pub mod dedupe;
pub mod pipeline;
pub mod policy;
pub mod process;
pub mod spool;
mod table;
pub mod upload;

pub mod local;

pub mod agent;
pub mod crash;
pub mod error;
pub mod hang;
pub mod sync;
#[cfg(feature = "native-transport")]
pub mod transport;
mod worker;

pub use flags::{Attributes, Evaluation, FlagSet, FlagsUpdate};

pub use agent::{
    Agent, AgentBuilder, AgentStats, AppStartKind, KeyedAgent, MAX_QUEUE_CAPACITY, TimingGuard,
};
pub use consent::Consent;
pub use error::AgentError;
