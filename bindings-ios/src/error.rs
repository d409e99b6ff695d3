//! The one error type crossing the boundary: a uniffi error enum, so Swift `catch`es (and Python
//! `except`s) a typed case instead of a string.

use agent_core::AgentError;

/// Why a call into the agent failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error, uniffi::Error)]
pub enum RumError {
    /// A setting of [`crate::RumConfig`] is invalid.
    #[error("bad configuration: {field}: {message}")]
    BadConfig {
        /// The setting at fault, e.g. `collector_url`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// A flag name is empty.
    #[error("bad flag name {name:?}: {message}")]
    BadFlagName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        message: String,
    },
    /// An event type (or timing marker) does not match `^[a-zA-Z0-9][-_.:a-zA-Z0-9]{0,79}$`.
    #[error("bad event type {name:?}: {message}")]
    BadEventType {
        /// The type given.
        name: String,
        /// What is wrong with it.
        message: String,
    },
    /// A number has no value the collector can take (NaN, infinite, a negative duration).
    #[error("bad value {field}: {message}")]
    BadValue {
        /// The argument at fault, e.g. `value` or `duration_ms`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// A key (identity) is empty or over 1024 bytes.
    #[error("bad key: {message}")]
    BadKey {
        /// What is wrong with it.
        message: String,
    },
    /// Flag definitions handed to `apply_flag_definitions` could not be read or applied.
    #[error("bad flag definitions: {message}")]
    BadFlagDefinitions {
        /// Why, naming the field at fault.
        message: String,
    },
    /// The call did not finish within its timeout.
    #[error("timed out")]
    Timeout,
    /// Consent is not granted: nothing is sent (what is queued waits; see `set_consent`).
    #[error("consent is not granted: nothing is sent")]
    ConsentNotGranted,
    /// The agent is shut down.
    #[error("the agent is shut down")]
    ShutDown,
    /// A file of the data dir could not be read or written.
    #[error("i/o error: {message}")]
    Io {
        /// The file and the cause.
        message: String,
    },
    /// The app's uploader failed unexpectedly (a foreign exception); the upload is retried.
    #[error("uploader failed: {message}")]
    Uploader {
        /// The foreign error's description.
        message: String,
    },
    /// A bug inside the agent (a caught panic); the app goes on.
    #[error("internal error: {message}")]
    Internal {
        /// What happened.
        message: String,
    },
}

impl From<AgentError> for RumError {
    fn from(error: AgentError) -> Self {
        match error {
            AgentError::InvalidConfig { field, message } => RumError::BadConfig {
                field: field.to_owned(),
                message,
            },
            AgentError::Timeout => RumError::Timeout,
            AgentError::ConsentNotGranted => RumError::ConsentNotGranted,
            AgentError::ShutDown => RumError::ShutDown,
            AgentError::Io { .. } => RumError::Io {
                message: error.to_string(),
            },
            AgentError::InvalidKey { .. } => RumError::BadKey {
                message: error.to_string(),
            },
            AgentError::Flags(e) => RumError::BadFlagDefinitions {
                message: e.to_string(),
            },
            other => RumError::Internal {
                message: other.to_string(),
            },
        }
    }
}

/// Required of every error a foreign trait returns: an exception the foreign code did not
/// declare (in the uploader, or in a flags listener, where it is ignored) becomes
/// [`RumError::Uploader`] instead of aborting.
impl From<uniffi::UnexpectedUniFFICallbackError> for RumError {
    fn from(error: uniffi::UnexpectedUniFFICallbackError) -> Self {
        RumError::Uploader {
            message: error.reason,
        }
    }
}
