//! The one guard every JNI entry runs in: since Rust 1.81 a panic leaving an `extern` fn aborts
//! the process, so panics are caught here and, like errors, become Java exceptions (and are not
//! recorded as app crashes: see `agent_core::crash::catch_contained`).

use std::any::Any;
use std::panic::AssertUnwindSafe;

use agent_core::crash::catch_contained;

use jni::JNIEnv;

use crate::error::{BindingError, RUM_EXCEPTION};

/// Runs `body`; on an error or a panic, throws the matching Java exception and returns
/// `fallback` (which the JVM ignores while the exception is pending).
pub fn guard<'local, T>(
    env: &mut JNIEnv<'local>,
    fallback: T,
    body: impl FnOnce(&mut JNIEnv<'local>) -> Result<T, BindingError>,
) -> T {
    // The env is not used again after a panic except to throw, which is sound: a panic cannot
    // leave JNI local state half-updated on our side.
    // Contained: an SDK panic that becomes an exception here is not an app crash.
    let outcome = catch_contained(AssertUnwindSafe(|| body(env)));
    match outcome {
        Ok(Ok(value)) => value,
        Ok(Err(error)) => {
            throw(env, error.java_class(), &error.to_string());
            fallback
        }
        Err(payload) => {
            let message = format!("native panic: {}", panic_message(payload.as_ref()));
            throw(env, RUM_EXCEPTION, &message);
            fallback
        }
    }
}

/// Throws `class(message)` unless an exception is already pending (a failed JNI call left one:
/// it says more than we could, and throwing over it is a JNI error).
fn throw(env: &mut JNIEnv<'_>, class: &str, message: &str) {
    if env.exception_check().unwrap_or(true) {
        return;
    }
    // Nothing more can be done if even throwing fails (e.g. the class is missing).
    let _ = env.throw_new(class, message);
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown payload".to_owned()
    }
}
