//! Why earlier processes ended, as the operating system tells it (Android 11+'s
//! `ApplicationExitInfo`), and what that makes of a run that ended without a clean shutdown.
//!
//! Without it a start only knows that a run ended uncleanly, and guesses: an unclean shutdown
//! when the run was in the foreground, nothing in the background. The OS knows better, and a
//! platform passes what it says to the builder (`AgentBuilder::process_exits`):
//! - an ANR or a native crash is a crash, in the background too (a crash-class event that
//!   counts against the user's treatments; an ANR's main-thread stack comes from the OS's dump);
//! - a managed crash its handler did not record (another handler replaced ours) is a crash;
//! - a force stop, an update, a revoked permission or the app's own exit is no failure at all;
//! - anything else (a kill for memory, a signal) is judged by the usual rule, its reason sent
//!   with the unclean shutdown as `exit.reason`.
//!
//! An exit is a run's when the process tagged itself with the run's id ([`Agent::run_id`]; on
//! Android the process state summary, which the OS keeps in the exit's record). Untagged exits
//! (a tag that failed, an older version) are matched by the pid and the start on the wall clock
//! that the run's live file holds: an exit of that pid after the run's start, the earliest (pids
//! are reused), and of the run's process name when both the file and the exit name one (a later
//! process of the app without the agent may be given the pid again). A tagged exit of another
//! run is never this run's, whatever its pid.

use std::path::Path;

use base64::Engine;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::agent::Agent;
use crate::agent::events::error_properties;

/// Property naming the OS's reason a process ended (Android's `REASON_` constant's name).
pub const EXIT_REASON: &str = "exit.reason";
/// `exception.type` of a crash known from the OS's report that the app stopped responding.
pub const NOT_RESPONDING_TYPE: &str = "ApplicationNotResponding";
/// `exception.type` of a crash in native code known from the OS's report.
pub const NATIVE_CRASH_TYPE: &str = "NativeCrash";
/// `exception.type` of a managed crash known only from the OS's report.
pub const UNRECORDED_CRASH_TYPE: &str = "UncaughtException";

/// Why a process ended, in the terms the agent acts on (a platform maps its OS's reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitReason {
    /// The system ended it because it stopped responding (Android's ANR): a crash.
    NotResponding,
    /// It crashed in native code: a crash.
    NativeCrash,
    /// It crashed in the managed runtime: a crash, unless its handler already recorded it.
    Crash,
    /// The user or the system ended it for a reason that says nothing about the app's health:
    /// a force stop, an update, a permission revoked, the app's own exit. Not reported.
    Requested,
    /// Anything else (a kill for memory, a signal): judged as if the OS had said nothing.
    Other,
}

/// How one earlier process of the app ended, as the OS reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ProcessExit {
    /// Its process id.
    pub pid: u32,
    /// When it ended, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// Why, in the agent's terms.
    pub reason: ExitReason,
    /// The OS's name for the reason (Android: `anr`, `low_memory`…), sent as [`EXIT_REASON`].
    pub name: String,
    /// The OS's description of the end, if any (Android: "Input dispatching timed out…").
    #[serde(default)]
    pub description: Option<String>,
    /// The thread dump the OS took when the app stopped responding (Android's ANR trace).
    #[serde(default)]
    pub trace: Option<String>,
    /// A native crash's tombstone (Android 12+: the protobuf `Tombstone`, base64), whose signal,
    /// abort message and crashing thread's frames become the crash's message and stack.
    #[serde(default)]
    pub tombstone: Option<String>,
    /// The run id the process tagged itself with (see [`Agent::run_id`]), when it did.
    #[serde(default)]
    pub run: Option<String>,
    /// The process's name (Android: `com.example.app:remote`), when the OS gives it.
    #[serde(default)]
    pub process: Option<String>,
}

impl Agent {
    /// This run's id (one per built agent): what a platform tags its process with where the OS
    /// keeps a tag in its exit records (Android 11's `setProcessStateSummary`), so that
    /// [`ProcessExit::run`] names the run exactly.
    pub fn run_id(&self) -> &str {
        &self.shared().run_id
    }
}

/// The process a run ran in, as its live file keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunProcess {
    pub(crate) pid: u32,
    /// The run's start, in milliseconds since the Unix epoch.
    pub(crate) started_ms: i64,
    /// The process's name, when the platform gave it (see `AgentBuilder::process_name`).
    pub(crate) name: Option<String>,
}

impl RunProcess {
    /// This process, named `name`, starting now on the real wall clock: the OS dates exits on
    /// it, whatever clock the agent was given.
    pub(crate) fn current(name: Option<&str>) -> RunProcess {
        RunProcess {
            pid: std::process::id(),
            started_ms: crate::clock::Clock::now_ms(&crate::clock::SystemClock),
            name: name.map(str::to_owned),
        }
    }

    /// The text a live file holds: `pid start_ms[ name]`.
    pub(crate) fn to_text(&self) -> String {
        match &self.name {
            Some(name) => format!("{} {} {name}", self.pid, self.started_ms),
            None => format!("{} {}", self.pid, self.started_ms),
        }
    }

    /// Reads [`RunProcess::to_text`]; None for anything else (an older version's empty file).
    /// The name is taken as written, spaces and all, to compare with the OS's.
    pub(crate) fn parse(text: &str) -> Option<RunProcess> {
        let mut parts = text.splitn(3, ' ');
        Some(RunProcess {
            pid: parts.next()?.trim().parse().ok()?,
            started_ms: parts.next()?.trim().parse().ok()?,
            name: parts
                .next()
                .filter(|name| !name.is_empty())
                .map(str::to_owned),
        })
    }

    /// Whether `exit`, untagged, may be this process's end: its pid, after the start, and of
    /// this name when both name one.
    fn may_have_ended_in(&self, exit: &ProcessExit) -> bool {
        let other_name = matches!((&self.name, &exit.process), (Some(a), Some(b)) if a != b);
        exit.run.is_none() && exit.pid == self.pid && exit.at_ms >= self.started_ms && !other_name
    }

    /// The exit of `run`, whose process this was, among `exits` (see the module docs).
    pub(crate) fn exit_in<'e>(
        run: &str,
        process: Option<&RunProcess>,
        exits: &'e [ProcessExit],
    ) -> Option<&'e ProcessExit> {
        exit_index(run, process, exits).map(|i| &exits[i])
    }
}

/// Where [`RunProcess::exit_in`] finds `run`'s exit in `exits`.
fn exit_index(run: &str, process: Option<&RunProcess>, exits: &[ProcessExit]) -> Option<usize> {
    if let Some(tagged) = exits.iter().position(|e| e.run.as_deref() == Some(run)) {
        return Some(tagged);
    }
    let process = process?;
    exits
        .iter()
        .enumerate()
        .filter(|(_, e)| process.may_have_ended_in(e))
        .min_by_key(|(_, e)| e.at_ms)
        .map(|(i, _)| i)
}

/// The indexes of the `exits` of runs of `data_dir` that ended without a clean shutdown nor a
/// crash record and that no start reported yet: the ones a start on it will judge. A platform
/// reads what is costly to read (an ANR's dump, a tombstone) only for these, before it builds
/// the agent.
pub fn exits_of_unended_runs(data_dir: &Path, exits: &[ProcessExit]) -> Vec<usize> {
    let mut found: Vec<usize> = super::dirty_flag::unended_runs(data_dir)
        .iter()
        .filter_map(|(run, process)| exit_index(run, process.as_ref(), exits))
        .collect();
    found.sort_unstable();
    found.dedup();
    found
}

/// The crash an exit stands for, as `crash` event properties; None for an exit that is no crash.
pub(crate) fn crash_properties(exit: &ProcessExit) -> Option<Map<String, Value>> {
    let (error_type, default_message) = match exit.reason {
        ExitReason::NotResponding => (NOT_RESPONDING_TYPE, "the app stopped responding"),
        ExitReason::NativeCrash => (NATIVE_CRASH_TYPE, "a crash in native code"),
        ExitReason::Crash => (UNRECORDED_CRASH_TYPE, "an uncaught exception"),
        ExitReason::Requested | ExitReason::Other => return None,
    };
    let tombstone = exit
        .tombstone
        .as_deref()
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|bytes| super::tombstone::read(&bytes));
    let described = || {
        exit.description
            .clone()
            .filter(|d| !d.trim().is_empty())
            .unwrap_or_else(|| default_message.to_owned())
    };
    let (message, stack) = match tombstone {
        Some(crash) => (crash.message, crash.stack),
        None => (described(), exit.trace.as_deref().and_then(main_thread)),
    };
    let mut properties = error_properties(error_type.to_owned(), message, stack);
    properties.insert(EXIT_REASON.into(), exit.name.clone().into());
    Some(properties)
}

/// The main thread's part of an ANR thread dump: its `"main" prio=… tid=1 …` header (thread 1,
/// whatever the app named it) and the lines after it up to the next blank line (the dump
/// separates threads with one).
pub(crate) fn main_thread(trace: &str) -> Option<String> {
    let mut lines = trace
        .lines()
        .skip_while(|l| !(l.starts_with('"') && l.contains(" tid=1 ")));
    let header = lines.next()?;
    let mut text = header.to_owned();
    for line in lines.take_while(|l| !l.trim().is_empty()) {
        text.push('\n');
        text.push_str(line);
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The head of a dump as Android writes it (`/data/anr/`, `getTraceInputStream`).
    const DUMP: &str = "\n----- pid 4242 at 2026-12-07 10:00:00.123456789+0000 -----\n\
Cmd line: com.example.app\n\
Build fingerprint: 'google/sdk_gphone64/emu64:14/UE1A/1:user/release-keys'\n\
\n\
DALVIK THREADS (3):\n\
\"Signal Catcher\" daemon prio=10 tid=2 Runnable\n\
  | group=\"system\" sCount=0 ucsCount=0 flags=0 obj=0x12c80000 self=0x7c0c6000\n\
  native: #00 pc 000000000054a3b8  /apex/com.android.art/lib64/libart.so\n\
\n\
\"main\" prio=5 tid=1 Sleeping\n\
  | group=\"main\" sCount=1 ucsCount=0 flags=1 obj=0x72b3a4a8 self=0x7c0c1000\n\
  | sysTid=4242 nice=-10 cgrp=top-app sched=0/0 handle=0x7d8f14f8\n\
  at java.lang.Thread.sleep(Native method)\n\
  - sleeping on <0x0b3c1b7e> (a java.lang.Object)\n\
  at java.lang.Thread.sleep(Thread.java:450)\n\
  at com.example.app.CheckoutActivity.onClick(CheckoutActivity.java:42)\n\
  at android.view.View.performClick(View.java:7659)\n\
\n\
\"FinalizerDaemon\" daemon prio=5 tid=3 Waiting\n\
  at java.lang.Object.wait(Native method)\n\
\n\
----- end 4242 -----\n";

    fn exit(pid: u32, at_ms: i64, reason: ExitReason) -> ProcessExit {
        ProcessExit {
            pid,
            at_ms,
            reason,
            name: "anr".into(),
            description: None,
            trace: None,
            tombstone: None,
            run: None,
            process: None,
        }
    }

    #[test]
    fn the_main_thread_is_cut_from_the_dump() {
        let main = main_thread(DUMP).expect("a main thread");
        assert!(
            main.starts_with("\"main\" prio=5 tid=1 Sleeping\n"),
            "{main}"
        );
        assert!(
            main.ends_with("at android.view.View.performClick(View.java:7659)"),
            "{main}"
        );
        assert!(!main.contains("Signal Catcher") && !main.contains("FinalizerDaemon"));
        assert_eq!(
            main_thread("no threads here\n\"main\" tid=14 Native\n"),
            None
        );
        let renamed = DUMP.replace("\"main\" prio=5", "\"ui-loop\" prio=5");
        let main = main_thread(&renamed).expect("thread 1");
        assert!(
            main.starts_with("\"ui-loop\" prio=5 tid=1 Sleeping\n"),
            "{main}"
        );
    }

    #[test]
    fn a_runs_exit_is_the_first_of_its_pid_since_its_start() {
        let run = RunProcess {
            pid: 7,
            started_ms: 1_000,
            name: None,
        };
        let exits = [
            exit(7, 900, ExitReason::Requested), // an earlier process with that pid
            exit(8, 1_500, ExitReason::Requested), // another process
            exit(7, 3_000, ExitReason::Other),   // a later process given the pid again
            exit(7, 2_000, ExitReason::NotResponding),
        ];
        let found = RunProcess::exit_in("r", Some(&run), &exits).expect("an exit");
        assert_eq!(
            (found.at_ms, found.reason),
            (2_000, ExitReason::NotResponding)
        );
        assert_eq!(RunProcess::exit_in("r", Some(&run), &exits[..2]), None);
        assert_eq!(RunProcess::exit_in("r", None, &exits), None);
    }

    #[test]
    fn an_exit_of_another_process_name_is_not_the_runs() {
        let run = RunProcess {
            pid: 7,
            started_ms: 1_000,
            name: Some("com.example.app".into()),
        };
        let named = |at_ms, reason, name: Option<&str>| ProcessExit {
            process: name.map(str::to_owned),
            ..exit(7, at_ms, reason)
        };
        // The run's own exit dropped out of the OS's records; a process of the app without the
        // agent was given its pid.
        let remote = named(
            2_000,
            ExitReason::NotResponding,
            Some("com.example.app:remote"),
        );
        assert_eq!(
            RunProcess::exit_in("r", Some(&run), std::slice::from_ref(&remote)),
            None
        );
        let own = named(3_000, ExitReason::NativeCrash, Some("com.example.app"));
        let exits = [remote.clone(), own];
        let found = RunProcess::exit_in("r", Some(&run), &exits).expect("the run's exit");
        assert_eq!(found.reason, ExitReason::NativeCrash);
        // A name on one side only does not rule an exit out.
        let unnamed = named(2_000, ExitReason::NotResponding, None);
        assert!(RunProcess::exit_in("r", Some(&run), &[unnamed]).is_some());
        let older_file = RunProcess { name: None, ..run };
        assert!(RunProcess::exit_in("r", Some(&older_file), &[remote]).is_some());
    }

    #[test]
    fn a_tag_names_the_run_whatever_the_pid() {
        let run = RunProcess {
            pid: 7,
            started_ms: 1_000,
            name: None,
        };
        let mut other_run = exit(7, 2_000, ExitReason::NativeCrash);
        other_run.run = Some("other".into());
        let mut tagged = exit(9, 500, ExitReason::NotResponding);
        tagged.run = Some("r".into());
        // Another run's tagged exit is not this run's, though pid and time fit.
        assert_eq!(
            RunProcess::exit_in("r", Some(&run), &[other_run.clone()]),
            None
        );
        let exits = [other_run, tagged];
        let found = RunProcess::exit_in("r", Some(&run), &exits).expect("the tagged exit");
        assert_eq!(found.reason, ExitReason::NotResponding);
        let found = RunProcess::exit_in("r", None, &exits).expect("without a live file's process");
        assert_eq!(found.pid, 9);
    }

    #[test]
    fn a_live_files_text_reads_back() {
        let run = RunProcess {
            pid: 31_337,
            started_ms: 1_765_000_000_123,
            name: None,
        };
        assert_eq!(RunProcess::parse(&run.to_text()), Some(run.clone()));
        for name in [
            "com.example.app:sync worker",
            "com.example.app:x\n",
            " app ",
        ] {
            let named = RunProcess {
                name: Some(name.into()),
                ..run.clone()
            };
            assert_eq!(RunProcess::parse(&named.to_text()), Some(named));
        }
        assert_eq!(RunProcess::parse(""), None);
        assert_eq!(RunProcess::parse("12"), None);
        assert_eq!(RunProcess::parse("x 12"), None);
    }

    #[test]
    fn only_crash_reasons_make_crashes() {
        let mut anr = exit(1, 1, ExitReason::NotResponding);
        anr.description = Some("Input dispatching timed out".into());
        anr.trace = Some(DUMP.into());
        let properties = crash_properties(&anr).expect("a crash");
        assert_eq!(properties["exception.type"], NOT_RESPONDING_TYPE);
        assert_eq!(
            properties["exception.message"],
            "Input dispatching timed out"
        );
        assert_eq!(properties[EXIT_REASON], "anr");
        let stack = properties["exception.stacktrace"].as_str().expect("stack");
        assert!(stack.contains("CheckoutActivity.onClick"), "{stack}");
        let native = crash_properties(&exit(1, 1, ExitReason::NativeCrash)).expect("a crash");
        assert_eq!(native["exception.type"], NATIVE_CRASH_TYPE);
        assert_eq!(native["exception.message"], "a crash in native code");
        assert!(native.get("exception.stacktrace").is_none());
        let mut tombstoned = exit(1, 1, ExitReason::NativeCrash);
        // A 32-bit ARM SIGSEGV at 0 (see `tombstone`'s tests).
        tombstoned.tombstone = Some("ME1SHAgLEgdTSUdTRUdWGAEiC1NFR1ZfTUFQRVJSQAGCAScITRIjCE0SBG1haW4iGQjv/QIyEy9zeXN0ZW0vbGliL2xpYmMuc28=".into());
        let native = crash_properties(&tombstoned).expect("a crash");
        assert_eq!(native["exception.type"], NATIVE_CRASH_TYPE);
        assert_eq!(
            native["exception.message"],
            "signal 11 (SIGSEGV), code 1 (SEGV_MAPERR), fault addr 0x0"
        );
        assert_eq!(
            native["exception.stacktrace"],
            "\"main\" tid=77\n#00 pc 0000beef  /system/lib/libc.so"
        );
        tombstoned.tombstone = Some("not base64!".into());
        let native = crash_properties(&tombstoned).expect("a crash");
        assert_eq!(native["exception.message"], "a crash in native code");
        assert!(crash_properties(&exit(1, 1, ExitReason::Requested)).is_none());
        assert!(crash_properties(&exit(1, 1, ExitReason::Other)).is_none());
    }
}
