//! The chained panic hook and the FFI guard's [`catch_contained`].
//!
//! Which panics are recorded:
//! - every panic outside [`catch_contained`], including those a test harness or an app guard
//!   catches later (as Sentry's panic integration does);
//! - inside [`catch_contained`], only a panic that will abort the process: the second panic the
//!   hook sees within one contained call before it returns (a `Drop` panicking while the first
//!   unwinds, or the first reaching a function that cannot unwind). `std::thread::panicking()`
//!   cannot tell: it is already true inside the hook for the first panic. The record carries the
//!   second panic's message, location and stack (which runs through the first one's unwinding)
//!   plus the first panic's message; std's own follow-up panic ("panic in a destructor during
//!   cleanup") is not recorded again. Code inside a contained call that catches panics itself
//!   must use [`catch_contained`] (nested calls count apart): a panic caught by a bare
//!   `catch_unwind` there would make a later one look fatal;
//! - with `panic = "abort"` every panic is fatal, so every one is recorded;
//! - never the panics of the recorder thread itself.
//!
//! Order and isolation: the record must be in the spool before the previous hook runs (it may
//! exit or abort the process, and after our hook the process may abort at once), and a panic
//! inside a panic hook aborts the process on the spot: no `catch_unwind` can catch it, and the
//! previous hook would never run. So the hook does on the panicking thread only what cannot
//! panic (the message, the thread's name, an unresolved stack capture) and hands the rest (clock,
//! ids, symbolizing, JSON, disk) to a short-lived recorder thread, waiting up to
//! [`RECORD_WAIT`] for it. A panic there ends that thread only; the previous hook runs either way.

use std::cell::{Cell, RefCell};
use std::panic::{PanicHookInfo, UnwindSafe, catch_unwind};
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use backtrace::Backtrace;

use crate::agent::{Agent, Shared};

use super::{crash_command, write_crash};

/// Name of the short-lived thread that writes a panic's crash record.
pub const RECORDER_THREAD: &str = "rum-agent-crash-recorder";
/// Longest time the hook waits for the recorder before calling the previous hook.
pub const RECORD_WAIT: Duration = Duration::from_secs(10);

/// Serialises panic hook installation (see [`Agent::install_panic_hook`]).
static HOOK_INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());

thread_local! {
    /// True while this thread runs inside [`catch_contained`].
    static CONTAINED: Cell<bool> = const { Cell::new(false) };
    /// Panics the hook saw on this thread inside the innermost [`catch_contained`] call.
    static CONTAINED_PANICS: Cell<u32> = const { Cell::new(0) };
    /// The message of the first of them: context for a second one, which aborts.
    static FIRST_CONTAINED: RefCell<Option<String>> = const { RefCell::new(None) };
    /// True on the recorder thread: its own panics are not recorded (no recursion).
    static RECORDER: Cell<bool> = const { Cell::new(false) };
    /// The verdict on the panic whose hook chain runs on this thread: the hooks of several
    /// agents, chained, judge a panic once (the contained count must not move per hook).
    static CHAIN_VERDICT: RefCell<Option<Verdict>> = const { RefCell::new(None) };
}

/// `catch_unwind` for a binding's FFI guard: a panic inside `f` is caught and is not recorded as
/// a crash by the panic hook (the guard reports it to the host as an exception instead), unless
/// its unwinding panics again, which aborts the process (see the module docs).
pub fn catch_contained<R>(f: impl FnOnce() -> R + UnwindSafe) -> std::thread::Result<R> {
    // `try_with`: called from a thread-local's destructor, the guard must still not panic.
    let outer = (
        CONTAINED.try_with(|c| c.replace(true)).unwrap_or(false),
        CONTAINED_PANICS.try_with(|c| c.replace(0)).unwrap_or(0),
        FIRST_CONTAINED.try_with(RefCell::take).ok().flatten(),
    );
    let result = catch_unwind(f);
    let _ = CONTAINED.try_with(|c| c.set(outer.0));
    let _ = CONTAINED_PANICS.try_with(|c| c.set(outer.1));
    let _ = FIRST_CONTAINED.try_with(|f| f.replace(outer.2));
    result
}

/// What the hook does with one panic.
#[derive(Clone)]
enum Verdict {
    Skip,
    /// Record it, with the message of the contained panic it interrupted, if any.
    Record(Option<String>),
}

/// Decides on the panicking thread; touches only thread-locals (`try_with`: a panic in a
/// thread-local's destructor must not make the hook panic).
fn verdict(info: &PanicHookInfo<'_>) -> Verdict {
    if RECORDER.try_with(Cell::get).unwrap_or(false) {
        return Verdict::Skip;
    }
    if cfg!(panic = "abort") || !CONTAINED.try_with(Cell::get).unwrap_or(false) {
        return Verdict::Record(None);
    }
    let seen = CONTAINED_PANICS
        .try_with(|c| {
            let n = c.get().saturating_add(1);
            c.set(n);
            n
        })
        .unwrap_or(1);
    let first = |f: &RefCell<Option<String>>| f.try_borrow_mut().ok().and_then(|mut f| f.take());
    match seen {
        1 => {
            let message = panic_message(info);
            let _ = FIRST_CONTAINED.try_with(|f| {
                if let Ok(mut slot) = f.try_borrow_mut() {
                    *slot = Some(message);
                }
            });
            Verdict::Skip
        }
        2 => Verdict::Record(FIRST_CONTAINED.try_with(first).ok().flatten()),
        _ => Verdict::Skip,
    }
}

/// The verdict of an outer hook of this chain, or a fresh one (then `true`: this hook is the
/// outermost and clears it when done). A panic inside a hook aborts on the spot, so a hook entered
/// while a verdict is set belongs to the same panic.
fn judge(info: &PanicHookInfo<'_>) -> (Verdict, bool) {
    let known = CHAIN_VERDICT
        .try_with(|v| v.try_borrow().ok().and_then(|v| v.clone()))
        .ok()
        .flatten();
    match known {
        Some(verdict) => (verdict, false),
        None => {
            let verdict = verdict(info);
            set_chain_verdict(Some(verdict.clone()));
            (verdict, true)
        }
    }
}

fn set_chain_verdict(verdict: Option<Verdict>) {
    let _ = CHAIN_VERDICT.try_with(|v| {
        if let Ok(mut slot) = v.try_borrow_mut() {
            *slot = verdict;
        }
    });
}

impl Agent {
    /// Installs a panic hook that records a `crash` event (with the panicking thread's name as
    /// [`THREAD_NAME`](super::THREAD_NAME)) synchronously into the spool, then calls the hook that was installed
    /// before. Installing twice has no effect. The hook does not keep the agent alive: once the
    /// agent is shut down or gone it only calls the previous hook. See the [module docs](self) for which
    /// panics are recorded and why the recording runs on its own thread.
    pub fn install_panic_hook(&self) {
        let shared = self.shared().clone();
        if shared
            .hook_installed
            .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            return;
        }
        let weak = Arc::downgrade(&shared);
        drop(shared);
        // take_hook + set_hook is not atomic: two agents installing at once on two threads
        // would both chain the same previous hook and one would be lost.
        let _installing = HOOK_INSTALL
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let (verdict, outermost) = judge(info);
            if let Verdict::Record(interrupted) = verdict {
                record_panic(&weak, info, interrupted);
            }
            previous(info);
            if outermost {
                set_chain_verdict(None);
            }
        }));
    }
}

/// What the recorder needs, gathered on the panicking thread.
struct PanicRecord {
    shared: Arc<Shared>,
    message: String,
    thread_name: Option<String>,
    stack: Backtrace,
}

/// Gathers the record on the panicking thread and has the recorder thread write it, waiting up to
/// [`RECORD_WAIT`]; if no thread can be started, writes it here.
fn record_panic(weak: &Weak<Shared>, info: &PanicHookInfo<'_>, interrupted: Option<String>) {
    let Some(shared) = weak.upgrade() else {
        return;
    };
    // A shut-down agent kept alive by a handle records nothing: a restarted agent on the same
    // data dir records this panic (once) if its own hook is installed.
    if shared.data_dir.is_none() || shared.closed.load(std::sync::atomic::Ordering::Acquire) {
        return;
    }
    let mut message = panic_message(info);
    if let Some(first) = interrupted {
        message.push_str(" (while unwinding from a contained panic: ");
        message.push_str(&first);
        message.push(')');
    }
    let record = PanicRecord {
        shared,
        message,
        // Can panic only inside a thread-local's destructor on some platforms (macOS): the one
        // call here that is not isolated, as the thread's name must be read on this thread.
        thread_name: std::thread::current().name().map(str::to_owned),
        // Captured here (this thread's stack), symbolized on the recorder.
        stack: Backtrace::new_unresolved(),
    };
    // A slot, not a channel: if no thread can be started, the record is still here to write.
    let slot = Arc::new(Mutex::new(Some(record)));
    let theirs = Arc::clone(&slot);
    let (done_tx, done_rx) = sync_channel::<()>(1);
    let spawned = std::thread::Builder::new()
        .name(RECORDER_THREAD.to_owned())
        .spawn(move || {
            let _ = RECORDER.try_with(|r| r.set(true));
            if let Some(record) = take(&theirs) {
                write_panic(record);
            }
            let _ = done_tx.send(());
        });
    match spawned {
        // Done, or disconnected (the recorder panicked), or too slow: the previous hook's turn.
        Ok(_) => {
            let _ = done_rx.recv_timeout(RECORD_WAIT);
        }
        // Here a panic aborts the process, as it did before the recorder thread existed; a
        // process that cannot start a thread is in deep trouble anyway.
        Err(_) => {
            if let Some(record) = take(&slot) {
                write_panic(record);
            }
        }
    }
}

fn take(slot: &Mutex<Option<PanicRecord>>) -> Option<PanicRecord> {
    match slot.lock() {
        Ok(mut record) => record.take(),
        Err(poisoned) => poisoned.into_inner().take(),
    }
}

fn write_panic(mut record: PanicRecord) {
    let shared = &record.shared;
    record.stack.resolve();
    let stack = super::stack::format_backtrace(&record.stack);
    let cmd = crash_command(
        shared,
        "panic",
        &record.message,
        Some(stack),
        record.thread_name.as_deref(),
    );
    // Nothing can be reported from inside a panic hook; a failed write loses this crash only.
    let _ = write_crash(shared, crate::worker::event(shared, cmd), true);
}

/// The panic's payload text and location.
fn panic_message(info: &PanicHookInfo<'_>) -> String {
    let payload = info.payload();
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "Box<dyn Any>".to_owned());
    match info.location() {
        Some(loc) => format!("{text} at {}:{}:{}", loc.file(), loc.line(), loc.column()),
        None => text,
    }
}
