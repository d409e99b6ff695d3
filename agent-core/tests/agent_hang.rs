//! The hang watchdog (`Agent::watch_hangs`) against a main thread of the test's own: a thread
//! running posted closures in order, as Android's looper and iOS's main queue do.

mod agent_support;
mod hang_support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use agent_core::Agent;
use agent_support::{PATIENCE, events, pull_all};
use hang_support::Main;

/// The threshold the tests watch with: three looks of the watchdog's (it looks every half).
const THRESHOLD: Duration = Duration::from_millis(300);

/// One hang reported for a block of twice the threshold, and one for a block of 1.3 times it
/// that starts right behind a tick's answer (timed from the answer, not from the next tick);
/// none for a block of twice the threshold at the start (before the main thread first
/// answered), in the background, with a debugger, nor for a block of half the threshold. The
/// blocks that must not count come after one that does, so a watchdog that looked at all has
/// shown it sees a block that long. A zero threshold, a second
/// watchdog and a shut-down agent are refused; the watchdog ends with the agent. (One test: the
/// watchdog's thread is looked for by name.)
#[test]
fn a_hang_of_the_main_thread_is_one_error_with_its_stack() {
    let dir = tempfile::tempdir().expect("data dir");
    let spool = dir.path().join(agent_core::crash::SPOOL_DIR);
    let agent = Agent::builder("sdk-test")
        .data_dir(dir.path())
        // Nothing sealed by time within the test: what is on disk, the watchdog sealed.
        .flush_interval(Duration::from_secs(600))
        .build()
        .expect("agent");
    agent.identify("hang-user").expect("key");
    let main = Main::start(&agent);
    main.run(main.blocking("startup", THRESHOLD * 2)); // a slow start: before the watchdog
    let refused = agent
        .watch_hangs(main.clone(), Duration::ZERO)
        .expect_err("zero threshold");
    assert!(refused.to_string().contains("hang_threshold"), "{refused}");
    agent
        .watch_hangs(main.clone(), THRESHOLD)
        .expect("watching");
    let again = agent
        .watch_hangs(main.clone(), THRESHOLD)
        .expect_err("a second watchdog");
    assert!(again.to_string().contains("already watched"), "{again}");
    main.run_and_wait(|| {});
    std::thread::sleep(THRESHOLD); // the first tick answered: armed
    let spooled = || std::fs::read_dir(&spool).map_or(0, |files| files.count());
    assert_eq!(spooled(), 0);
    main.run_and_wait(main.blocking("slowPay", THRESHOLD * 2));
    // A hang often ends in a kill: its report is on disk at once, not at the next seal.
    let deadline = std::time::Instant::now() + PATIENCE;
    while spooled() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the hang never reached the spool"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(THRESHOLD);
    agent.set_in_background(true);
    main.run_and_wait(main.blocking("inBackground", THRESHOLD * 2));
    // In the background the main thread is not woken.
    std::thread::sleep(THRESHOLD); // the tick of before is answered, none goes out
    let posts = main.posts.load(Ordering::Acquire);
    std::thread::sleep(THRESHOLD * 2);
    assert_eq!(
        main.posts.load(Ordering::Acquire),
        posts,
        "no ticks in the background"
    );
    agent.set_in_background(false);
    std::thread::sleep(THRESHOLD);
    main.debugger.store(true, Ordering::Release);
    main.run_and_wait(main.blocking("debugged", THRESHOLD * 2));
    main.debugger.store(false, Ordering::Release);
    std::thread::sleep(THRESHOLD);
    main.run_and_wait(main.blocking("halfPay", THRESHOLD / 2));
    std::thread::sleep(THRESHOLD);
    *main.after_answer.lock().expect("after answer") =
        Some(Box::new(main.blocking("tightPay", THRESHOLD * 13 / 10)));
    std::thread::sleep(THRESHOLD * 3);

    let hangs: Vec<_> = events(&pull_all(&agent))
        .into_iter()
        .filter(|e| e.event_type == "error")
        .collect();
    // Each hang by the frame that held the main thread.
    let frames: Vec<_> = hangs
        .iter()
        .filter_map(|e| {
            e.properties["exception.stacktrace"]
                .as_str()?
                .lines()
                .nth(1)
        })
        .collect();
    assert_eq!(
        frames,
        [
            "\tat Checkout.slowPay(Checkout.java:42)",
            "\tat Checkout.tightPay(Checkout.java:42)"
        ]
    );
    let hang = &hangs[0];
    assert_eq!(hang.key, "hang-user");
    assert_eq!(
        hang.properties["exception.type"],
        "ApplicationNotResponding"
    );
    assert_eq!(
        hang.properties["exception.message"],
        "the main thread did not respond for 300 ms"
    );
    assert_eq!(
        hang.properties["exception.stacktrace"],
        "ApplicationNotResponding: the main thread did not respond for 300 ms\n\
         \tat Checkout.slowPay(Checkout.java:42)\n\tat Looper.loop(Looper.java:1)\n"
    );
    agent.shutdown(PATIENCE).expect("shutdown");
    let watchdog_gone = || {
        !std::fs::read_dir("/proc/self/task")
            .expect("tasks")
            .flatten()
            .any(|task| {
                std::fs::read_to_string(task.path().join("comm"))
                    .is_ok_and(|name| name.trim() == "rum-hang-watchd")
            })
    };
    assert!(watchdog_gone(), "the watchdog ends with the agent");
    assert!(agent.watch_hangs(main, THRESHOLD).is_err(), "shut down");
}
