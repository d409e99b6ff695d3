//! How the hang watchdog times a hang: from the main thread's last answer, and not across time
//! in the background. A threshold of two seconds, so the watchdog looks every 200 ms and the
//! cases have 100 ms of room on a loaded machine.

mod agent_support;
mod hang_support;

use std::time::Duration;

use agent_core::Agent;
use agent_support::{PATIENCE, events, pull_all};
use hang_support::Main;

const THRESHOLD: Duration = Duration::from_secs(2);

/// An agent watching `main`'s hangs (armed once this returns) and its main thread.
fn watched() -> (Agent, std::sync::Arc<Main>) {
    let agent = Agent::builder("sdk-test").build().expect("agent");
    let main = Main::start(&agent);
    agent
        .watch_hangs(main.clone(), THRESHOLD)
        .expect("watching");
    main.run_and_wait(|| {});
    std::thread::sleep(THRESHOLD / 2); // the first tick answered: armed
    (agent, main)
}

fn hangs(agent: &Agent) -> usize {
    let found = events(&pull_all(agent))
        .iter()
        .filter(|e| e.event_type == "error")
        .count();
    agent.shutdown(PATIENCE).expect("shutdown");
    found
}

/// A tick answered late (the main thread busy 180 ms first), then a block of 0.95 times the
/// threshold right behind the answer: the main thread never went a threshold without answering,
/// so no hang. Timed from the tick's post instead, one look earlier than the answer, it counted.
#[test]
fn a_block_under_the_threshold_right_behind_a_late_answer_is_no_hang() {
    let (agent, main) = watched();
    *main.before_answer.lock().expect("before answer") =
        Some(Box::new(main.blocking("busy", Duration::from_millis(180))));
    *main.after_answer.lock().expect("after answer") =
        Some(Box::new(main.blocking("nearlyHung", THRESHOLD * 95 / 100)));
    std::thread::sleep(THRESHOLD * 2);
    assert_eq!(hangs(&agent), 0);
}

/// A tick posted behind a long block, the app sent to the background and brought back before
/// the block ends: only the time back in the foreground counts, under the threshold here.
#[test]
fn time_in_the_background_is_not_counted_into_a_hang() {
    let (agent, main) = watched();
    main.run(main.blocking("longJob", THRESHOLD * 3));
    std::thread::sleep(THRESHOLD / 5); // a tick goes out behind the job
    agent.set_in_background(true);
    std::thread::sleep(THRESHOLD * 2);
    agent.set_in_background(false);
    main.run_and_wait(|| {}); // the job ends 0.6 thresholds later
    std::thread::sleep(THRESHOLD);
    assert_eq!(hangs(&agent), 0);
}
