//! Why a JNI call failed, and which Java exception says so.

use agent_core::AgentError;

/// Java class thrown for failures that are not the caller's fault (and for caught panics).
pub const RUM_EXCEPTION: &str = "dev/rollout/rum/RumException";
/// Java class thrown for bad arguments.
pub const ILLEGAL_ARGUMENT: &str = "java/lang/IllegalArgumentException";
/// Java class thrown when the agent is shut down or was never set up.
pub const ILLEGAL_STATE: &str = "java/lang/IllegalStateException";

/// A failure of one JNI call, mapped to a Java exception by [`BindingError::java_class`].
#[derive(Debug, thiserror::Error)]
pub enum BindingError {
    /// An argument from Java is invalid (null where required, malformed JSON, …).
    #[error("{field}: {message}")]
    InvalidArgument {
        /// The parameter at fault, as the Java API names it.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The handle is 0: the agent was shut down or never set up.
    #[error("the agent is shut down or was never set up")]
    NoAgent,
    /// agent-core refused the call.
    #[error(transparent)]
    Agent(AgentError),
    /// The JNI layer itself failed (out of memory, a pending exception, …).
    #[error("JNI: {0}")]
    Jni(#[from] jni::errors::Error),
}

impl From<AgentError> for BindingError {
    /// A setting the core refused is named as the Java API names it.
    fn from(e: AgentError) -> BindingError {
        match e {
            AgentError::InvalidConfig { field, message } => BindingError::InvalidArgument {
                field: java_name(field),
                message,
            },
            other => BindingError::Agent(other),
        }
    }
}

/// The Java name of a setting the core names in snake case (`RumConfig.Builder`'s arguments).
fn java_name(core: &'static str) -> &'static str {
    match core {
        "sdk_key" => "sdkKey",
        "collector" => "collectorUrl",
        "traffic_type" => "trafficType",
        "data_dir" => "dataDir",
        other => other,
    }
}

impl BindingError {
    /// Shorthand for [`BindingError::InvalidArgument`].
    pub fn invalid(field: &'static str, message: impl Into<String>) -> BindingError {
        BindingError::InvalidArgument {
            field,
            message: message.into(),
        }
    }

    /// The Java exception class (JNI internal name) that reports this error.
    pub fn java_class(&self) -> &'static str {
        match self {
            BindingError::InvalidArgument { .. }
            | BindingError::Agent(AgentError::InvalidConfig { .. })
            | BindingError::Agent(AgentError::InvalidKey { .. })
            | BindingError::Agent(AgentError::Flags(_)) => ILLEGAL_ARGUMENT,
            BindingError::NoAgent | BindingError::Agent(AgentError::ShutDown) => ILLEGAL_STATE,
            BindingError::Agent(_) | BindingError::Jni(_) => RUM_EXCEPTION,
        }
    }
}
