//! A real agent (agent-core with its native uploader and flag sync) against a real collector on
//! loopback, checked in the collector's SQLite file.

use std::time::{Duration, Instant};

use agent_core::flags::Attributes;
use agent_core::upload::{UploadResult, UploadTask};
use agent_core::{Agent, AgentError};
use e2e::{Fixture, SDK_KEY, free_addr, wait_until};
use serde_json::{Map, Value, json};

const WAIT: Duration = Duration::from_secs(20);

fn agent_for(fixture_url: &str, data_dir: &std::path::Path) -> Agent {
    Agent::builder(SDK_KEY)
        .collector(fixture_url)
        .data_dir(data_dir)
        .flush_interval(Duration::from_millis(200))
        .poll_interval(Duration::from_secs(3600))
        .build()
        .expect("agent builds")
}

#[derive(Debug)]
struct PaymentError;

impl std::fmt::Display for PaymentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "card declined")
    }
}

impl std::error::Error for PaymentError {}

#[inline(never)]
fn checkout_that_fails(agent: &Agent, key: &str) {
    agent.for_key(key).track_error(&PaymentError);
}

#[test]
fn impressions_errors_timings_and_events_arrive() {
    let fixture = Fixture::start().expect("collector starts");
    fixture
        .create_rollout_flag("new-checkout")
        .expect("flag created");
    let dir = tempfile::tempdir().expect("tempdir");
    let agent = agent_for(&fixture.url(), dir.path());
    assert!(
        agent.wait_for_flags(WAIT),
        "flags arrive from the collector"
    );
    agent.set_global_property("app.version", "1.2.3");

    let mut on = 0;
    for i in 0..300 {
        let key = format!("user-{i}");
        let eval = agent.treatment(&key, "new-checkout", &Attributes::new());
        assert_eq!(eval.label, "rollout");
        if eval.treatment == "on" {
            on += 1;
            checkout_that_fails(&agent, &key);
        }
        agent
            .for_key(&key)
            .track_timing("checkout", Duration::from_millis(120 + i % 7));
        let mut props = Map::new();
        props.insert("cart".into(), json!(i));
        agent.for_key(&key).track("purchase", Some(9.5), props);
        // A second evaluation in the same hour is deduplicated, not lost: it becomes a count.
        agent.treatment(&key, "new-checkout", &Attributes::new());
    }
    agent.flush(WAIT).expect("everything delivered");

    // Each user's two evaluations in the same hour are deduplicated: one impression per user,
    // plus one late row for a user whose duplicate came after a seal split the pair; a seal
    // splits at most one user (they are evaluated one after the other) and every batch but the
    // last (the flush that releases late counts) was sealed before it. Nothing is lost.
    let db = fixture.db().unwrap();
    let (users, total, rows): (i64, i64, i64) = db
        .query_row(
            "SELECT COUNT(DISTINCT key), SUM(count), COUNT(*) FROM impressions WHERE flag = 'new-checkout'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    let batches = fixture.count("batches", "1 = 1").unwrap();
    assert_eq!((users, total), (300, 600));
    assert!(
        rows - users < batches,
        "{rows} rows for {users} users in {batches} batches"
    );
    assert_eq!(
        fixture
            .count(
                "(SELECT DISTINCT key FROM impressions WHERE flag = 'new-checkout' AND treatment = 'on')",
                "1 = 1"
            )
            .unwrap(),
        on
    );

    // An active user evaluated across many sealed batches (500 other users fill at least one
    // batch per round) stays at one row plus one row of late duplicates per clock hour, instead
    // of one row per batch.
    for round in 0..5 {
        for _ in 0..20 {
            agent.treatment("active-user", "new-checkout", &Attributes::new());
        }
        for i in 0..500 {
            agent.treatment(
                &format!("filler-{round}-{i}"),
                "new-checkout",
                &Attributes::new(),
            );
        }
    }
    agent.flush(WAIT).expect("everything delivered");
    let mut stmt = db
        .prepare(
            "SELECT COUNT(*), SUM(count) FROM impressions WHERE key = 'active-user' GROUP BY ts / 3600000",
        )
        .unwrap();
    let per_hour: Vec<(i64, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(per_hour.iter().map(|(_, n)| n).sum::<i64>(), 100);
    assert!(
        per_hour.iter().all(|(rows, _)| *rows <= 2),
        "rows and counts per hour: {per_hour:?}"
    );
    assert_eq!(fixture.count("events", "type = 'error'").unwrap(), on);
    assert_eq!(
        fixture.count("events", "type = 'timing.checkout'").unwrap(),
        300
    );
    assert_eq!(
        fixture
            .count("events", "type = 'purchase' AND value = 9.5")
            .unwrap(),
        300
    );

    let props: String = db
        .query_row(
            "SELECT properties FROM events WHERE type = 'error' LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let props: Value = serde_json::from_str(&props).unwrap();
    assert_eq!(props["exception.message"], "card declined");
    assert!(
        props["exception.type"]
            .as_str()
            .unwrap()
            .contains("PaymentError"),
        "{props}"
    );
    let stack = props["exception.stacktrace"].as_str().unwrap();
    assert!(
        stack.contains("checkout_that_fails"),
        "symbolized stack names the caller: {stack}"
    );
    assert_eq!(
        props["app.version"], "1.2.3",
        "global properties ride along"
    );

    let (status, metrics) = fixture.admin("GET", "/api/v1/admin/metrics", None).unwrap();
    assert_eq!(status, 200);
    let text = metrics.to_string();
    for event_type in ["error", "timing.checkout", "purchase"] {
        assert!(
            text.contains(&format!("\"{event_type}\"")),
            "default metrics for {event_type}: {text}"
        );
    }
    agent.shutdown(WAIT).expect("clean shutdown");
}

/// The collector refuses a whole batch for one item with an empty or too long key; the agent
/// drops such items when they are recorded (counted `invalid`), so the rest of the batch lands.
#[test]
fn items_with_bad_keys_are_dropped_alone_and_the_rest_of_the_batch_arrives() {
    let fixture = Fixture::start().expect("collector starts");
    fixture
        .create_rollout_flag("new-checkout")
        .expect("flag created");
    let dir = tempfile::tempdir().expect("tempdir");
    let agent = agent_for(&fixture.url(), dir.path());
    assert!(agent.wait_for_flags(WAIT), "flags arrive");
    let long = "k".repeat(agent_core::wire::MAX_STRING + 1);
    // `[[…[1]…]]` with `levels` arrays.
    let nested = |levels: usize| (0..levels).fold(json!(1), |v, _| json!([v]));
    for i in 0..20 {
        let key = format!("good-{i}");
        agent.treatment(&key, "new-checkout", &Attributes::new());
        // A property nested deeper than the collector reads a batch is replaced by a marker, the
        // event kept (it took the whole batch down); one at the agent's limit arrives as is.
        let mut props = Map::new();
        props.insert("deep".into(), nested(agent_core::wire::MAX_PROPERTY_DEPTH));
        props.insert("abyss".into(), nested(124));
        agent.for_key(&key).track("signup", None, props);
        // Every good item shares its batch with bad ones.
        for bad in ["", long.as_str()] {
            // Served no treatment it could never be counted for.
            let refused = agent.treatment(bad, "new-checkout", &Attributes::new());
            assert_eq!(
                (refused.treatment.as_str(), refused.label.as_str()),
                ("control", agent_core::flags::labels::INVALID_KEY)
            );
            agent.for_key(bad).track("signup", None, Map::new());
        }
    }
    // An empty bucketing key is no bucketing key, not a refused impression.
    let eval = agent.treatment_with_bucketing("good-0", "", "new-checkout", &Attributes::new());
    let plain = agent.treatment("good-0", "new-checkout", &Attributes::new());
    assert_eq!(eval.treatment, plain.treatment);
    assert!(matches!(
        agent.identify(""),
        Err(AgentError::InvalidKey { field: "key" })
    ));
    assert!(agent.identify(long.as_str()).is_err());
    assert_eq!(agent.identity().as_str(), "anonymous", "the key is kept");

    agent.flush(WAIT).expect("everything delivered");
    assert_eq!(fixture.count("events", "type = 'signup'").unwrap(), 20);
    let (deep, abyss): (i64, i64) = fixture
        .db()
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FILTER (WHERE json_array_length(properties, '$.deep') = 1), \
                    COUNT(*) FILTER (WHERE json_extract(properties, '$.abyss') = ?1) \
             FROM events WHERE type = 'signup'",
            [agent_core::wire::TOO_DEEP],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((deep, abyss), (20, 20));
    assert_eq!(
        fixture
            .count("impressions", "flag = 'new-checkout'")
            .unwrap(),
        20,
        "the good keys' impressions, good-0's three deduplicated into one"
    );
    let stats = agent.stats().expect("stats");
    let count = |reason: &str| {
        stats
            .pipeline
            .dropped
            .iter()
            .find(|d| d.reason == reason)
            .map_or(0, |d| d.count)
    };
    assert_eq!(count("invalid"), 80, "{stats:?}");
    assert_eq!(count("rejected"), 0, "{stats:?}");
    agent.shutdown(WAIT).expect("shut down");
}

#[test]
fn a_retried_batch_is_counted_once() {
    let fixture = Fixture::start().expect("collector starts");
    let agent = Agent::builder(SDK_KEY)
        .collector(fixture.url())
        .native_uploader(false)
        .sync_flags(false)
        .build()
        .expect("agent builds");
    for i in 0..50 {
        agent
            .for_key(&format!("user-{i}"))
            .track("signup", None, Map::new());
    }
    agent.seal(WAIT).expect("sealed");
    let request = match agent.next_upload() {
        UploadTask::Upload(r) => r,
        other => panic!("expected an upload, got {other:?}"),
    };
    let client = reqwest::blocking::Client::new();
    for attempt in 0..3 {
        let mut req = client.post(format!("{}{}", fixture.url(), request.path));
        for (name, value) in &request.headers {
            req = req.header(name, value);
        }
        let resp = req
            .body(request.body.clone())
            .send()
            .expect("collector answers");
        assert_eq!(resp.status().as_u16(), 202, "attempt {attempt}");
    }
    agent.upload_result(
        request.id,
        UploadResult::Http {
            status: 202,
            retry_after: None,
        },
    );
    assert_eq!(fixture.count("events", "type = 'signup'").unwrap(), 50);
    assert_eq!(fixture.count("batches", "1 = 1").unwrap(), 1);
}

#[test]
fn with_the_collector_down_the_agent_stays_bounded_spools_and_delivers_after_restart() {
    let addr = free_addr().expect("free port");
    let url = format!("http://{addr}");
    let dir = tempfile::tempdir().expect("tempdir");
    const EVENTS: usize = 20_000;
    const MAX_QUEUE: usize = 1_000;
    {
        let agent = Agent::builder(SDK_KEY)
            .collector(&url)
            .data_dir(dir.path())
            .max_queue_items(MAX_QUEUE)
            .flush_interval(Duration::from_millis(50))
            .queue_capacity(EVENTS * 2)
            .build()
            .expect("agent builds");
        let mut max_seen = 0;
        for i in 0..EVENTS {
            agent.for_key(&format!("user-{}", i % 500)).track(
                "page.view",
                Some(i as f64),
                Map::new(),
            );
            if i % 2_000 == 0 {
                let stats = agent.stats().expect("stats");
                max_seen = max_seen.max(stats.pipeline.queued_items);
            }
        }
        agent.seal(WAIT).expect("sealed");
        let stats = agent.stats().expect("stats");
        max_seen = max_seen.max(stats.pipeline.queued_items);
        assert!(
            max_seen <= MAX_QUEUE,
            "memory bound held: {max_seen} <= {MAX_QUEUE}"
        );
        assert!(
            stats.pipeline.spooled_batches >= EVENTS / 500,
            "spooled: {stats:?}"
        );
        assert_eq!(
            stats.dropped("queue_full") + stats.dropped("spool_full"),
            0,
            "{stats:?}"
        );
        assert!(
            agent.flush(Duration::from_millis(300)).is_err(),
            "nothing can be delivered"
        );
        let _ = agent.shutdown(Duration::from_millis(500));
    }

    // The collector comes up on that address; a new agent on the same data dir delivers the spool.
    let data = tempfile::tempdir().expect("tempdir");
    let mut config = collector::config::Config::new(addr, data.path());
    config.admin_key = Some(e2e::ADMIN_KEY.into());
    config.sdk_key = Some(SDK_KEY.into());
    let collector =
        collector::server::BackgroundCollector::start(config).expect("collector starts");
    let agent = agent_for(&url, dir.path());
    agent
        .flush(Duration::from_secs(60))
        .expect("spooled batches delivered");
    let db = rusqlite::Connection::open(data.path().join("collector.db")).unwrap();
    let (n, distinct): (i64, i64) = db
        .query_row(
            "SELECT COUNT(*), COUNT(DISTINCT value) FROM events WHERE type = 'page.view'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        n as usize, EVENTS,
        "every spooled event arrived exactly once"
    );
    assert_eq!(distinct as usize, EVENTS);
    agent.shutdown(WAIT).expect("clean shutdown");
    collector.stop().expect("collector stops");
}

#[test]
fn a_flag_change_reaches_a_connected_agent_through_sse_and_kill_switches_to_default() {
    let fixture = Fixture::start().expect("collector starts");
    let v1 = fixture
        .create_rollout_flag("search-v2")
        .expect("flag created");
    let dir = tempfile::tempdir().expect("tempdir");
    // Polling every hour: only the SSE push can bring changes within the test.
    let agent = agent_for(&fixture.url(), dir.path());
    assert!(
        wait_until(WAIT, || agent.flag_set_version() >= v1),
        "initial fetch"
    );
    // Let the stream connect before changing the flag.
    std::thread::sleep(Duration::from_millis(300));

    let (status, body) = fixture
        .admin(
            "PUT",
            "/api/v1/admin/flags/search-v2/rollout",
            Some(json!({"rollout": [{"treatment": "on", "weight": 100}, {"treatment": "off", "weight": 0}]})),
        )
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let v2 = body["version"].as_u64().expect("version");
    let changed_at = Instant::now();
    assert!(
        wait_until(WAIT, || agent.flag_set_version() >= v2),
        "pushed over SSE"
    );
    eprintln!(
        "rollout change reached the agent in {:?}",
        changed_at.elapsed()
    );
    for i in 0..100 {
        let eval = agent.treatment(&format!("u{i}"), "search-v2", &Attributes::new());
        assert_eq!((eval.treatment.as_str(), eval.version), ("on", v2));
    }

    let (status, body) = fixture
        .admin("POST", "/api/v1/admin/flags/search-v2/kill", None)
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let v3 = body["version"].as_u64().expect("version");
    assert!(
        wait_until(WAIT, || agent.flag_set_version() >= v3),
        "kill pushed over SSE"
    );
    for i in 0..100 {
        let eval = agent.treatment(&format!("u{i}"), "search-v2", &Attributes::new());
        assert_eq!(
            (eval.treatment.as_str(), eval.label.as_str()),
            ("off", "killed")
        );
    }

    // The flag cache lets an agent that starts offline evaluate with the last definitions.
    agent.shutdown(WAIT).expect("clean shutdown");
    let offline = Agent::builder(SDK_KEY)
        .collector(format!("http://{}", free_addr().unwrap()))
        .data_dir(dir.path())
        .build()
        .expect("agent builds");
    assert!(offline.wait_for_flags(WAIT), "cached definitions load");
    let eval = offline.treatment("u1", "search-v2", &Attributes::new());
    assert_eq!(
        (eval.treatment.as_str(), eval.label.as_str()),
        ("off", "killed")
    );
    let _ = offline.shutdown(Duration::from_millis(200));
}

const CRASH_CHILD: &str = "E2E_CRASH_CHILD_DIR";

/// Runs only as the child of `a_panic_is_recorded_and_sent_at_next_start`.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CRASH_CHILD) else {
        return;
    };
    let agent = Agent::builder(SDK_KEY)
        .collector("http://127.0.0.1:9")
        .data_dir(dir)
        .sync_flags(false)
        .build()
        .expect("agent builds");
    agent.identify("crash-user").expect("a valid key");
    agent.install_panic_hook();
    panic!("boom at checkout");
}

#[test]
fn a_panic_is_recorded_and_sent_at_next_start() {
    let fixture = Fixture::start().expect("collector starts");
    let dir = tempfile::tempdir().expect("tempdir");
    // The child's output is captured: its own "test result: FAILED" line is expected.
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(CRASH_CHILD, dir.path())
        .output()
        .expect("child runs");
    assert!(!child.status.success(), "the child panicked");
    assert!(String::from_utf8_lossy(&child.stderr).contains("boom at checkout"));
    assert_eq!(fixture.count("events", "type = 'crash'").unwrap(), 0);

    let agent = agent_for(&fixture.url(), dir.path());
    agent.flush(WAIT).expect("crash delivered");
    assert_eq!(
        fixture
            .count("events", "type = 'crash' AND key = 'crash-user'")
            .unwrap(),
        1
    );
    let props: String = fixture
        .db()
        .unwrap()
        .query_row(
            "SELECT properties FROM events WHERE type = 'crash'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(props.contains("boom at checkout"), "{props}");
    agent.shutdown(WAIT).expect("clean shutdown");
}
