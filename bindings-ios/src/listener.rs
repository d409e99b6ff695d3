//! The foreign flag-update listener: the app is told of each change of the flag definitions
//! (Swift: to re-render what a killed flag shows).

use crate::error::RumError;

/// Implemented by the app; called on the thread that applied the change (the agent's flag-sync
/// thread, or the app's own in `apply_flag_definitions`), one update at a time per thread: hand
/// the work to your own queue (the Swift `onFlagsUpdate` hands it to the main actor); do not
/// wait on the agent there (`flush`, `shutdown`). Listeners are dropped at `shutdown`. Throwing is
/// safe: the error is ignored and the other listeners are still told.
#[uniffi::export(with_foreign)]
pub trait FlagsListener: Send + Sync {
    /// `version`: the flag set's version after the change; `flags`: sorted keys of the flags
    /// whose treatments may have changed (added, changed or archived, using a changed segment,
    /// or depending on any of those).
    fn on_flags_updated(&self, version: u64, flags: Vec<String>) -> Result<(), RumError>;
}
