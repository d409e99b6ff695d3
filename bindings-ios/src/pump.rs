//! The pump: a thread that drives the core's pull-upload API through a foreign [`Uploader`].
//!
//! The core says what to do next (`Upload`, `Wait`, `Done`); the pump only calls the uploader and
//! reports back. Between uploads it sleeps in [`Agent::wait_for_upload_work`], which the core
//! wakes when a batch is sealed (full or overdue), on flush and at shutdown, so new work is sent
//! at once and an idle app's pump does not wake up every second.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use agent_core::Agent;
use agent_core::upload::{UploadResult, UploadTask};

use crate::error::RumError;
use crate::uploader::{UploadOutcome, UploadRequest, Uploader};

/// Name of the pump thread.
const THREAD_NAME: &str = "rum-agent-pump";
/// Pause after a round that panicked (there should be none), so a bug cannot spin the CPU.
const FAILURE_PAUSE: Duration = Duration::from_secs(1);

/// Tells the pump to stop (shutdown, or the app dropping the agent without one).
#[derive(Debug, Default)]
pub(crate) struct Waker {
    stop: AtomicBool,
}

impl Waker {
    /// Makes the pump exit at its next check, waking it if it sleeps in the core.
    pub(crate) fn stop(&self, agent: &Agent) {
        self.stop.store(true, Ordering::Release);
        agent.wake_upload_waiters();
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
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
        if waker.stopped() {
            return;
        }
        // A panic inside one round (there should be none) costs that round, not the thread.
        let wait = crate::guard::or_default(Some(FAILURE_PAUSE), || round(agent, base, uploader));
        match wait {
            Some(Duration::ZERO) => {}
            // Checked again after the pull: a stop whose wake-up came before it is not lost.
            Some(_) if waker.stopped() => return,
            Some(timeout) => {
                agent.wait_for_upload_work(timeout);
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
        UploadTask::Wait { ms } => Some(Duration::from_millis(ms.max(1))),
        UploadTask::Done => None,
    }
}
