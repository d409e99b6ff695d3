//! The browser's wall clock for the core (`SystemTime` is not available on wasm32).

use agent_core::clock::Clock;

#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// `Date.now()`.
    #[wasm_bindgen(js_namespace = Date, js_name = now)]
    fn date_now() -> f64;
}

/// `Date.now()` in the browser (and Node); the system clock when built for the host.
#[derive(Debug, Clone, Copy)]
pub struct BrowserClock;

impl Clock for BrowserClock {
    #[cfg(target_arch = "wasm32")]
    fn now_ms(&self) -> i64 {
        date_now() as i64
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn now_ms(&self) -> i64 {
        agent_core::clock::SystemClock.now_ms()
    }
}
