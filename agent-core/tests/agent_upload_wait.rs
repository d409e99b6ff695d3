//! `Agent::wait_for_upload_work`: a platform's upload thread sleeps until a batch joins the upload
//! queue (no flush needed), a flush asks, or the agent stops; a wake-up between its pull and its
//! wait is not lost; with nothing to do it answers false after the timeout.

mod agent_support;

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use agent_core::Agent;
use agent_core::clock::{Clock, SystemClock};
use agent_core::upload::UploadTask;
use agent_support::{PATIENCE, decode};
use serde_json::Map;

/// No collector: nothing but the test pulls; batches seal at 3 items, never by age.
fn agent() -> Agent {
    Agent::builder("sdk-key")
        .max_batch_items(3)
        .flush_interval(Duration::from_secs(3600))
        .build()
        .expect("agent")
}

fn track(agent: &Agent, n: usize) {
    for i in 0..n {
        agent.track(&format!("wait.test{i}"), None, Map::new());
    }
}

fn is_wait(task: &UploadTask) -> bool {
    matches!(task, UploadTask::Wait { .. })
}

#[test]
fn nothing_to_do_answers_false_after_the_timeout() {
    let agent = agent();
    assert!(is_wait(&agent.next_upload()));
    assert!(!agent.wait_for_upload_work(Duration::from_millis(50)));
    // Tracked items below the batch size are not upload work yet.
    track(&agent, 2);
    agent.stats().expect("stats"); // the worker has taken both
    assert!(!agent.wait_for_upload_work(Duration::from_millis(50)));
}

#[test]
fn a_full_batch_wakes_a_waiting_thread_without_any_flush() {
    let agent = agent();
    assert!(is_wait(&agent.next_upload()));
    let waiter = {
        let agent = agent.clone();
        std::thread::spawn(move || agent.wait_for_upload_work(PATIENCE))
    };
    track(&agent, 3);
    assert!(
        waiter.join().expect("waiter"),
        "not woken by a sealed batch"
    );
    match agent.next_upload() {
        UploadTask::Upload(request) => {
            let batch = decode(&request.headers, &request.body);
            assert_eq!(batch.events.len(), 3);
        }
        other => panic!("want the sealed batch, got {other:?}"),
    }
}

#[test]
fn a_wake_between_the_pull_and_the_wait_is_not_lost() {
    let agent = agent();
    assert!(is_wait(&agent.next_upload()));
    track(&agent, 3);
    // A round trip through the worker: it has sealed the batch and signalled before answering.
    agent.stats().expect("stats");
    assert!(
        agent.wait_for_upload_work(PATIENCE),
        "the earlier wake was lost"
    );
    assert!(matches!(agent.next_upload(), UploadTask::Upload(_)));
}

#[test]
fn flush_seal_and_an_explicit_wake_each_wake_the_waiter() {
    let agent = agent();
    track(&agent, 1);
    assert!(is_wait(&agent.next_upload()));
    agent.seal(PATIENCE).expect("seal");
    assert!(agent.wait_for_upload_work(PATIENCE), "seal did not wake");
    assert!(matches!(agent.next_upload(), UploadTask::Upload(_)));

    assert!(is_wait(&agent.next_upload()));
    agent.wake_upload_waiters();
    assert!(agent.wait_for_upload_work(PATIENCE), "explicit wake lost");
}

#[test]
fn shutdown_wakes_the_waiter_and_the_next_pull_is_done() {
    let agent = agent();
    assert!(is_wait(&agent.next_upload()));
    let waiter = {
        let agent = agent.clone();
        std::thread::spawn(move || agent.wait_for_upload_work(PATIENCE))
    };
    agent.shutdown(PATIENCE).expect("shutdown");
    assert!(waiter.join().expect("waiter"), "shutdown did not wake");
    assert!(
        agent.wait_for_upload_work(PATIENCE),
        "stopped: answers at once"
    );
    assert_eq!(agent.next_upload(), UploadTask::Done);
}

#[test]
fn waiting_forever_is_a_valid_timeout() {
    // `Duration::MAX` ("wait until there is work") must not overflow `Instant` and panic.
    let agent = agent();
    assert!(is_wait(&agent.next_upload()));
    let waiter = {
        let agent = agent.clone();
        std::thread::spawn(move || agent.wait_for_upload_work(Duration::MAX))
    };
    track(&agent, 3);
    assert!(
        waiter.join().expect("no panic"),
        "woken by the sealed batch"
    );
    agent.seal(Duration::MAX).expect("seal with no deadline");
}

/// A clock that holds the worker thread (the only caller named `rum-agent-worker`) while its gate
/// is closed: a worker that is stuck, e.g. on a slow disk.
#[derive(Debug, Default)]
struct GateClock {
    /// (gate closed, the worker is held)
    state: Mutex<(bool, bool)>,
    cond: Condvar,
}

impl GateClock {
    fn close(&self) {
        self.state.lock().expect("gate").0 = true;
    }

    fn wait_until_worker_held(&self) {
        let state = self.state.lock().expect("gate");
        let (state, timeout) = self
            .cond
            .wait_timeout_while(state, PATIENCE, |s| !s.1)
            .expect("gate");
        assert!(
            state.1 && !timeout.timed_out(),
            "the worker never asked the time"
        );
    }

    fn open(&self) {
        self.state.lock().expect("gate").0 = false;
        self.cond.notify_all();
    }
}

impl Clock for GateClock {
    fn now_ms(&self) -> i64 {
        if std::thread::current().name() == Some("rum-agent-worker") {
            let mut state = self.state.lock().expect("gate");
            while state.0 {
                state.1 = true;
                self.cond.notify_all();
                state = self.cond.wait(state).expect("gate");
            }
            state.1 = false;
        }
        SystemClock.now_ms()
    }
}

#[test]
fn a_pull_loop_ends_after_a_shutdown_whose_stop_command_timed_out() {
    let clock = Arc::new(GateClock::default());
    let agent = Agent::builder("sdk-key")
        .clock(clock.clone())
        .queue_capacity(4)
        .flush_interval(Duration::from_secs(3600))
        .build()
        .expect("agent");
    clock.close();
    clock.wait_until_worker_held();
    // The stuck worker's channel fills up: neither the flush nor the Shutdown command of the
    // shutdown below finds room, so the worker never learns it should stop.
    track(&agent, 10);
    assert!(
        agent.shutdown(Duration::from_millis(50)).is_err(),
        "memory-only items were not delivered"
    );
    clock.open();

    // A raw pull-API uploader, as the docs of `wait_for_upload_work` describe it.
    let mut pulls = 0;
    let ended = loop {
        if pulls == 1_000 {
            break false;
        }
        pulls += 1;
        match agent.next_upload() {
            UploadTask::Done => break true,
            UploadTask::Upload(request) => {
                agent.upload_result(request.id, agent_core::upload::UploadResult::NetworkError)
            }
            UploadTask::Wait { ms } => {
                agent.wait_for_upload_work(Duration::from_millis(ms));
            }
        }
    };
    assert!(ended, "still pulling after {pulls} pulls: the loop spins");
    assert_eq!(agent.next_upload(), UploadTask::Done, "and it stays done");
}

/// A pull whose answer came too late (the worker held up for longer than the puller waits) does
/// not leave the batch it was handed in flight until its upload lease runs out: the next pull
/// gets it.
#[test]
fn an_upload_handed_to_a_pull_that_gave_up_is_handed_out_again() {
    let clock = Arc::new(GateClock::default());
    let agent = Agent::builder("sdk-key")
        .clock(clock.clone())
        .flush_interval(Duration::from_secs(3600))
        .build()
        .expect("agent");
    track(&agent, 1);
    agent.seal(PATIENCE).expect("seal");
    clock.close();
    clock.wait_until_worker_held();
    assert!(
        is_wait(&agent.next_upload()),
        "the pull gives up on the held worker"
    );
    clock.open();
    match agent.next_upload() {
        UploadTask::Upload(request) => assert_eq!(decode(&request.headers, &request.body).len(), 1),
        other => panic!("the batch is still taken by the pull that gave up: {other:?}"),
    }
}

/// A flush waits for what was recorded before it, not for what other threads keep recording:
/// under steady traffic the agent is never idle, and the flush used to time out.
#[test]
fn a_flush_under_steady_traffic_ends_once_its_items_are_delivered() {
    let agent = Agent::builder("sdk-key")
        .flush_interval(Duration::from_millis(50))
        .build()
        .expect("agent");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped = || stop.load(std::sync::atomic::Ordering::Relaxed);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stopped() {
                track(&agent, 1);
            }
        });
        s.spawn(|| {
            while !stopped() {
                match agent.next_upload() {
                    UploadTask::Upload(request) => agent.upload_result(
                        request.id,
                        agent_core::upload::UploadResult::Http {
                            status: 202,
                            retry_after: None,
                        },
                    ),
                    UploadTask::Wait { ms } => {
                        agent.wait_for_upload_work(Duration::from_millis(ms.min(20)));
                    }
                    UploadTask::Done => break,
                }
            }
        });
        track(&agent, 10);
        let flushed = agent.flush(PATIENCE);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        flushed.expect("flushed while others go on tracking");
    });
}

/// A flush waits for a crash record a handler wrote into the spool before it, though the
/// pipeline had not scanned it yet.
#[test]
fn a_flush_waits_for_a_crash_record_written_before_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let agent = Agent::builder("sdk-key")
        .data_dir(dir.path())
        .flush_interval(Duration::from_secs(3600))
        .build()
        .expect("agent");
    agent.stats().expect("the pipeline is open");
    let crash = agent_core::wire::Batch {
        batch_id: uuid::Uuid::new_v4(),
        sdk: agent_core::wire::SdkInfo {
            name: "t".into(),
            version: "0".into(),
            platform: "rust".into(),
        },
        impressions: Vec::new(),
        events: vec![agent_core::wire::Event {
            id: uuid::Uuid::new_v4(),
            key: "crash-user".into(),
            traffic_type: "user".into(),
            event_type: "crash".into(),
            value: None,
            ts: SystemClock.now_ms(),
            properties: Map::new(),
        }],
        dropped: Vec::new(),
    };
    agent_core::spool::write_batch_file(&dir.path().join(agent_core::crash::SPOOL_DIR), &crash)
        .expect("written as a crash handler writes");
    track(&agent, 1);
    let flushing = {
        let agent = agent.clone();
        std::thread::spawn(move || agent.flush(PATIENCE))
    };
    let mut delivered = Vec::new();
    while !flushing.is_finished() {
        match agent.next_upload() {
            UploadTask::Upload(request) => {
                let batch = decode(&request.headers, &request.body);
                delivered.extend(batch.events.into_iter().map(|e| e.event_type));
                agent.upload_result(
                    request.id,
                    agent_core::upload::UploadResult::Http {
                        status: 202,
                        retry_after: None,
                    },
                );
            }
            _ => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    flushing.join().expect("flush").expect("flushed");
    assert!(delivered.iter().any(|t| t == "crash"), "{delivered:?}");
    agent.shutdown(PATIENCE).expect("shutdown");
}

/// A flush that a shutdown ends answers `ShutDown`, never `Timeout` before its deadline.
#[test]
fn a_flush_ended_by_a_shutdown_answers_shut_down() {
    for _ in 0..200 {
        let agent = agent();
        track(&agent, 1);
        let flushing = {
            let agent = agent.clone();
            std::thread::spawn(move || agent.flush(Duration::from_secs(60)))
        };
        std::thread::sleep(Duration::from_millis(2));
        let _ = agent.shutdown(Duration::from_millis(5));
        let flushed = flushing.join().expect("flush");
        assert!(
            !matches!(flushed, Err(agent_core::AgentError::Timeout)),
            "{flushed:?}"
        );
    }
}
