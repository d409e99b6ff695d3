//! The iOS agent's fatal-signal handlers (C, `swift/Sources/RumCrashSignals`), compiled for this
//! machine and run in processes that crash the ways an app dies: the marker holds the signal,
//! the process still dies of it (or the app's own earlier handler runs), a stack overflow is
//! caught on the alternate stack, and a second setup does not make the handler call itself.
#![cfg(unix)]

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Builds tests/signals/crash.c with the handlers; the C compiler Rust links with (`cc`).
fn build(out: &Path) -> PathBuf {
    let sources = crate_dir().join("swift/Sources/RumCrashSignals");
    let exe = out.join("crash");
    let status = Command::new("cc")
        .args([
            "-O0",
            "-g",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-Wno-infinite-recursion",
            "-I",
        ])
        .arg(sources.join("include"))
        .arg(sources.join("rum_crash_signals.c"))
        .arg(crate_dir().join("tests/signals/crash.c"))
        .arg("-o")
        .arg(&exe)
        .status()
        .expect("cc runs");
    assert!(status.success(), "cc failed");
    exe
}

fn run(exe: &Path, args: &[&Path], mode: &str) -> (ExitStatus, String) {
    let out = Command::new(exe)
        .arg(mode)
        .args(args)
        .output()
        .expect("crash runs");
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The signal numbers written to `marker` (native-endian ints).
fn marked(marker: &Path) -> Vec<i32> {
    std::fs::read(marker)
        .expect("marker")
        .chunks_exact(4)
        .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

#[test]
fn fatal_signals_are_marked_and_still_end_the_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = build(dir.path());
    let marker = dir.path().join("marker");

    let (status, _) = run(&exe, &[&marker], "abort");
    assert_eq!(status.signal(), Some(libc_signal::SIGABRT), "{status:?}");
    assert_eq!(marked(&marker), [libc_signal::SIGABRT]);

    // Unbounded recursion: only a handler on the alternate stack can write the marker.
    let (status, _) = run(&exe, &[&marker], "overflow");
    assert_eq!(status.signal(), Some(libc_signal::SIGSEGV), "{status:?}");
    assert_eq!(marked(&marker), [libc_signal::SIGSEGV]);

    // The app's handler, installed before ours, still gets the fault.
    let (status, out) = run(&exe, &[&marker], "segv-chained");
    assert_eq!(status.code(), Some(42), "{status:?}");
    assert!(out.contains("app handler ran"), "{out}");
    assert_eq!(marked(&marker), [libc_signal::SIGSEGV]);

    // A second setup: the new run's marker only, and no handler calling itself.
    let second = dir.path().join("marker2");
    let (status, _) = run(&exe, &[&marker, &second], "twice");
    assert_eq!(status.signal(), Some(libc_signal::SIGSEGV), "{status:?}");
    assert_eq!(marked(&marker), Vec::<i32>::new());
    assert_eq!(marked(&second), [libc_signal::SIGSEGV]);

    // After the agent's shutdown: the process still dies of the signal, nothing is marked.
    let (status, _) = run(&exe, &[&marker], "disarmed");
    assert_eq!(status.signal(), Some(libc_signal::SIGSEGV), "{status:?}");
    assert_eq!(marked(&marker), Vec::<i32>::new());
}

/// The two signal numbers the checks name (the same on Linux and Darwin).
mod libc_signal {
    pub const SIGABRT: i32 = 6;
    pub const SIGSEGV: i32 = 11;
}
