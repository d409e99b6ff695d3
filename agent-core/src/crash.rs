//! Crashes: a chained panic hook and the synchronous "record crash" entry point, both writing one
//! `crash` event straight into the spool (the process may be dying: the worker cannot be relied
//! on); the next start's pipeline uploads it. Also the dirty-flag file that detects runs which
//! ended without a clean shutdown (kills, OOM, aborts).
//!
//! The panic hook sees every panic, including panics later caught by `catch_unwind` (test
//! harnesses, the app's own guards): each is recorded as a crash, as Sentry's panic integration
//! does. The exception is a binding's FFI guard, which runs its entries through
//! [`catch_contained`]: a panic inside the SDK that the guard turns into a host-language exception
//! did not crash the app, so it must not count as an app crash in a flag's crash metrics.

use std::cell::Cell;
use std::panic::{PanicHookInfo, UnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use backtrace::Backtrace;
use serde_json::Map;
use uuid::Uuid;

use crate::agent::{Agent, Shared};
use crate::error::AgentError;
use crate::spool;
use crate::wire::{Batch, Event, event_types};
use crate::worker::{Command, EventCmd};

/// Name of the dirty-flag file in the data dir: present while an agent runs.
pub const RUNNING_FILE: &str = "running";
/// Sub-directory of the data dir holding the spool.
pub const SPOOL_DIR: &str = "spool";
/// Event type recorded at start when the previous run did not shut down cleanly nor crash.
pub const UNCLEAN_SHUTDOWN: &str = "app.unclean_shutdown";
/// Crash property naming the thread that crashed (OpenTelemetry's `thread.name`).
pub const THREAD_NAME: &str = "thread.name";

/// Most frames kept in a formatted stack trace.
const MAX_FRAMES: usize = 100;

/// Frames through which a panic enters the hook: everything before the last of them is machinery.
const PANIC_ENTRY: &[&str] = &[
    "core::panicking::",
    "__rustc::rust_begin_unwind",
    "rust_begin_unwind",
    "std::panicking::begin_panic",
];

/// How many leading frames may hold [`PANIC_ENTRY`] frames (deeper ones are the app's own).
const PANIC_ENTRY_SEARCH: usize = 24;

/// Leading frames from these paths are the capture machinery, not the app.
const MACHINERY: &[&str] = &[
    "backtrace::",
    "agent_core::",
    "<agent_core::",
    "std::panicking",
    "std::panic::",
    "core::panicking",
    "std::sys::backtrace",
    "std::sys_common::backtrace",
    "rust_begin_unwind",
    "__rustc::rust_begin_unwind",
    "<alloc::boxed::Box<F,A> as core::ops::function::Fn",
];

/// Serialises panic hook installation (see [`Agent::install_panic_hook`]).
static HOOK_INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());

thread_local! {
    /// True while this thread runs inside [`catch_contained`].
    static CONTAINED: Cell<bool> = const { Cell::new(false) };
}

/// `catch_unwind` for a binding's FFI guard: a panic inside `f` is caught and is not recorded as
/// a crash by the panic hook (the guard reports it to the host as an exception instead).
pub fn catch_contained<R>(f: impl FnOnce() -> R + UnwindSafe) -> std::thread::Result<R> {
    let outer = CONTAINED.with(|c| c.replace(true));
    let result = catch_unwind(f);
    CONTAINED.with(|c| c.set(outer));
    result
}

impl Agent {
    /// Installs a panic hook that records a `crash` event (with the panicking thread's name as
    /// [`THREAD_NAME`]) synchronously into the spool, then calls the hook that was installed
    /// before. Installing twice has no effect. The hook does not keep the agent alive: once the
    /// agent is gone it only calls the previous hook.
    pub fn install_panic_hook(&self) {
        let shared = self.shared().clone();
        if shared.hook_installed.swap(true, Ordering::AcqRel) {
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
            if !CONTAINED.with(Cell::get)
                && let Some(shared) = weak.upgrade()
            {
                record_panic(&shared, info);
            }
            previous(info);
        }));
    }

    /// Records a crash now, synchronously: written to the spool (sent at the next start) when the
    /// agent has a data dir, else enqueued like any event. Bindings call this from their
    /// uncaught-exception handlers.
    pub fn record_crash(
        &self,
        crash_type: &str,
        message: &str,
        stack: Option<String>,
    ) -> Result<(), AgentError> {
        self.record_crash_on_thread(crash_type, message, stack, None)
    }

    /// [`Agent::record_crash`] naming the thread that crashed (sent as [`THREAD_NAME`]).
    pub fn record_crash_on_thread(
        &self,
        crash_type: &str,
        message: &str,
        stack: Option<String>,
        thread_name: Option<&str>,
    ) -> Result<(), AgentError> {
        let shared = self.shared();
        let mut properties = exception_properties(crash_type, message, stack);
        if let Some(name) = thread_name {
            properties.insert(THREAD_NAME.into(), name.into());
        }
        let cmd = EventCmd {
            key: String::clone(&shared.current_key()),
            event_type: event_types::CRASH.to_owned(),
            value: None,
            ts: shared.clock.now_ms(),
            properties,
            globals: shared.globals.load_full(),
        };
        if shared.data_dir.is_some() {
            write_crash(shared, crate::worker::event(shared, cmd))
        } else {
            self.enqueue(Command::Event(cmd));
            Ok(())
        }
    }
}

fn record_panic(shared: &Arc<Shared>, info: &PanicHookInfo<'_>) {
    if shared.data_dir.is_none() {
        return;
    }
    let payload = info.payload();
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "Box<dyn Any>".to_owned());
    let message = match info.location() {
        Some(loc) => format!("{text} at {}:{}:{}", loc.file(), loc.line(), loc.column()),
        None => text,
    };
    // Symbolizing here is acceptable: the process is about to die anyway.
    let stack = format_backtrace(&Backtrace::new());
    let mut properties = exception_properties("panic", &message, Some(stack));
    if let Some(name) = std::thread::current().name() {
        properties.insert(THREAD_NAME.into(), name.into());
    }
    let cmd = EventCmd {
        key: String::clone(&shared.current_key()),
        event_type: event_types::CRASH.to_owned(),
        value: None,
        ts: shared.clock.now_ms(),
        properties,
        globals: shared.globals.load_full(),
    };
    // Nothing can be reported from inside a panic hook; a failed write loses this crash only.
    let _ = write_crash(shared, crate::worker::event(shared, cmd));
}

fn exception_properties(
    exception_type: &str,
    message: &str,
    stack: Option<String>,
) -> Map<String, serde_json::Value> {
    let mut properties = Map::new();
    properties.insert(event_types::EXCEPTION_TYPE.into(), exception_type.into());
    properties.insert(event_types::EXCEPTION_MESSAGE.into(), message.into());
    if let Some(stack) = stack {
        properties.insert(event_types::EXCEPTION_STACKTRACE.into(), stack.into());
    }
    properties
}

/// Writes a one-event batch into the spool and clears the dirty flag (the crash explains the
/// unclean end, so the next start must not report it twice).
fn write_crash(shared: &Shared, event: Event) -> Result<(), AgentError> {
    let Some(data_dir) = shared.data_dir.as_deref() else {
        return Ok(());
    };
    let batch = Batch {
        batch_id: Uuid::new_v4(),
        sdk: shared.sdk.clone(),
        impressions: Vec::new(),
        events: vec![event],
        dropped: Vec::new(),
    };
    let dir = data_dir.join(SPOOL_DIR);
    std::fs::create_dir_all(&dir).map_err(|source| AgentError::Io {
        path: dir.clone(),
        source,
    })?;
    // The pipeline's start-up scan deletes temp files it finds, which may be ours if it runs at
    // this very moment (a crash right after `build`): the rename then fails with NotFound.
    let mut attempt = 0;
    loop {
        match spool::write_batch_file(&dir, &batch) {
            Ok(_) => break,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempt < 3 => attempt += 1,
            Err(source) => return Err(AgentError::Io { path: dir, source }),
        }
    }
    let _ = std::fs::remove_file(running_file(data_dir));
    Ok(())
}

fn running_file(data_dir: &Path) -> PathBuf {
    data_dir.join(RUNNING_FILE)
}

/// Sets the dirty flag at start; returns an `app.unclean_shutdown` event when the previous run
/// left it behind.
pub(crate) fn mark_running(shared: &Shared) -> Option<Event> {
    let data_dir = shared.data_dir.as_deref()?;
    let path = running_file(data_dir);
    let unclean = path.exists();
    let _ = std::fs::create_dir_all(data_dir);
    let _ = std::fs::write(&path, std::process::id().to_string());
    unclean.then(|| {
        crate::worker::event(
            shared,
            EventCmd {
                key: String::clone(&shared.current_key()),
                event_type: UNCLEAN_SHUTDOWN.to_owned(),
                value: None,
                ts: shared.clock.now_ms(),
                properties: Map::new(),
                globals: shared.globals.load_full(),
            },
        )
    })
}

/// Clears the dirty flag at a clean shutdown.
pub(crate) fn mark_stopped(shared: &Shared) {
    if let Some(data_dir) = shared.data_dir.as_deref() {
        let _ = std::fs::remove_file(running_file(data_dir));
    }
}

/// Formats a resolved backtrace one frame per line (`name (file:line)`), without the capture
/// machinery's leading frames.
pub(crate) fn format_backtrace(backtrace: &Backtrace) -> String {
    let mut lines = Vec::new();
    let mut in_machinery = true;
    for frame in backtrace.frames() {
        for symbol in frame.symbols() {
            let name = symbol
                .name()
                .map(|n| format!("{n:#}"))
                .unwrap_or_else(|| "<unknown>".to_owned());
            if in_machinery && MACHINERY.iter().any(|p| name.starts_with(p)) {
                continue;
            }
            in_machinery = false;
            let line = match (symbol.filename(), symbol.lineno()) {
                (Some(file), Some(lineno)) => format!("{name} ({}:{lineno})", file.display()),
                _ => name,
            };
            lines.push(line);
        }
        if lines.len() >= MAX_FRAMES {
            break;
        }
    }
    // Inlined or shortened names can hide the hook's own frames from the prefix list; on a
    // panic everything up to the panic entry point is machinery whatever its names.
    let panic_entry = lines
        .iter()
        .take(PANIC_ENTRY_SEARCH)
        .rposition(|l| PANIC_ENTRY.iter().any(|p| l.starts_with(p)));
    if let Some(last) = panic_entry {
        lines.drain(..=last);
    }
    lines.truncate(MAX_FRAMES);
    lines.join("\n")
}
