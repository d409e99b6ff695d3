//! The monitoring loop on the incremental engine state, over a real collector (loopback, SQLite
//! in a temp dir) on simulated time: the first run builds the state from the store, later runs
//! read it without a rebuild, a restart rebuilds it at the first run, and the per-user values
//! every check used (kept by the sequential monitors) equal the full recalculation at the check
//! time. Also: late data arriving after a restart and before the first run is detected.

#[path = "monitoring_support/mod.rs"]
mod monitoring_support;
mod notify_support;

use std::collections::HashMap;

use collector::alerts::monitor::MonitorKey;
use collector::alerts::store::AlertStore;
use collector::engine::MetricSpec;
use collector::engine::recalc::keyed_values;
use collector::engine::source::StoreSource;
use collector::monitoring::store::MonitoringStore;
use collector::store::{SqliteStore, Store};
use monitoring_support::{run_clean as run, send, start, windowed_half_flag};
use notify_support::Admin;
use serde_json::{Value, json};

const MINUTE: i64 = 60_000;
const FLAG: &str = "incr-flag";
const RULE: &str = "everyone";

struct Setup {
    version: u64,
    start_ms: i64,
    /// (metric id, policy id) per policy.
    policies: Vec<(i64, i64)>,
}

/// A 50/50 flag with a 120-minute window and two policies (percent of users with errors, capped
/// purchases per view), eligible from 2 users per arm.
async fn setup(admin: &Admin) -> Setup {
    let (version, start_ms) = windowed_half_flag(admin, FLAG, 120).await;
    let mut policies = Vec::new();
    for m in [
        json!({"name": "users with errors", "event_type": "error",
               "metric_type": "percent_users", "direction": "decrease"}),
        json!({"name": "purchases per view", "event_type": "purchase", "metric_type": "ratio",
               "denominator_event_type": "view", "direction": "increase", "cap": 2.0}),
    ] {
        let (s, m) = admin.post("/api/v1/admin/metrics", m).await;
        assert_eq!(s, 201, "{m}");
        let (s, p) = admin
            .post(
                "/api/v1/admin/policies",
                json!({"name": m["name"], "metric_id": m["id"], "flag": FLAG,
                       "threshold": {"relative": 0.5}, "channels": [], "min_samples": 2}),
            )
            .await;
        assert_eq!(s, 201, "{p}");
        policies.push((m["id"].as_i64().expect("id"), p["id"].as_i64().expect("id")));
    }
    Setup {
        version,
        start_ms,
        policies,
    }
}

/// Items of `users` users entering over the first 100 minutes, each stamped with the time it
/// arrives: the impression (sometimes after the user's first events), errors, views and
/// purchases from 10 minutes before entry on.
fn traffic(s: &Setup, users: usize) -> Vec<(i64, bool, Value)> {
    let mut out = Vec::new();
    for u in 0..users {
        let key = format!("user-{u}");
        let entry = s.start_ms + (u as i64 * 100 * MINUTE) / users as i64;
        let treatment = if u % 2 == 0 { "on" } else { "off" };
        let imp_arrives = entry + if u % 5 == 0 { 6 * MINUTE } else { 0 };
        out.push((
            imp_arrives,
            true,
            json!({"id": uuid::Uuid::new_v4().to_string(), "key": key, "flag": FLAG,
                   "treatment": treatment, "version": s.version, "label": RULE, "ts": entry}),
        ));
        for j in 0..(u % 7) as i64 {
            let ts = entry - 10 * MINUTE + j * 9 * MINUTE;
            let ty = ["error", "view", "purchase", "view"][(u + j as usize) % 4];
            out.push((
                ts + MINUTE,
                false,
                json!({"id": uuid::Uuid::new_v4().to_string(), "key": key, "traffic_type": "user",
                       "type": ty, "value": null, "ts": ts, "properties": {}}),
            ));
        }
    }
    out.sort_by_key(|(at, _, _)| *at);
    out
}

async fn send_until(
    c: &collector::RunningCollector,
    items: &mut Vec<(i64, bool, Value)>,
    until: i64,
) {
    let n = items.partition_point(|(at, _, _)| *at <= until);
    let now: Vec<(bool, Value)> = items.drain(..n).map(|(_, i, v)| (i, v)).collect();
    send(c, &now).await;
}

/// For every monitor, the per-user values kept from its last eligible check equal the full
/// recalculation over the store at that check's time; answers how many monitors had values.
fn assert_kept_values_equal_full_recalculation(dir: &std::path::Path, s: &Setup) -> usize {
    let store = SqliteStore::open(dir).expect("store");
    let metrics = store.metrics().expect("metrics");
    let mut compared = 0;
    for &(metric_id, policy_id) in &s.policies {
        let key = MonitorKey {
            flag: FLAG.into(),
            version: s.version,
            metric_id,
            policy_id,
            treatment: "on".into(),
        };
        let Some(prev) = store.prev_values(&key).expect("prev") else {
            continue;
        };
        let monitor = store.monitor_state(&key).expect("state").expect("monitor");
        let t = monitor.check_time_ms(prev.k).expect("time");
        let spec =
            MetricSpec::from_metric(metrics.iter().find(|m| m.id == metric_id).expect("metric"))
                .expect("spec");
        let kv = keyed_values(
            &StoreSource(&store),
            FLAG,
            s.version,
            Some(RULE),
            &[spec],
            t,
        )
        .expect("full recalculation");
        let arm = |name: &str| -> HashMap<u128, f64> {
            let i = kv.treatments.iter().position(|x| x == name).expect("arm");
            kv.metrics[0][i].iter().copied().collect()
        };
        for (kept, full) in [(&prev.baseline, arm("off")), (&prev.treatment, arm("on"))] {
            assert_eq!(kept.len(), full.len(), "check {}", prev.k);
            assert!(!kept.is_empty());
            for (fp, v) in kept {
                let w = full.get(fp).expect("same users");
                assert!((v - w).abs() <= 1e-9 * v.abs().max(w.abs()), "{v} vs {w}");
            }
        }
        compared += 1;
    }
    store.close();
    compared
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_rebuilds_the_state_and_checks_still_equal_the_full_recalculation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = start(dir.path()).await;
    let mut admin = Admin::new(&c);
    let s = setup(&admin).await;
    let mut items = traffic(&s, 600);

    send_until(&c, &mut items, s.start_ms + 40 * MINUTE).await;
    let first = run(&admin, s.start_ms + 40 * MINUTE).await;
    assert!(first["checks_run"].as_u64().expect("checks") > 0, "{first}");
    assert!(
        first["state_rebuilds"].as_u64().expect("rebuilds") >= 1,
        "{first}"
    );

    // Data arrives, is fed after each commit, and the next checks read the state only.
    send_until(&c, &mut items, s.start_ms + 70 * MINUTE).await;
    let second = run(&admin, s.start_ms + 70 * MINUTE).await;
    assert!(
        second["checks_run"].as_u64().expect("checks") > 0,
        "{second}"
    );
    assert_eq!(second["state_rebuilds"], 0, "{second}");
    assert!(
        second["incremental_reads"].as_u64().expect("reads") > 0,
        "{second}"
    );

    c.shutdown().await.expect("clean shutdown");
    assert_eq!(
        assert_kept_values_equal_full_recalculation(dir.path(), &s),
        2
    );
    c = start(dir.path()).await;
    admin = Admin::new(&c);

    // After the restart the state is empty: the first run rebuilds it from the store.
    send_until(&c, &mut items, s.start_ms + 100 * MINUTE).await;
    let third = run(&admin, s.start_ms + 100 * MINUTE).await;
    assert!(third["checks_run"].as_u64().expect("checks") > 0, "{third}");
    assert!(
        third["state_rebuilds"].as_u64().expect("rebuilds") >= 1,
        "{third}"
    );
    send_until(&c, &mut items, i64::MAX).await;
    let fourth = run(&admin, s.start_ms + 130 * MINUTE).await;
    assert!(
        fourth["checks_run"].as_u64().expect("checks") > 0,
        "{fourth}"
    );
    assert_eq!(fourth["state_rebuilds"], 0, "{fourth}");
    assert!(
        fourth["incremental_reads"].as_u64().expect("reads") > 0,
        "{fourth}"
    );

    c.shutdown().await.expect("clean shutdown");
    assert_eq!(
        assert_kept_values_equal_full_recalculation(dir.path(), &s),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_data_after_a_restart_before_the_first_run_is_detected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = start(dir.path()).await;
    let mut admin = Admin::new(&c);
    let s = setup(&admin).await;
    let mut items = traffic(&s, 200);
    send_until(&c, &mut items, i64::MAX).await;
    // The whole window runs.
    let first = run(&admin, s.start_ms + 180 * MINUTE).await;
    assert!(first["checks_run"].as_u64().expect("checks") > 0, "{first}");

    c.shutdown().await.expect("clean shutdown");
    c = start(dir.path()).await;
    admin = Admin::new(&c);

    // Before any run of the new process: errors stamped inside the window arrive late.
    let late: Vec<(bool, Value)> = (0..200)
        .step_by(3)
        .map(|u| {
            (
                false,
                json!({"id": uuid::Uuid::new_v4().to_string(), "key": format!("user-{u}"),
                       "traffic_type": "user", "type": "error", "value": null,
                       "ts": s.start_ms + 105 * MINUTE, "properties": {}}),
            )
        })
        .collect();
    send(&c, &late).await;
    let after = run(&admin, s.start_ms + 200 * MINUTE).await;
    assert_eq!(after["checks_run"], 0, "{after}");
    assert_eq!(after["late_data_looks"], 1, "{after}");
    // Data that is not late after the restart takes no look.
    let fresh: Vec<(bool, Value)> = vec![(
        false,
        json!({"id": uuid::Uuid::new_v4().to_string(), "key": "user-1", "traffic_type": "user",
               "type": "error", "value": null, "ts": s.start_ms + 190 * MINUTE, "properties": {}}),
    )];
    send(&c, &fresh).await;
    let quiet = run(&admin, s.start_ms + 210 * MINUTE).await;
    assert_eq!(quiet["late_data_looks"], 0, "{quiet}");
    c.shutdown().await.expect("clean shutdown");
}
