//! The user's consent on the threaded agent: unknown queues (and spools) without sending,
//! granting sends, declining records nothing and forgets the queue, spool files included.

mod agent_support;

use std::time::Duration;

use agent_core::upload::UploadTask;
use agent_core::{Agent, AgentError, Attributes, Consent};
use agent_support::{PATIENCE, events, full_set, pro_flag, pull_all};
use serde_json::Map;

/// Nobody uploads here: shutdown gives up on delivery quickly and keeps the items spooled.
const SHORT: Duration = Duration::from_millis(100);

fn start(consent: Consent, data_dir: Option<&std::path::Path>) -> Agent {
    let mut builder = Agent::builder("sdk-test").consent(consent);
    if let Some(dir) = data_dir {
        builder = builder.data_dir(dir);
    }
    builder.build().expect("agent builds")
}

fn spool_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join(agent_core::crash::SPOOL_DIR)).map_or(0, |d| d.count())
}

#[test]
fn unknown_queues_without_sending_and_granting_sends() {
    let agent = start(Consent::Unknown, None);
    assert_eq!(agent.consent(), Consent::Unknown);
    agent.track("signup", None, Map::new());
    agent.track_error_message("TypeError", "boom", None);
    assert!(matches!(
        agent.flush(PATIENCE),
        Err(AgentError::ConsentNotGranted)
    ));
    assert!(matches!(agent.next_upload(), UploadTask::Wait { .. }));
    agent.set_consent(Consent::Granted);
    let sent = events(&pull_all(&agent));
    let types: Vec<&str> = sent.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["signup", "error"]);
    agent
        .flush(PATIENCE)
        .expect("granted: flush delivers (nothing left)");
}

#[test]
fn declining_forgets_the_queue_and_records_nothing_but_flags_still_evaluate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let agent = start(Consent::Unknown, Some(dir.path()));
    agent
        .apply_flag_changes(&full_set(3, vec![pro_flag(3)]))
        .expect("flags");
    for i in 0..5 {
        agent.track("signup", Some(f64::from(i)), Map::new());
    }
    agent.seal(PATIENCE).expect("sealed");
    assert!(spool_files(dir.path()) > 0, "unknown: spooled");

    agent.set_consent(Consent::Declined);
    let pro = Attributes::new().with("plan", "pro");
    assert_eq!(
        agent.treatment("alice", "new-checkout", &pro).treatment,
        "on"
    );
    agent.track("after.decline", None, Map::new());
    agent
        .record_crash("Panic", "declined users' crashes stay home", None)
        .expect("no error");
    agent.seal(PATIENCE).expect("sealed");
    assert_eq!(spool_files(dir.path()), 0, "the spool was forgotten");
    agent.set_consent(Consent::Granted);
    assert!(
        pull_all(&agent).is_empty(),
        "nothing recorded while declined"
    );
    agent.shutdown(SHORT).expect("shut down");
}

#[test]
fn declining_forgets_crash_records_not_indexed_yet_and_a_declined_start_forgets_the_spool() {
    let dir = tempfile::tempdir().expect("tempdir");
    let agent = start(Consent::Unknown, Some(dir.path()));
    // Written straight to the spool, as the panic hook does, not yet known to the pipeline.
    agent
        .record_crash("Panic", "before the user answered", None)
        .expect("written");
    assert_eq!(spool_files(dir.path()), 1);
    agent.set_consent(Consent::Declined);
    agent.seal(PATIENCE).expect("sealed");
    assert_eq!(spool_files(dir.path()), 0, "the crash record was forgotten");
    agent.set_consent(Consent::Unknown);
    agent.track("kept.on.disk", None, Map::new());
    agent.shutdown(SHORT).expect("kept in the spool");
    assert!(spool_files(dir.path()) > 0);

    // The next run starts declined: what earlier runs kept is forgotten.
    let declined = start(Consent::Declined, Some(dir.path()));
    declined.seal(PATIENCE).expect("sealed");
    assert_eq!(spool_files(dir.path()), 0);
    declined.shutdown(SHORT).expect("nothing to keep");
    // A memory-only agent that was declined lost nothing either.
    let memory = start(Consent::Declined, None);
    memory.track("never.recorded", None, Map::new());
    memory.shutdown(SHORT).expect("declined: nothing was lost");
}

#[test]
fn unknown_items_wait_on_disk_for_a_later_run_that_grants() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = start(Consent::Unknown, Some(dir.path()));
    first.track("queued.before.consent", None, Map::new());
    // Safe on disk, though nothing could be sent.
    first.shutdown(SHORT).expect("kept in the spool");

    let second = start(Consent::Granted, Some(dir.path()));
    let sent = events(&pull_all(&second));
    assert!(
        sent.iter().any(|e| e.event_type == "queued.before.consent"),
        "{sent:?}"
    );
    second.shutdown(SHORT).expect("shut down");
}

#[test]
fn a_decline_granted_again_at_once_still_forgets_what_earlier_runs_kept() {
    for declined_start in [false, true] {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = start(Consent::Unknown, Some(dir.path()));
        first.track("kept.before.decline", None, Map::new());
        first.shutdown(SHORT).expect("kept in the spool");

        // Declined (at start, or right after it) and granted again before the worker looked.
        let second = start(
            if declined_start {
                Consent::Declined
            } else {
                Consent::Unknown
            },
            Some(dir.path()),
        );
        if !declined_start {
            second.set_consent(Consent::Declined);
        }
        second.set_consent(Consent::Granted);
        let sent = events(&pull_all(&second));
        assert!(
            sent.iter().all(|e| e.event_type != "kept.before.decline"),
            "declined start {declined_start}: {sent:?}"
        );
        second.shutdown(SHORT).expect("shut down");
    }
}
