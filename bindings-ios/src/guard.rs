//! Nothing panics across the boundary: a Rust panic reaching Swift through a non-throwing call
//! ends in `try!` and kills the app, so every export runs inside [`call`]. A panic contained here
//! did not crash the app, so the agent's panic hook does not record it as a crash
//! (`agent_core::crash::catch_contained`).

use std::panic::AssertUnwindSafe;

use agent_core::crash::catch_contained;

use crate::error::RumError;

/// Runs `body`, turning a panic into [`RumError::Internal`].
pub(crate) fn call<T>(body: impl FnOnce() -> Result<T, RumError>) -> Result<T, RumError> {
    match catch_contained(AssertUnwindSafe(body)) {
        Ok(result) => result,
        Err(payload) => Err(RumError::Internal {
            message: panic_message(payload.as_ref()),
        }),
    }
}

/// Runs `body`, answering `fallback` after a panic (for calls that cannot fail).
pub(crate) fn or_default<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_contained(AssertUnwindSafe(body)).unwrap_or(fallback)
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_internal_error() {
        let result: Result<(), RumError> = call(|| panic!("boom"));
        assert_eq!(
            result,
            Err(RumError::Internal {
                message: "boom".to_owned()
            })
        );
        assert_eq!(or_default(7, || panic!("again")), 7);
    }
}
