//! The browser's wall clock for the core (`SystemTime` is not available on wasm32).

use agent_core::clock::Clock;

/// `Date.now()` in the browser (and Node); the system clock when built for the host.
#[derive(Debug, Clone, Copy)]
pub struct BrowserClock;

impl Clock for BrowserClock {
    #[cfg(target_arch = "wasm32")]
    fn now_ms(&self) -> i64 {
        js_sys::Date::now() as i64
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn now_ms(&self) -> i64 {
        agent_core::clock::SystemClock.now_ms()
    }
}
