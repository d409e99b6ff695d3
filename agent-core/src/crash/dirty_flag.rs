//! The dirty flag: detects runs that ended neither with a clean shutdown nor with a crash record
//! (kills, OOM, aborts without a hook), reported at the next start as `app.unclean_shutdown`.
//!
//! Two small files in the data dir, each holding a run id (a fresh UUID per built agent):
//! - [`RUNNING_FILE`] names the current run from its start until a clean shutdown removes it
//!   (followed by a new line and the run's current identity, kept up to date by the worker, so
//!   the event reporting the run's end goes to the user it happened to);
//! - [`CRASHED_FILE`] names the run whose crash record was written last.
//!
//! The rule at start: the previous run ended uncleanly iff `running` is there and `crashed` does
//! not name the same run. A crash record clears nothing, it only writes `crashed` (after the record
//! is in the spool: dying between the two reports the end twice rather than not at all). So a run
//! ended by a recorded crash is reported once, as the crash, and a run killed later is still seen.
//!
//! A recorded panic need not end the run: a test harness or an app guard may catch it, or only the
//! panicking thread dies. When the process is still alive [`REARM_AFTER`] after a panic record,
//! the worker removes `crashed` again, so a later kill is reported. A process that dies of its
//! panic does so long before (an abort right after the hook, or the end of the unwinding). The
//! price: a kill within [`REARM_AFTER`] of a survived panic is reported as the panic only.
//! Crashes a platform records from its uncaught-exception handler (`Agent::record_crash`) are not
//! re-armed: such handlers run when the process is about to die, which on Android can take long
//! (the crash dialog), and re-arming then would report the crash twice.
//!
//! Ids rather than mere presence keep a crash of the new run that lands before its worker
//! marked the start from hiding (or being taken for) the previous run's end.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::Map;

use crate::agent::Shared;
use crate::wire::{Event, event_types};
use crate::worker::EventCmd;

use super::{UNCLEAN_SHUTDOWN, signal_marker};

/// Name of the dirty-flag file in the data dir: names the run while an agent runs.
pub const RUNNING_FILE: &str = "running";
/// Name of the file in the data dir naming the run whose crash record was written last.
pub const CRASHED_FILE: &str = "crashed";
/// How long a process must outlive a recorded panic before a later kill counts again as an
/// unclean shutdown (see the module docs).
pub const REARM_AFTER: Duration = Duration::from_secs(5);

/// The worker's view of the survivable crash marks (see [`rearm_if_survived`]).
#[derive(Debug, Default)]
pub(crate) struct Rearm {
    /// Marks already re-armed.
    seen: u64,
    /// When the worker first saw marks beyond `seen`.
    since: Option<Instant>,
}

fn running_file(data_dir: &Path) -> PathBuf {
    data_dir.join(RUNNING_FILE)
}

fn crashed_file(data_dir: &Path) -> PathBuf {
    data_dir.join(CRASHED_FILE)
}

/// Marks the start of this run; returns the events that explain how earlier runs ended: a
/// `crash` for each run whose signal marker names the fatal signal that ended it (see
/// [`signal_marker`]), and `app.unclean_shutdown` when the previous run ended without a clean
/// shutdown, a crash record or such a signal.
pub(crate) fn mark_running(shared: &Shared) -> Vec<Event> {
    let Some(data_dir) = shared.data_dir.as_deref() else {
        return Vec::new();
    };
    let content = std::fs::read_to_string(running_file(data_dir)).ok();
    let previous = content.as_deref().map(parse_running);
    let crashed = std::fs::read_to_string(crashed_file(data_dir)).ok();
    // Markers do not depend on `running`: a run that died right after setup, before its worker
    // wrote `running`, is still known by its marker.
    let signals = signal_marker::take_stale(data_dir, &shared.run_id, crashed.as_deref());
    let unclean = match previous {
        None => false,
        Some((run, _)) => {
            (run.is_empty() || crashed.as_deref() != Some(run))
                && !signals.iter().any(|(signalled, _)| signalled == run)
        }
    };
    if crashed.is_some_and(|run| run != shared.run_id) {
        let _ = std::fs::remove_file(crashed_file(data_dir));
    }
    let _ = std::fs::create_dir_all(data_dir);
    let current = shared.current_key();
    let _ = std::fs::write(
        running_file(data_dir),
        running_content(&shared.run_id, &current),
    );
    // The end of the previous run is the user's who was using it then, not today's (a crash
    // must count against the flag treatments that user saw).
    let previous_key = previous.and_then(|(_, key)| key).filter(|k| !k.is_empty());
    let event = |event_type: &str, key: Option<&str>, properties| {
        crate::worker::event(
            shared,
            EventCmd {
                key: key.map_or_else(|| String::clone(&current), str::to_owned),
                event_type: event_type.to_owned(),
                value: None,
                ts: shared.clock.now_ms(),
                properties,
                globals: shared.globals.load_full(),
            },
        )
    };
    let mut events: Vec<Event> = signals
        .into_iter()
        .map(|(run, properties)| {
            let key = previous
                .filter(|(previous_run, _)| *previous_run == run)
                .and(previous_key);
            event(event_types::CRASH, key, properties)
        })
        .collect();
    if unclean {
        events.push(event(UNCLEAN_SHUTDOWN, previous_key, Map::new()));
    }
    events
}

/// What `running` holds: the run id, then a new line and the run's current identity.
fn running_content(run_id: &str, key: &str) -> String {
    format!("{run_id}\n{key}")
}

/// The run id and identity in `running` (files of older versions hold the run id, or a pid, only).
fn parse_running(content: &str) -> (&str, Option<&str>) {
    match content.split_once('\n') {
        Some((run, key)) => (run, Some(key)),
        None => (content, None),
    }
}

/// The identity last written into `running` (see [`note_identity`]).
#[derive(Debug, Default)]
pub(crate) struct IdentityMark {
    written: Option<Arc<String>>,
}

/// Called by the worker on every turn: keeps the identity in `running` current, so that the next
/// start attributes an unexplained end (or a fatal signal) of this run to the right user.
pub(crate) fn note_identity(shared: &Shared, mark: &mut IdentityMark) {
    let Some(data_dir) = shared.data_dir.as_deref() else {
        return;
    };
    let key = shared.current_key();
    if mark
        .written
        .as_ref()
        .is_some_and(|k| Arc::ptr_eq(k, &key) || **k == *key)
    {
        return;
    }
    // Only while this run is the one marked running (a clean stop removed the file).
    let path = running_file(data_dir);
    let ours = std::fs::read_to_string(&path)
        .is_ok_and(|content| parse_running(&content).0 == shared.run_id);
    if ours {
        let temp = data_dir.join(format!("{RUNNING_FILE}.tmp"));
        if std::fs::write(&temp, running_content(&shared.run_id, &key)).is_ok() {
            let _ = std::fs::rename(&temp, &path);
        }
    }
    mark.written = Some(key);
}

/// Clears the dirty flag at a clean shutdown.
pub(crate) fn mark_stopped(shared: &Shared) {
    if let Some(data_dir) = shared.data_dir.as_deref() {
        // `running` first: stopping between the two must not look like an unexplained end.
        let _ = std::fs::remove_file(running_file(data_dir));
        let _ = std::fs::remove_file(crashed_file(data_dir));
    }
}

/// Notes that this run's crash record was written (call after it is in the spool); `survivable`
/// crashes (panics) are re-armed by the worker if the process lives on.
pub(crate) fn mark_crashed(shared: &Shared, survivable: bool) {
    let Some(data_dir) = shared.data_dir.as_deref() else {
        return;
    };
    // Counted before the mark is written, so the worker's re-check after a removal sees it.
    if survivable {
        shared.survivable_crashes.fetch_add(1, Ordering::AcqRel);
    }
    write_crashed(data_dir, &shared.run_id);
}

/// Writes `crashed` whole or not at all (a torn id would read as an unexplained end).
fn write_crashed(data_dir: &Path, run_id: &str) {
    let temp = data_dir.join(format!("{CRASHED_FILE}.tmp"));
    if std::fs::write(&temp, run_id).is_ok() {
        let _ = std::fs::rename(&temp, crashed_file(data_dir));
    }
}

/// Called by the worker on every turn (at least every idle tick): once the process outlived its
/// latest panic record by [`REARM_AFTER`], removes the crash mark so a later kill is reported.
pub(crate) fn rearm_if_survived(shared: &Shared, state: &mut Rearm) {
    let marks = shared.survivable_crashes.load(Ordering::Acquire);
    if marks == state.seen {
        return;
    }
    let since = *state.since.get_or_insert_with(Instant::now);
    if since.elapsed() < REARM_AFTER {
        return;
    }
    state.seen = marks;
    state.since = None;
    let Some(data_dir) = shared.data_dir.as_deref() else {
        return;
    };
    let _ = std::fs::remove_file(crashed_file(data_dir));
    // A panic recorded meanwhile may have written its mark before the removal: put it back (the
    // next turn starts its own wait).
    if shared.survivable_crashes.load(Ordering::Acquire) != marks {
        write_crashed(data_dir, &shared.run_id);
    }
}
