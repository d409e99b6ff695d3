//! Errors of the public agent API.

use std::path::PathBuf;

/// Why an agent call failed. Hot calls (treatment, track, …) never return errors: they drop and
/// count instead; only setup, flush and shutdown report failures.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A builder setting is invalid.
    #[error("invalid configuration: {field}: {message}")]
    InvalidConfig {
        /// The builder setting at fault, e.g. `collector`.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The operation did not finish within its timeout.
    #[error("timed out")]
    Timeout,
    /// The user has not granted consent (see `Agent::set_consent`): nothing may be sent, so a
    /// flush cannot deliver (what is queued waits, on disk with a data dir).
    #[error("consent is not granted: nothing is sent")]
    ConsentNotGranted,
    /// The agent has been shut down (or its worker thread is gone).
    #[error("the agent is shut down")]
    ShutDown,
    /// A background thread could not be started.
    #[error("cannot start thread {name}: {source}")]
    Thread {
        /// The thread's name.
        name: &'static str,
        /// The cause.
        source: std::io::Error,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A key (identity) is empty or longer than the wire allows ([`crate::wire::MAX_STRING`]
    /// bytes): the collector would refuse every batch holding its events.
    #[error("invalid {field}: must be 1 to {} bytes long", crate::wire::MAX_STRING)]
    InvalidKey {
        /// The argument at fault, e.g. `key`.
        field: &'static str,
    },
    /// Flag definitions could not be applied.
    #[error("invalid flag definitions: {0}")]
    Flags(#[from] crate::flags::FlagError),
}
