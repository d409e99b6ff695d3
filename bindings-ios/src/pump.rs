//! The pump: a thread that drives the core's pull-upload API through a foreign [`Uploader`].
//!
//! The core says what to do next (`Upload`, `Wait`, `Done`); the pump only calls the uploader and
//! reports back. It sleeps at most [`MAX_IDLE`] at a time, since the core's own wake-up signal is
//! internal to it; `flush` wakes it at once.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use agent_core::Agent;
use agent_core::upload::{UploadResult, UploadTask};

use crate::error::RumError;
use crate::uploader::{UploadOutcome, UploadRequest, Uploader};

/// Name of the pump thread.
const THREAD_NAME: &str = "rum-agent-pump";
/// Longest sleep between two pulls: new work sealed by the worker is seen within this time.
const MAX_IDLE: Duration = Duration::from_secs(1);

/// Wakes the pump early (flush, shutdown) and tells it to stop.
#[derive(Debug, Default)]
pub(crate) struct Waker {
    state: Mutex<WakeState>,
    cond: Condvar,
}

#[derive(Debug, Default)]
struct WakeState {
    generation: u64,
    stop: bool,
}

impl Waker {
    /// Wakes the pump now.
    pub(crate) fn notify(&self) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.generation = state.generation.wrapping_add(1);
        self.cond.notify_all();
    }

    /// Makes the pump exit at its next check.
    pub(crate) fn stop(&self) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.stop = true;
        self.cond.notify_all();
    }

    fn generation(&self) -> (u64, bool) {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        (state.generation, state.stop)
    }

    /// Sleeps up to `timeout` unless woken after `seen`; answers whether to stop.
    fn wait(&self, seen: u64, timeout: Duration) -> bool {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (state, _) = self
            .cond
            .wait_timeout_while(state, timeout, |s| s.generation == seen && !s.stop)
            .unwrap_or_else(|p| p.into_inner());
        state.stop
    }
}

/// Starts the pump thread for `agent`, POSTing to `collector` through `uploader`.
pub(crate) fn start(
    agent: Agent,
    collector: String,
    uploader: Arc<dyn Uploader>,
    waker: Arc<Waker>,
) -> Result<JoinHandle<()>, RumError> {
    let base = collector.trim().trim_end_matches('/').to_owned();
    std::thread::Builder::new()
        .name(THREAD_NAME.to_owned())
        .spawn(move || run(&agent, &base, uploader.as_ref(), &waker))
        .map_err(|e| RumError::Internal {
            message: format!("cannot start thread {THREAD_NAME}: {e}"),
        })
}

fn run(agent: &Agent, base: &str, uploader: &dyn Uploader, waker: &Waker) {
    loop {
        let (seen, stop) = waker.generation();
        if stop {
            return;
        }
        // A panic inside one round (there should be none) costs that round, not the thread.
        let wait = crate::guard::or_default(Some(MAX_IDLE), || round(agent, base, uploader));
        match wait {
            Some(timeout) => {
                if waker.wait(seen, timeout) {
                    return;
                }
            }
            None => return,
        }
    }
}

/// One pull: uploads (answering no wait), or how long to sleep, or `None` when done.
fn round(agent: &Agent, base: &str, uploader: &dyn Uploader) -> Option<Duration> {
    match agent.next_upload() {
        UploadTask::Upload(request) => {
            let foreign = UploadRequest {
                url: format!("{base}{}", request.path),
                headers: request.headers.into_iter().collect(),
                body: request.body,
            };
            let result = match uploader.upload(foreign) {
                Ok(UploadOutcome::Http {
                    status,
                    retry_after_seconds,
                }) => UploadResult::Http {
                    status,
                    retry_after: retry_after_seconds.map(Duration::from_secs),
                },
                // A thrown error is a failed attempt like any other: the core backs off and retries.
                Ok(UploadOutcome::NetworkError) | Err(_) => UploadResult::NetworkError,
            };
            agent.upload_result(request.id, result);
            Some(Duration::ZERO)
        }
        UploadTask::Wait { ms } => Some(Duration::from_millis(ms).min(MAX_IDLE)),
        UploadTask::Done => None,
    }
}
