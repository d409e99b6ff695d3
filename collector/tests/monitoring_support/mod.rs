//! Shared fixtures of the monitoring tests: a collector on simulated time, the monitoring run,
//! and batches of raw impressions and events.

#![allow(dead_code)]

use serde_json::{Value, json};

use crate::notify_support::{self, Admin};

/// Most items per posted batch (under the collector's 1,000-item limit).
const CHUNK: usize = 900;

/// A collector on loopback with monitoring driven only by `run` (simulated time): the wall-clock
/// task would run the first checks at real time.
pub async fn start(dir: &std::path::Path) -> collector::RunningCollector {
    let mut config = collector::Config::new(([127, 0, 0, 1], 0).into(), dir)
        .admin_key(notify_support::ADMIN)
        .sdk_key("sdk-key");
    config.monitor_interval = std::time::Duration::ZERO;
    collector::spawn(config).await.expect("collector starts")
}

/// `POST /api/v1/admin/monitoring/run` at `at`; answers the run summary.
pub async fn run(admin: &Admin, at: i64) -> Value {
    let (s, v) = admin
        .post("/api/v1/admin/monitoring/run", json!({ "at": at }))
        .await;
    assert_eq!(s, 200, "{v}");
    v
}

/// `run`, also asserting the run reported no error.
pub async fn run_clean(admin: &Admin, at: i64) -> Value {
    let v = run(admin, at).await;
    assert_eq!(v["errors"], json!([]), "{v}");
    v
}

/// Posts items in batches in order; each item is `(true, impression)` or `(false, event)`.
pub async fn send(c: &collector::RunningCollector, items: &[(bool, Value)]) {
    let http = reqwest::Client::new();
    for chunk in items.chunks(CHUNK) {
        let (imps, evs): (Vec<_>, Vec<_>) = chunk.iter().cloned().partition(|(i, _)| *i);
        let batch = json!({
            "batch_id": uuid::Uuid::new_v4().to_string(),
            "sdk": {"name": "agent-core", "version": "0.1.0", "platform": "rust"},
            "impressions": imps.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
            "events": evs.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
        });
        let r = http
            .post(format!("{}/api/v1/batch", c.url()))
            .bearer_auth("sdk-key")
            .json(&batch)
            .send()
            .await
            .expect("sent");
        assert!(
            r.status().is_success(),
            "{}",
            r.text().await.unwrap_or_default()
        );
    }
}

/// [`half_flag`] with a monitoring window of `minutes`.
pub async fn windowed_half_flag(admin: &Admin, key: &str, minutes: u32) -> (u64, i64) {
    let flag = half_flag(admin, key).await;
    let (s, w) = admin
        .send(
            reqwest::Method::PUT,
            &format!("/api/v1/admin/flags/{key}/monitoring"),
            Some(json!({"window_minutes": minutes})),
        )
        .await;
    assert_eq!(s, 200, "{w}");
    assert_eq!(w["effective_window_minutes"], minutes, "{w}");
    flag
}

/// Creates a 50/50 flag `key` (treatments on/off, baseline off, rule `everyone`); answers its
/// version and the version's start time (from the flag history).
pub async fn half_flag(admin: &Admin, key: &str) -> (u64, i64) {
    let body = json!({
        "key": key, "traffic_type": "user",
        "treatments": [{"name": "on"}, {"name": "off"}],
        "default_treatment": "off", "baseline_treatment": "off",
        "seed": 1, "traffic_allocation": 100, "traffic_allocation_seed": 2,
        "rules": [{"name": "everyone", "matchers": [], "rollout": [
            {"treatment": "on", "weight": 50}, {"treatment": "off", "weight": 50}]}]
    });
    let (s, f) = admin.post("/api/v1/admin/flags", body).await;
    assert_eq!(s, 201, "{f}");
    let version = f["version"].as_u64().expect("version");
    let (s, h) = admin
        .get(&format!("/api/v1/admin/flags/{key}/history"))
        .await;
    assert_eq!(s, 200, "{h}");
    let start = h
        .as_array()
        .expect("history")
        .iter()
        .find(|e| e["version"] == version)
        .and_then(|e| e["changed_at"].as_i64())
        .expect("changed_at");
    (version, start)
}
