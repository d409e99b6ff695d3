//! The dirty flag: detects runs that ended neither with a clean shutdown nor with a crash record
//! (kills, OOM, aborts without a hook), reported at the next start as `app.unclean_shutdown`.
//!
//! Two small files in the data dir, each holding a run id (a fresh UUID per built agent):
//! - [`RUNNING_FILE`] names the current run from its start until a clean shutdown removes it;
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
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::Map;

use crate::agent::Shared;
use crate::wire::Event;
use crate::worker::EventCmd;

use super::UNCLEAN_SHUTDOWN;

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

/// Marks the start of this run; returns an `app.unclean_shutdown` event when the previous run
/// ended without a clean shutdown and without a crash record.
pub(crate) fn mark_running(shared: &Shared) -> Option<Event> {
    let data_dir = shared.data_dir.as_deref()?;
    let previous = std::fs::read_to_string(running_file(data_dir)).ok();
    let crashed = std::fs::read_to_string(crashed_file(data_dir)).ok();
    let unclean = match &previous {
        None => false,
        Some(run) => run.is_empty() || crashed.as_deref() != Some(run.as_str()),
    };
    if crashed.is_some_and(|run| run != shared.run_id) {
        let _ = std::fs::remove_file(crashed_file(data_dir));
    }
    let _ = std::fs::create_dir_all(data_dir);
    let _ = std::fs::write(running_file(data_dir), &shared.run_id);
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
