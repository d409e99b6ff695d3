//! The foreign main thread of the core's hang watchdog (`agent_core::hang`): the app posts each
//! tick to its main queue (Swift: `DispatchQueue.main.async`), the core decides the rest.

/// Implemented by the app; called on the watchdog's thread. `post` must not block.
#[uniffi::export(with_foreign)]
pub trait MainThread: Send + Sync {
    /// Has the main thread call `RumAgent.answer_hang_tick(tick)` once it gets to it, after what
    /// is queued there. Hold the agent weakly: the agent holds this object until it shuts down.
    fn post(&self, tick: u64);

    /// Whether a debugger is attached (a breakpoint stops the main thread, which is no hang).
    fn debugger_attached(&self) -> bool;
}

/// The app's main thread as the core calls it (no stack: iOS cannot read the main thread's
/// from another thread without the Mach calls a crash reporter makes).
pub(crate) struct Forward(pub(crate) std::sync::Arc<dyn MainThread>);

impl agent_core::hang::MainThread for Forward {
    fn post(&self, tick: u64) {
        self.0.post(tick);
    }

    fn debugger_attached(&self) -> bool {
        self.0.debugger_attached()
    }
}
