//! Stack traces of crashes and errors: one frame per line, without the capture machinery.

use backtrace::Backtrace;

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
