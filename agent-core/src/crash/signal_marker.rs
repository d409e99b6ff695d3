//! Fatal-signal markers: how a platform's signal handler (iOS: SIGSEGV, SIGABRT, …) reports a
//! crash without calling into the agent.
//!
//! A signal handler may only call async-signal-safe functions: no allocation, no locks, so no
//! agent call. The platform opens this run's marker file at setup ([`Agent::signal_marker_path`])
//! and its handler only `write(2)`s the signal number there (4 bytes, native-endian `i32`) before
//! re-raising. A later start turns that marker into the run's `crash` event: the start that
//! claims the dead run, or any start once the marker is a minute old with no live file.
//!
//! Each run has its own marker (named after its run id), so the new run's platform code can open
//! its marker while the worker still reads the old one, and a marker is only believed for a run
//! that ended uncleanly: a clean shutdown removes its run's marker (a signal an earlier handler
//! recovered from was not the end), and an uncaught exception already recorded by `record_crash`
//! whose default handler then aborts (SIGABRT) is reported once, as the exception.

use std::path::{Path, PathBuf};

use crate::agent::Agent;

use crate::agent::events::error_properties;

/// Prefix of a run's signal marker file in the data dir (followed by the run id).
pub const SIGNAL_MARKER_PREFIX: &str = "crash-marker-";
/// `exception.type` of a crash reported from a signal marker.
pub const SIGNAL_CRASH_TYPE: &str = "signal";

impl Agent {
    /// The file this run's fatal-signal handler writes the signal number into (see the module
    /// docs); `None` without a data dir. Open it once at setup, write only from the handler.
    pub fn signal_marker_path(&self) -> Option<PathBuf> {
        let shared = self.shared();
        let dir = shared.data_dir.as_deref()?;
        Some(marker_path(dir, &shared.run_id))
    }
}

/// The marker file of run `run_id`.
pub(crate) fn marker_path(data_dir: &Path, run_id: &str) -> PathBuf {
    data_dir.join(format!("{SIGNAL_MARKER_PREFIX}{run_id}"))
}

/// The crash properties of every earlier run whose marker holds a signal, with that run's id,
/// except runs in `crashed` (their crash is already recorded: an uncaught exception whose default
/// handler then aborts). Only the markers `take` says (run id, path) this start takes: the others'
/// platforms may still hold them open for a signal to come. Each is claimed for `claimer` before
/// it is read (two starts at once take it once), and its claimed path added to `taken`, for the
/// caller to remove once the crash is safe in the spool. `names`: the data dir's files.
pub(crate) fn take_stale(
    data_dir: &Path,
    names: &[String],
    claimer: &str,
    take: impl Fn(&str, &Path) -> bool,
    crashed: &[String],
    taken: &mut Vec<PathBuf>,
) -> Vec<(String, serde_json::Map<String, serde_json::Value>)> {
    let mut found = Vec::new();
    for name in names {
        let Some(run) = name.strip_prefix(SIGNAL_MARKER_PREFIX) else {
            continue;
        };
        if !take(run, &data_dir.join(name)) {
            continue;
        }
        let Some(claimed) = super::dirty_flag::claim(data_dir, name, claimer) else {
            continue;
        };
        if !crashed.iter().any(|c| c == run)
            && let Some(properties) = signal_in(&claimed)
        {
            found.push((run.to_owned(), properties));
        }
        taken.push(claimed);
    }
    found
}

/// The crash properties for the signal number a marker holds, if it holds one.
fn signal_in(marker: &Path) -> Option<serde_json::Map<String, serde_json::Value>> {
    let bytes = std::fs::read(marker).ok()?;
    let number = i32::from_ne_bytes(bytes.get(..4)?.try_into().ok()?);
    let message = match signal_name(number) {
        Some(name) => format!("signal {number} ({name})"),
        None => format!("signal {number}"),
    };
    Some(error_properties(
        SIGNAL_CRASH_TYPE.to_owned(),
        message,
        None,
    ))
}

/// The usual name of a fatal signal's number on the platform the agent runs on.
fn signal_name(number: i32) -> Option<&'static str> {
    // SIGBUS differs: 10 on Apple platforms and FreeBSD, 7 on Linux and Android.
    const SIGBUS: i32 = if cfg!(any(target_vendor = "apple", target_os = "freebsd")) {
        10
    } else {
        7
    };
    Some(match number {
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        15 => "SIGTERM",
        n if n == SIGBUS => "SIGBUS",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::event_types::{EXCEPTION_MESSAGE, EXCEPTION_TYPE};

    fn write(dir: &Path, run: &str, bytes: &[u8]) {
        std::fs::write(marker_path(dir, run), bytes).expect("write marker");
    }

    /// [`take_stale`] for "me", then the removal of what it took, as a start does.
    fn take_and_remove(
        dir: &Path,
        take: impl Fn(&str, &Path) -> bool,
        crashed: &[String],
    ) -> Vec<(String, serde_json::Map<String, serde_json::Value>)> {
        let mut taken = Vec::new();
        let names = super::super::file_names(dir);
        let found = take_stale(dir, &names, "me", take, crashed, &mut taken);
        for path in taken {
            std::fs::remove_file(path).expect("a taken marker is there to remove");
        }
        found
    }

    fn left(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("list")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn markers_of_earlier_runs_name_their_signals_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "segv", &11i32.to_ne_bytes());
        write(dir.path(), "odd", &77i32.to_ne_bytes());
        write(dir.path(), "clean", b"");
        write(dir.path(), "torn", b"\x0b\x00");
        write(dir.path(), "now", &6i32.to_ne_bytes());
        let mut found = take_and_remove(dir.path(), |run, _| run != "now", &[]);
        found.sort_by(|a, b| a.0.cmp(&b.0));
        let messages: Vec<(&str, &str)> = found
            .iter()
            .map(|(run, p)| (run.as_str(), p[EXCEPTION_MESSAGE].as_str().unwrap_or("")))
            .collect();
        assert_eq!(
            messages,
            [("odd", "signal 77"), ("segv", "signal 11 (SIGSEGV)")]
        );
        assert!(
            found
                .iter()
                .all(|(_, p)| p[EXCEPTION_TYPE] == SIGNAL_CRASH_TYPE)
        );
        assert_eq!(
            left(dir.path()),
            ["crash-marker-now"],
            "the current run's is kept"
        );
        assert!(
            take_and_remove(dir.path(), |run, _| run != "later", &[]).len() == 1,
            "only 'now' was left"
        );
    }

    #[test]
    fn a_run_with_a_recorded_crash_is_not_reported_again_by_its_signal() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "exception-then-abort", &6i32.to_ne_bytes());
        assert!(
            take_and_remove(
                dir.path(),
                |run, _| run != "now",
                &["exception-then-abort".to_owned()]
            )
            .is_empty()
        );
        assert!(left(dir.path()).is_empty());
    }
}
