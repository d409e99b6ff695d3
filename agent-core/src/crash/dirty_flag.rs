//! The dirty flag: detects runs that ended neither with a clean shutdown nor with a crash record
//! (kills, OOM, aborts without a hook), reported at the next start as `app.unclean_shutdown`.
//!
//! Small files in the data dir, named or filled with a run id (a fresh UUID per built agent):
//! - [`RUNNING_FILE`] names the current run from its start until its clean shutdown removes it,
//!   followed by a new line and the run's current identity (kept up to date by the worker), so
//!   the event reporting the run's end goes to the user it happened to;
//! - `crashed-<run id>` ([`CRASHED_PREFIX`]) says that run's crash record is in the spool.
//!
//! The rule at start: the previous run (the one `running` names) ended uncleanly iff it has no
//! crash mark and no fatal-signal marker (see [`super::signal_marker`]). A crash record clears
//! nothing: it only adds its run's mark, after the record is in the spool (dying between the two
//! reports the end twice rather than not at all). Marks are per run, so a crash of the new run
//! right after setup, before its worker looked, neither hides nor doubles the previous run's end.
//!
//! A recorded panic need not end the run: a test harness or an app guard may catch it, or only the
//! panicking thread dies. When the process is still alive [`REARM_AFTER`] after its latest panic
//! record, the worker removes the run's mark again, so a later kill is reported. A process that
//! dies of its panic does so long before (an abort right after the hook, or the end of the
//! unwinding). The price: a kill within [`REARM_AFTER`] of a survived panic is reported as the
//! panic only. Once a platform recorded a crash from its uncaught-exception handler
//! (`Agent::record_crash`) nothing is re-armed: such handlers run when the process is about to
//! die, which on Android can take long (the crash dialog), and re-arming then would report the
//! crash twice.
//!
//! A run also holds an exclusive lock (`flock`) on its own `live-<run id>` file ([`LIVE_PREFIX`])
//! from its start to its clean shutdown. The operating system lets go of it when the process dies,
//! however it dies. So a start that finds the previous run's file still locked knows that run is
//! alive (a restart overlapping an agent still stopping, a second agent or process on the same
//! directory) and reports nothing for it: a false unclean shutdown would count as a crash against
//! the flag treatments its user saw. Files nobody holds are left by dead runs and are removed.
//! Two live agents on one data dir still share one spool: keep one agent per data dir. A run only
//! ever removes its own `running` and marks.

use std::fs::{File, TryLockError};
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
/// Prefix of a run's crash mark in the data dir (followed by the run id).
pub const CRASHED_PREFIX: &str = "crashed-";
/// Prefix of a run's liveness file in the data dir (followed by the run id): locked by the run
/// while it is alive (see the module docs).
pub const LIVE_PREFIX: &str = "live-";
/// How long a process must outlive its latest recorded panic before a later kill counts again as
/// an unclean shutdown (see the module docs).
pub const REARM_AFTER: Duration = Duration::from_secs(5);

/// The worker's view of the survivable crash marks (see [`rearm_if_survived`]).
#[derive(Debug, Default)]
pub(crate) struct Rearm {
    /// Panic records already re-armed.
    seen: u64,
    /// Panic records counted at the last look, and when that count was first seen.
    pending: Option<(u64, Instant)>,
}

fn running_file(data_dir: &Path) -> PathBuf {
    data_dir.join(RUNNING_FILE)
}

fn crash_mark(data_dir: &Path, run_id: &str) -> PathBuf {
    data_dir.join(format!("{CRASHED_PREFIX}{run_id}"))
}

fn live_file(data_dir: &Path, run_id: &str) -> PathBuf {
    data_dir.join(format!("{LIVE_PREFIX}{run_id}"))
}

/// This run's lock on its liveness file, held by the worker until the clean shutdown; the
/// operating system lets go of it if the process dies first.
#[derive(Debug)]
pub(crate) struct LiveLock {
    _file: File,
    path: PathBuf,
}

/// Creates and locks this run's liveness file. Locked before it gets its name, so a start never
/// sees it unlocked (and removes it as a dead run's) while this run is alive. None when the data
/// dir cannot hold it: the run is then taken for dead by a start overlapping it, as before locks.
fn take_live(data_dir: &Path, run_id: &str) -> Option<LiveLock> {
    let temp = data_dir.join(format!("{LIVE_PREFIX}{run_id}.tmp"));
    let file = File::create(&temp).ok()?;
    let locked = file.try_lock().is_ok();
    let path = live_file(data_dir, run_id);
    if !locked || std::fs::rename(&temp, &path).is_err() {
        let _ = std::fs::remove_file(&temp);
        return None;
    }
    Some(LiveLock { _file: file, path })
}

/// True when a live agent (in this process or another) holds `run_id`'s liveness file.
fn is_alive(data_dir: &Path, run_id: &str) -> bool {
    File::open(live_file(data_dir, run_id))
        .is_ok_and(|file| matches!(file.try_lock(), Err(TryLockError::WouldBlock)))
}

/// Removes the liveness files of runs that are not alive (they died: a clean shutdown removes
/// its own), and the temporary files of runs that died before naming theirs.
fn remove_dead_live_files(data_dir: &Path, names: &[String], run_id: &str) {
    for name in names {
        let Some(run) = name.strip_prefix(LIVE_PREFIX) else {
            continue;
        };
        if run == run_id || run.strip_suffix(".tmp") == Some(run_id) {
            continue;
        }
        let path = data_dir.join(name);
        // Locked by us for the removal: a file we can lock has no live owner.
        if let Ok(file) = File::open(&path)
            && file.try_lock().is_ok()
        {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// The runs that have a crash mark among the data dir's file `names`.
fn crashed_runs(names: &[String]) -> Vec<String> {
    names
        .iter()
        .filter_map(|n| n.strip_prefix(CRASHED_PREFIX).map(str::to_owned))
        .collect()
}

/// What `running` says about the previous run: `None` when there is no file; a file that cannot
/// be read, or is torn, names no run (an empty id), which counts as an unexplained end.
fn read_running(data_dir: &Path) -> Option<(String, Option<String>)> {
    match std::fs::read(running_file(data_dir)) {
        Ok(bytes) => {
            let content = String::from_utf8_lossy(&bytes);
            let (run, key) = parse_running(&content);
            Some((run.to_owned(), key.map(str::to_owned)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(_) => Some((String::new(), None)),
    }
}

/// What [`mark_running`] found and took.
pub(crate) struct RunStart {
    /// The events that explain how earlier runs ended.
    pub(crate) events: Vec<Event>,
    /// This run's liveness lock: hand it to [`mark_stopped`] at the clean shutdown.
    pub(crate) live: Option<LiveLock>,
}

/// Marks the start of this run; returns the events that explain how earlier runs ended: a
/// `crash` for each run whose signal marker names the fatal signal that ended it (see
/// [`signal_marker`]), and `app.unclean_shutdown` when the previous run ended without a clean
/// shutdown, a crash record or such a signal, and is not still alive.
pub(crate) fn mark_running(shared: &Shared) -> RunStart {
    let Some(data_dir) = shared.data_dir.as_deref() else {
        return RunStart {
            events: Vec::new(),
            live: None,
        };
    };
    let _ = std::fs::create_dir_all(data_dir);
    let live = take_live(data_dir, &shared.run_id);
    let previous = read_running(data_dir);
    let names = super::file_names(data_dir);
    let crashed = crashed_runs(&names);
    // Markers do not depend on `running`: a run that died right after setup, before its worker
    // wrote `running`, is still known by its marker.
    // Another run that is no longer alive: its marks and markers are taken and removed.
    let ended = |run: &str| run != shared.run_id && !is_alive(data_dir, run);
    let signals = signal_marker::take_stale(data_dir, &names, |run| !ended(run), &crashed);
    let unclean = previous.as_ref().is_some_and(|(run, _)| {
        run.is_empty()
            || (!crashed.contains(run)
                && !signals.iter().any(|(signalled, _)| signalled == run)
                && !is_alive(data_dir, run)
                // Its lock is released only after its clean shutdown removed `running`: gone
                // now means it stopped cleanly since we read it.
                && running_is_ours(data_dir, run))
    });
    for run in crashed.iter().filter(|run| ended(run)) {
        let _ = std::fs::remove_file(crash_mark(data_dir, run));
    }
    remove_dead_live_files(data_dir, &names, &shared.run_id);
    let current = shared.current_key();
    write_running(data_dir, &shared.run_id, &current);
    // The end of the previous run is the user's who was using it then, not today's (a crash
    // must count against the flag treatments that user saw).
    let previous_run = previous.as_ref().map(|(run, _)| run.as_str());
    let previous_key = previous
        .as_ref()
        .and_then(|(_, key)| key.as_deref())
        .filter(|k| !k.is_empty());
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
            let key = previous_key.filter(|_| previous_run == Some(run.as_str()));
            event(event_types::CRASH, key, properties)
        })
        .collect();
    if unclean {
        events.push(event(UNCLEAN_SHUTDOWN, previous_key, Map::new()));
    }
    RunStart { events, live }
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

/// Writes `running` whole or not at all (a kill mid-write must not leave a torn id).
fn write_running(data_dir: &Path, run_id: &str, key: &str) {
    let temp = data_dir.join(format!("{RUNNING_FILE}.{run_id}.tmp"));
    if std::fs::write(&temp, running_content(run_id, key)).is_ok() {
        let _ = std::fs::rename(&temp, running_file(data_dir));
    }
}

/// True when `running` names this run (another run may have started on the data dir since).
fn running_is_ours(data_dir: &Path, run_id: &str) -> bool {
    read_running(data_dir).is_some_and(|(run, _)| run == run_id)
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
    if running_is_ours(data_dir, &shared.run_id) {
        write_running(data_dir, &shared.run_id, &key);
    }
    mark.written = Some(key);
}

/// Clears this run's dirty flag, crash mark and fatal-signal marker at a clean shutdown: a run
/// that ended cleanly did not die of a signal its marker may hold (one a handler before ours
/// recovered from, as runtimes that turn SIGSEGV into exceptions do). The liveness lock goes
/// last, when nothing of the run is left to be taken for an unclean end.
pub(crate) fn mark_stopped(shared: &Shared, live: Option<LiveLock>) {
    if let Some(data_dir) = shared.data_dir.as_deref() {
        // `running` first: stopping between the two must not look like an unexplained end.
        if running_is_ours(data_dir, &shared.run_id) {
            let _ = std::fs::remove_file(running_file(data_dir));
        }
        let _ = std::fs::remove_file(crash_mark(data_dir, &shared.run_id));
        let _ = std::fs::remove_file(signal_marker::marker_path(data_dir, &shared.run_id));
    }
    if let Some(live) = live {
        let _ = std::fs::remove_file(&live.path);
    }
}

/// Notes that this run's crash record was written (call after it is in the spool); `survivable`
/// crashes (panics) are re-armed by the worker if the process lives on, others never.
pub(crate) fn mark_crashed(shared: &Shared, survivable: bool) {
    let Some(data_dir) = shared.data_dir.as_deref() else {
        return;
    };
    // Counted before the mark is written, so the worker's re-check after a removal sees it.
    if survivable {
        shared.survivable_crashes.fetch_add(1, Ordering::AcqRel);
    } else {
        shared.fatal_crash.store(true, Ordering::Release);
    }
    let _ = std::fs::write(crash_mark(data_dir, &shared.run_id), b"");
}

/// Called by the worker on every turn (at least every idle tick): once the process outlived its
/// latest panic record by [`REARM_AFTER`], removes the run's crash mark so a later kill is
/// reported. Never after a platform's crash record (see the module docs).
pub(crate) fn rearm_if_survived(shared: &Shared, state: &mut Rearm) {
    let fatal = shared.fatal_crash.load(Ordering::Acquire);
    let marks = shared.survivable_crashes.load(Ordering::Acquire);
    if !state.due(marks, fatal, Instant::now()) {
        return;
    }
    let Some(data_dir) = shared.data_dir.as_deref() else {
        return;
    };
    let mark = crash_mark(data_dir, &shared.run_id);
    let _ = std::fs::remove_file(&mark);
    // A crash recorded meanwhile may have written its mark before the removal: put it back (a
    // new panic is then re-armed after its own wait).
    if shared.survivable_crashes.load(Ordering::Acquire) != marks
        || shared.fatal_crash.load(Ordering::Acquire)
    {
        let _ = std::fs::write(&mark, b"");
    }
}

impl Rearm {
    /// Whether the crash mark should be removed now, given `marks` panic records so far and
    /// whether a platform crash (`fatal`) was recorded; records the removal as done.
    fn due(&mut self, marks: u64, fatal: bool, now: Instant) -> bool {
        if fatal || marks == self.seen {
            self.pending = None;
            return false;
        }
        // Each new panic record restarts the wait: the process must outlive the latest one.
        match self.pending {
            Some((count, since)) if count == marks => {
                if now.saturating_duration_since(since) < REARM_AFTER {
                    return false;
                }
                self.seen = marks;
                self.pending = None;
                true
            }
            _ => {
                self.pending = Some((marks, now));
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_names_its_run_and_user_and_survives_odd_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(read_running(dir.path()), None);
        write_running(dir.path(), "run-1", "user\nwith newline");
        assert_eq!(
            read_running(dir.path()),
            Some(("run-1".to_owned(), Some("user\nwith newline".to_owned())))
        );
        // An older version's file: a pid only.
        std::fs::write(running_file(dir.path()), b"12345").expect("write");
        assert_eq!(read_running(dir.path()), Some(("12345".to_owned(), None)));
        // Torn UTF-8 (a kill mid-write by an older version) still names the run.
        std::fs::write(running_file(dir.path()), b"run-x\nuser-\xe2\x82").expect("write");
        assert_eq!(
            read_running(dir.path()).map(|r| r.0),
            Some("run-x".to_owned())
        );
        assert!(running_is_ours(dir.path(), "run-x"));
        assert!(!running_is_ours(dir.path(), "run-y"));
    }

    #[test]
    fn crash_marks_are_listed_by_run() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(crash_mark(dir.path(), "a"), b"").expect("write");
        std::fs::write(crash_mark(dir.path(), "b"), b"").expect("write");
        std::fs::write(dir.path().join("crashed"), b"old single-file mark").expect("write");
        let mut runs = crashed_runs(&super::super::file_names(dir.path()));
        runs.sort();
        assert_eq!(runs, ["a", "b"]);
    }

    #[test]
    fn rearm_waits_for_the_latest_panic_and_never_after_a_platform_crash() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut rearm = Rearm::default();
        assert!(!rearm.due(0, false, at(0)), "nothing recorded");
        assert!(!rearm.due(1, false, at(0)), "a panic: the wait starts");
        assert!(!rearm.due(1, false, at(4_500)));
        assert!(
            !rearm.due(2, false, at(4_600)),
            "a second panic restarts the wait"
        );
        assert!(
            !rearm.due(2, false, at(5_600)),
            "5 s after the first, 1 s after the latest"
        );
        assert!(rearm.due(2, false, at(9_700)), "5 s after the latest");
        assert!(!rearm.due(2, false, at(20_000)), "done once");
        assert!(!rearm.due(3, false, at(21_000)));
        assert!(
            !rearm.due(3, true, at(30_000)),
            "a platform crash ends re-arming"
        );
        assert!(!rearm.due(4, true, at(60_000)));
    }
}
