//! Hangs of an app's main (UI) thread: the thread not answering for a threshold or more, what
//! Android shows an ANR dialog for (5 s of unanswered input) and iOS calls an app hang.
//!
//! The platform gives a way onto its main thread ([`MainThread`]). A watchdog thread
//! ([`Agent::watch_hangs`]) posts a numbered tick there, and looks every tenth of the threshold
//! (at most [`MAX_POLL`]) whether the main thread answered it ([`Agent::answer_hang_tick`]); the
//! next tick goes out once it did. The main thread not answering for the threshold since it
//! last did is one hang, reported once as an `error` of type [`NOT_RESPONDING_TYPE`], with the
//! main thread's stack when the platform can read it, and sealed at once (spooled with a data
//! dir): a hang often ends in a kill.
//!
//! Timed as Sentry's watchdog times it, from the last answer: a job that starts right behind an
//! answer, before the next tick goes out, counts whole, so a block up to one look shorter than
//! the threshold may count. The clock is `Instant`, which stands still while the device sleeps
//! (Android's `CLOCK_MONOTONIC`, iOS's uptime), as the main thread does. Not reported:
//! - before the main thread answered a first tick: a slow start (Android's
//!   `Application.onCreate`) is the cold start's time, not a hang;
//! - in the background (`Agent::set_in_background`): no screen up, nothing the user waits for
//!   (no ticks are posted there, so the main thread is not woken; back in the foreground, an
//!   unanswered tick is timed from the return);
//! - while the platform says a debugger is attached (a breakpoint stops the main thread).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::agent::{Agent, Link, Shared};
use crate::crash::exit::NOT_RESPONDING_TYPE;
use crate::error::AgentError;
use crate::worker::Record;

/// Name of the watchdog thread.
pub const THREAD_NAME: &str = "rum-hang-watchdog";
/// Longest wait between two looks at the main thread (a tenth of the threshold, up to this).
pub const MAX_POLL: Duration = Duration::from_millis(500);
/// Longest the watchdog waits for a reported hang to be sealed (spooled, with a data dir).
const SEAL_WAIT: Duration = Duration::from_secs(2);

/// A platform's way onto its main thread, for the hang watchdog.
pub trait MainThread: Send + Sync + 'static {
    /// Has the main thread call [`Agent::answer_hang_tick`] with `tick` once it gets to it,
    /// after what is queued there (Android: `Handler.post`; iOS: `DispatchQueue.main.async`).
    /// Must not block. Hold the agent weakly where the platform can: the watchdog holds this
    /// until the agent shuts down.
    fn post(&self, tick: u64);

    /// The main thread's stack now, as the platform prints frames (one per line); None where it
    /// cannot be read from another thread.
    fn stack(&self) -> Option<String> {
        None
    }

    /// Whether a debugger is attached: a breakpoint stops the main thread, which is no hang.
    fn debugger_attached(&self) -> bool {
        false
    }
}

impl Agent {
    /// Starts the hang watchdog on `main` (see the [module docs](crate::hang)): each time the
    /// main thread does not answer for `threshold`, an `error` of type
    /// [`NOT_RESPONDING_TYPE`]. It stops with the agent. Errors: a zero threshold, hangs already
    /// watched, a shut-down agent, or no thread to be had.
    pub fn watch_hangs(
        &self,
        main: Arc<dyn MainThread>,
        threshold: Duration,
    ) -> Result<(), AgentError> {
        let invalid = |message: &str| AgentError::InvalidConfig {
            field: "hang_threshold",
            message: message.to_owned(),
        };
        if threshold.is_zero() {
            return Err(invalid("must be more than zero"));
        }
        let shared = self.shared();
        if shared.closed.load(Ordering::Acquire) {
            return Err(AgentError::ShutDown);
        }
        if shared.hang_watched.swap(true, Ordering::AcqRel) {
            return Err(invalid("hangs are already watched"));
        }
        let link = self.link().clone();
        let thread = std::thread::Builder::new()
            .name(THREAD_NAME.to_owned())
            .spawn(move || watch(&link, &*main, threshold))
            .map_err(|source| AgentError::Thread {
                name: THREAD_NAME,
                source,
            });
        let thread = match thread {
            Ok(thread) => thread,
            Err(e) => {
                shared.hang_watched.store(false, Ordering::Release);
                return Err(e);
            }
        };
        self.keep_thread(thread);
        Ok(())
    }

    /// The main thread got to `tick` (see [`MainThread::post`]). Cheap, never blocks: called on
    /// the main thread.
    pub fn answer_hang_tick(&self, tick: u64) {
        let shared = self.shared();
        let at = u64::try_from(shared.built.elapsed().as_nanos()).unwrap_or(u64::MAX);
        // The time first: the watchdog reads it once it sees the tick.
        shared.hang_answered_at.fetch_max(at, Ordering::AcqRel);
        shared.hang_answered.fetch_max(tick, Ordering::AcqRel);
    }
}

/// The watchdog's body: until the agent stops. It holds the link, not an `Agent`: dropping the
/// last handle must still stop everything (as for the uploader).
fn watch(link: &Link, main: &dyn MainThread, threshold: Duration) {
    let shared = &link.shared;
    let poll = (threshold / 10).clamp(Duration::from_millis(1), MAX_POLL);
    let mut tick = 1;
    main.post(tick);
    let mut posted = Instant::now();
    let mut armed = false;
    let mut reported = false;
    let mut away = false;
    loop {
        // Read before the stop flag: a stop between the two still wakes the wait.
        let seen = shared.hang_wake.generation();
        if shared.stopping() {
            break;
        }
        shared.hang_wake.wait(seen, poll);
        if shared.stopping() {
            break;
        }
        if shared.in_background.load(Ordering::Acquire) {
            // No ticks: nothing the user waits for, and no reason to wake the main thread.
            away = true;
            continue;
        }
        if away {
            // Back in the foreground: a tick still unanswered is timed from now, not across
            // the time away.
            away = false;
            posted = Instant::now();
        }
        if shared.hang_answered.load(Ordering::Acquire) >= tick {
            armed = true;
            reported = false;
            tick += 1;
            main.post(tick);
            posted = Instant::now();
        } else if armed
            && !reported
            && unanswered_since(shared, posted, poll).elapsed() >= threshold
        {
            reported = true;
            if !main.debugger_attached() {
                report(link, threshold, main.stack());
            }
        }
    }
}

/// Since when the main thread has not answered, for a tick `posted` then: since it answered
/// the previous one (it may have started the job that holds it right after; the tick went out
/// at the watchdog's next look), but at most one look before the post (a watchdog that was
/// itself held up knows nothing of the main thread in between).
fn unanswered_since(shared: &Shared, posted: Instant, poll: Duration) -> Instant {
    let answered =
        shared.built + Duration::from_nanos(shared.hang_answered_at.load(Ordering::Acquire));
    answered.max(posted.checked_sub(poll).unwrap_or(posted))
}

/// Tracks one hang of the main thread (`stack` its frames when known) and seals it.
fn report(link: &Link, threshold: Duration, stack: Option<String>) {
    let message = format!(
        "the main thread did not respond for {} ms",
        threshold.as_millis()
    );
    let stack = stack.map(|frames| format!("{NOT_RESPONDING_TYPE}: {message}\n{frames}"));
    let event = link
        .shared
        .error_cmd(None, NOT_RESPONDING_TYPE.to_owned(), message, stack);
    if link.enqueue(Record::Event(event)) {
        // On disk at once: a hang often ends in a kill (Android's ANR dialog, iOS's watchdog)
        // before the next seal. A timeout leaves it to the usual one.
        let _ = link.seal(SEAL_WAIT);
    }
}
