//! Late data on a real collector (loopback, SQLite in a temp dir) on simulated time: a batch
//! whose timestamps fall before the last scheduled check already run marks its flag version, and
//! the next monitoring run takes one unscheduled look at it (inside the window too), which after
//! the window is the only way an alert can still fire. The mark survives a restart; new
//! (non-late) data takes no look.

#[path = "monitoring_support/mod.rs"]
mod monitoring_support;
mod notify_support;

use monitoring_support::{run_clean as run, start, windowed_half_flag};
use notify_support::Admin;
use serde_json::{Value, json};

const USERS: usize = 2_000;
const MINUTE: i64 = 60_000;
const FLAG: &str = "late-flag";

/// A 50/50 flag with a 120-minute window, an error metric and a killing policy; answers the
/// version and its start.
async fn setup(admin: &Admin) -> (u64, i64) {
    let (version, start_ms) = windowed_half_flag(admin, FLAG, 120).await;
    let (s, m) = admin
        .post(
            "/api/v1/admin/metrics",
            json!({"name": "users with errors", "event_type": "error",
                   "metric_type": "percent_users", "direction": "decrease"}),
        )
        .await;
    assert_eq!(s, 201, "{m}");
    let (s, p) = admin
        .post(
            "/api/v1/admin/policies",
            json!({"name": "errors up", "metric_id": m["id"], "flag": FLAG,
                   "threshold": {"relative": 0.0}, "channels": [], "kill_flag": true}),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    (version, start_ms)
}

/// When user `u` entered: spread over the first 110 minutes.
fn entry(start_ms: i64, u: usize) -> i64 {
    start_ms + (u as i64 * 110 * MINUTE) / USERS as i64
}

fn error(u: usize, ts: i64) -> Value {
    json!({"id": uuid::Uuid::new_v4().to_string(), "key": format!("user-{u}"),
           "traffic_type": "user", "type": "error", "value": null, "ts": ts, "properties": {}})
}

async fn send(c: &collector::RunningCollector, impressions: Vec<Value>, events: Vec<Value>) {
    let items: Vec<(bool, Value)> = impressions
        .into_iter()
        .map(|v| (true, v))
        .chain(events.into_iter().map(|v| (false, v)))
        .collect();
    monitoring_support::send(c, &items).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_data_after_the_window_takes_one_look_and_fires() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = start(dir.path()).await;
    let mut admin = Admin::new(&c);
    let (version, start_ms) = setup(&admin).await;

    // No effect by construction: every tenth user of each arm has an error a minute after entry.
    let impressions: Vec<Value> = (0..USERS)
        .map(|u| {
            json!({"id": uuid::Uuid::new_v4().to_string(), "key": format!("user-{u}"),
                   "flag": FLAG, "treatment": if u % 2 == 0 { "on" } else { "off" },
                   "version": version, "label": "everyone", "ts": entry(start_ms, u)})
        })
        .collect();
    let events = (0..USERS)
        .filter(|u| (u / 2) % 10 == 0)
        .map(|u| error(u, entry(start_ms, u) + MINUTE))
        .collect();
    send(&c, impressions, events).await;

    // The whole window runs, with no alert and nothing late.
    let first = run(&admin, start_ms + 180 * MINUTE).await;
    assert!(first["checks_run"].as_u64().expect("checks") > 0, "{first}");
    assert_eq!(first["alerts_fired"], 0, "{first}");
    assert_eq!(first["late_data_looks"], 0, "{first}");

    // New data after the last check is not late: no look.
    let fresh = (0..USERS)
        .step_by(7)
        .map(|u| error(u, start_ms + 150 * MINUTE))
        .collect();
    send(&c, Vec::new(), fresh).await;
    let quiet = run(&admin, start_ms + 200 * MINUTE).await;
    assert_eq!(quiet["checks_run"], 0, "{quiet}");
    assert_eq!(quiet["late_data_looks"], 0, "{quiet}");
    assert_eq!(quiet["alerts_fired"], 0, "{quiet}");

    // A late batch inside the window: 40 % of `on` users had an error two minutes after entry.
    let late = (0..USERS)
        .filter(|u| u % 2 == 0 && (u / 2) % 5 < 2)
        .map(|u| error(u, entry(start_ms, u) + 2 * MINUTE))
        .collect();
    send(&c, Vec::new(), late).await;

    // The mark is persisted: a restart (empty in-memory times) still looks at the next run.
    c.shutdown().await.expect("clean shutdown");
    c = start(dir.path()).await;
    admin = Admin::new(&c);

    let after = run(&admin, start_ms + 240 * MINUTE).await;
    assert_eq!(after["checks_run"], 0, "{after}");
    assert_eq!(after["late_data_looks"], 1, "{after}");
    assert_eq!(after["alerts_fired"], 1, "{after}");
    assert_eq!(after["flags_killed"], json!([FLAG]), "{after}");
    let (_, alerts) = admin
        .get(&format!("/api/v1/admin/alerts?flag={FLAG}"))
        .await;
    let alerts = alerts.as_array().expect("alerts").clone();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["id"], after["alert_ids"][0]);
    assert_eq!(alerts[0]["version"], version);
    assert_eq!(alerts[0]["treatment"], "on");
    assert_eq!(alerts[0]["check_time_ms"], start_ms + 240 * MINUTE);
    assert_eq!(alerts[0]["flag_killed"], true);

    // The mark was cleared: the next run takes no look.
    let again = run(&admin, start_ms + 250 * MINUTE).await;
    assert_eq!(again["late_data_looks"], 0, "{again}");
    assert_eq!(again["alerts_fired"], 0, "{again}");
    c.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_data_inside_the_window_is_left_to_the_next_scheduled_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = start(dir.path()).await;
    let admin = Admin::new(&c);
    let (version, start_ms) = setup(&admin).await;
    let impressions: Vec<Value> = (0..USERS)
        .map(|u| {
            json!({"id": uuid::Uuid::new_v4().to_string(), "key": format!("user-{u}"),
                   "flag": FLAG, "treatment": if u % 2 == 0 { "on" } else { "off" },
                   "version": version, "label": "everyone", "ts": entry(start_ms, u)})
        })
        .collect();
    let events = (0..USERS)
        .filter(|u| (u / 2) % 10 == 0)
        .map(|u| error(u, entry(start_ms, u) + MINUTE))
        .collect();
    send(&c, impressions, events).await;
    let at = start_ms + 60 * MINUTE;
    let first = run(&admin, at).await;
    assert!(first["checks_run"].as_u64().expect("checks") > 0, "{first}");
    assert_eq!(first["alerts_fired"], 0, "{first}");
    assert_eq!(first["late_data_looks"], 0, "{first}");

    // Every `on` user who entered in the first 30 minutes had an error, reported late.
    let late = (0..USERS)
        .filter(|&u| u % 2 == 0 && entry(start_ms, u) < start_ms + 30 * MINUTE)
        .map(|u| error(u, entry(start_ms, u) + 2 * MINUTE))
        .collect();
    send(&c, Vec::new(), late).await;
    // Inside the window no extra look is taken (it would spend level outside the schedule):
    // the scheduled checks read cumulative per-user values, so the next one sees the late data.
    let second = run(&admin, at).await;
    assert_eq!(second["checks_run"], 0, "{second}");
    assert_eq!(second["late_data_looks"], 0, "{second}");
    assert_eq!(second["alerts_fired"], 0, "{second}");
    let third = run(&admin, at + 15 * MINUTE).await;
    assert_eq!(third["late_data_looks"], 0, "{third}");
    assert!(third["checks_run"].as_u64().expect("checks") > 0, "{third}");
    assert_eq!(third["alerts_fired"], 1, "{third}");
    c.shutdown().await.expect("clean shutdown");
}
