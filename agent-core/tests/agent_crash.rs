//! Crashes: the panic hook writes a crash record that the next start uploads.

mod agent_support;

use std::process::Command;

use agent_core::Agent;
use agent_core::crash::{RUNNING_FILE, THREAD_NAME, UNCLEAN_SHUTDOWN};
use agent_support::{PATIENCE, events, pull_all};

const CHILD_DIR_VAR: &str = "AGENT_CRASH_TEST_DIR";
const PREVIOUS_HOOK_MARKER: &str = "previous-hook-called";
const GONE_DIR: &str = "gone-agent";

/// The child process of `panic_hook_crash_is_sent_at_next_start` (ignored when run directly).
#[test]
#[ignore = "run as a child process by panic_hook_crash_is_sent_at_next_start"]
fn crash_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR_VAR) else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let marker = dir.join(PREVIOUS_HOOK_MARKER);
    std::panic::set_hook(Box::new(move |info| {
        eprintln!("previous hook: {info}");
        std::fs::write(&marker, b"yes").expect("write marker");
    }));
    // An agent that is gone by the time of the panic: its hook must record nothing.
    let gone = Agent::builder("sdk-test")
        .data_dir(dir.join(GONE_DIR))
        .build()
        .expect("agent");
    gone.install_panic_hook();
    gone.shutdown(PATIENCE).expect("shutdown");
    drop(gone);
    let agent = Agent::builder("sdk-test")
        .data_dir(&dir)
        .build()
        .expect("agent");
    agent.identify("crasher");
    agent.install_panic_hook();
    agent.install_panic_hook();
    explode_in_checkout();
}

#[inline(never)]
fn explode_in_checkout() {
    panic!("boom 42");
}

#[test]
fn panic_hook_crash_is_sent_at_next_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Output captured so the child's own "FAILED" report does not mix into this run's.
    let child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "crash_child", "--nocapture", "--ignored"])
        .env(CHILD_DIR_VAR, dir.path())
        .output()
        .expect("child runs");
    let stderr = String::from_utf8_lossy(&child.stderr);
    assert!(!child.status.success(), "the child panicked: {stderr}");
    assert!(stderr.contains("previous hook: "), "{stderr}");
    assert!(stderr.contains("boom 42"), "{stderr}");
    assert!(
        dir.path().join(PREVIOUS_HOOK_MARKER).exists(),
        "the previous hook was chained"
    );

    let agent = Agent::builder("sdk-test")
        .data_dir(dir.path())
        .build()
        .expect("agent");
    let events = events(&pull_all(&agent));
    let crashes: Vec<_> = events.iter().filter(|e| e.event_type == "crash").collect();
    assert_eq!(
        crashes.len(),
        1,
        "one crash although the hook was installed twice: {events:?}"
    );
    let crash = crashes[0];
    assert_eq!(crash.key, "crasher");
    assert_eq!(crash.properties["exception.type"], "panic");
    let message = crash.properties["exception.message"]
        .as_str()
        .expect("message");
    assert!(message.starts_with("boom 42 at "), "{message}");
    assert!(message.contains("agent_crash.rs"), "{message}");
    let stack = crash.properties["exception.stacktrace"]
        .as_str()
        .expect("stack");
    assert!(stack.contains("explode_in_checkout"), "{stack}");
    // libtest runs each test on a thread named after it.
    assert_eq!(crash.properties[THREAD_NAME], "crash_child");
    let gone = Agent::builder("sdk-test")
        .data_dir(dir.path().join(GONE_DIR))
        .build()
        .expect("agent");
    assert!(
        events_of(&gone).iter().all(|e| e.event_type != "crash"),
        "the hook of a dropped agent recorded the panic"
    );
    gone.shutdown(PATIENCE).expect("shutdown");
    assert!(
        events.iter().all(|e| e.event_type != UNCLEAN_SHUTDOWN),
        "a recorded crash is not also an unclean shutdown"
    );
    agent.shutdown(PATIENCE).expect("shutdown");
}

#[test]
fn recorded_crash_of_a_platform_is_sent_at_next_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = Agent::builder("sdk-test")
        .data_dir(dir.path())
        .build()
        .expect("agent");
    agent.identify("android-user");
    agent
        .record_crash_on_thread(
            "java.lang.OutOfMemoryError",
            "heap exhausted",
            Some("at A.b(A.java:1)".into()),
            Some("image-decoder"),
        )
        .expect("written synchronously");
    agent.shutdown(PATIENCE).expect("shutdown");

    let restarted = Agent::builder("sdk-test")
        .data_dir(dir.path())
        .build()
        .expect("agent");
    let events = events(&pull_all(&restarted));
    let crash = events
        .iter()
        .find(|e| e.event_type == "crash")
        .expect("crash uploaded");
    assert_eq!(crash.key, "android-user");
    assert_eq!(
        crash.properties["exception.type"],
        "java.lang.OutOfMemoryError"
    );
    assert_eq!(crash.properties["exception.message"], "heap exhausted");
    assert_eq!(crash.properties["exception.stacktrace"], "at A.b(A.java:1)");
    assert_eq!(crash.properties[THREAD_NAME], "image-decoder");
    restarted.shutdown(PATIENCE).expect("shutdown");
}

#[test]
fn a_run_that_ended_without_shutdown_is_reported() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join(RUNNING_FILE), b"12345").expect("dirty flag of a killed run");
    let agent = Agent::builder("sdk-test")
        .data_dir(dir.path())
        .build()
        .expect("agent");
    let events = events(&pull_all(&agent));
    assert_eq!(
        events
            .iter()
            .filter(|e| e.event_type == UNCLEAN_SHUTDOWN)
            .count(),
        1,
        "{events:?}"
    );
    agent.shutdown(PATIENCE).expect("shutdown");
    assert!(
        !dir.path().join(RUNNING_FILE).exists(),
        "a clean shutdown clears the flag"
    );

    let again = Agent::builder("sdk-test")
        .data_dir(dir.path())
        .build()
        .expect("agent");
    assert!(
        events_of(&again)
            .iter()
            .all(|e| e.event_type != UNCLEAN_SHUTDOWN)
    );
    again.shutdown(PATIENCE).expect("shutdown");
}

fn events_of(agent: &Agent) -> Vec<agent_core::wire::Event> {
    events(&pull_all(agent))
}
