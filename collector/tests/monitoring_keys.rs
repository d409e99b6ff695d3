//! Key metrics, first-SRM notices and auto-resolve on a real collector (loopback, SQLite in a
//! temp dir) driven on simulated time through `POST /api/v1/admin/monitoring/run`.

#[path = "monitoring_support/mod.rs"]
mod monitoring_support;
mod notify_support;

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use monitoring_support::{half_flag, run_clean as run, send, start};
use notify_support::Admin;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

const USERS: usize = 2_000;
const MINUTE: i64 = 60_000;

#[derive(Clone, Default)]
struct Hook(Arc<Mutex<Vec<Value>>>);

async fn hook(State(h): State<Hook>, body: Bytes) -> StatusCode {
    let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
    h.0.lock().expect("lock").push(v);
    StatusCode::OK
}

impl Hook {
    fn kinds(&self) -> Vec<String> {
        let got = self.0.lock().expect("lock");
        got.iter()
            .map(|v| v["kind"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

async fn receiver(h: Hook) -> String {
    let app = axum::Router::new().route("/hook", post(hook)).with_state(h);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/hook")
}

async fn put(admin: &Admin, path: &str, body: Value) -> (u16, Value) {
    admin.send(reqwest::Method::PUT, path, Some(body)).await
}

async fn metric(admin: &Admin, name: &str, event: &str, kind: &str, direction: &str) -> i64 {
    let (s, m) = admin
        .post(
            "/api/v1/admin/metrics",
            json!({"name": name, "event_type": event, "metric_type": kind,
                   "direction": direction}),
        )
        .await;
    assert_eq!(s, 201, "{m}");
    m["id"].as_i64().expect("id")
}

async fn policy(admin: &Admin, flag: &str, metric: i64, channel: i64) {
    let (s, p) = admin
        .post(
            "/api/v1/admin/policies",
            json!({"name": "watch", "metric_id": metric, "flag": flag,
                   "threshold": {"relative": 0.0}, "channels": [channel], "kill_flag": false}),
        )
        .await;
    assert_eq!(s, 201, "{p}");
}

/// Users enter over the first 110 simulated minutes; `on(u)` picks the treatment, and
/// `events(u, on, rng)` the event types each user sends a minute after entry.
async fn ingest(
    c: &collector::RunningCollector,
    flag: &str,
    version: u64,
    start_ms: i64,
    on: impl Fn(usize) -> bool,
    events: impl Fn(usize, bool, &mut StdRng) -> Vec<&'static str>,
) {
    let mut rng = StdRng::seed_from_u64(11);
    let mut items: Vec<(bool, Value)> = Vec::new();
    for u in 0..USERS {
        let key = format!("user-{u}");
        let on = on(u);
        let ts = start_ms + (u as i64 * 110 * MINUTE) / USERS as i64;
        items.push((
            true,
            json!({"id": uuid::Uuid::new_v4().to_string(), "key": key, "flag": flag,
                   "treatment": if on { "on" } else { "off" }, "version": version,
                   "label": "everyone", "ts": ts}),
        ));
        for ty in events(u, on, &mut rng) {
            items.push((
                false,
                json!({"id": uuid::Uuid::new_v4().to_string(), "key": key,
                       "traffic_type": "user", "type": ty, "value": null,
                       "ts": ts + MINUTE, "properties": {}}),
            ));
        }
    }
    send(c, &items).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_metrics_alert_in_either_direction_and_replaced_versions_auto_resolve() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = start(dir.path()).await;
    let admin = Admin::new(&c);
    let got = Hook::default();
    let url = receiver(got.clone()).await;
    let (version, start_ms) = half_flag(&admin, "pay").await;
    let errors = metric(&admin, "pay errors", "error", "percent_users", "decrease").await;
    let buys = metric(&admin, "pay buyers", "buy", "percent_users", "increase").await;
    let clicks = metric(&admin, "pay clicks", "click", "count", "increase").await;
    let channel = admin
        .channel(json!({"name": "ops", "kind": "webhook", "config": {"url": url, "secret": "s"}}))
        .await;
    // The policy watches the errors (it fires too, and gets auto-resolved below).
    policy(&admin, "pay", errors, channel).await;

    let path = "/api/v1/admin/flags/pay/key-metrics";
    let (s, v) = admin.get(path).await;
    assert_eq!((s, v["metric_ids"].clone()), (200, json!([])), "{v}");
    let (s, v) = put(&admin, path, json!({"metric_ids": [errors, 999_999]})).await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"].as_str().expect("error").contains("metric_ids"),
        "{v}"
    );
    let (s, v) = put(
        &admin,
        path,
        json!({"metric_ids": [errors, buys, clicks, buys]}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["metric_ids"], json!([errors, buys, clicks]));
    let (s, v) = admin.get(path).await;
    assert_eq!(
        (s, v["metric_ids"].clone()),
        (200, json!([errors, buys, clicks]))
    );
    let (s, _) = put(
        &admin,
        "/api/v1/admin/flags/nope/key-metrics",
        json!({"metric_ids": []}),
    )
    .await;
    assert_eq!(s, 404);

    // Errors: 15 % on vs 5 % off (worse). Buyers: 20 % on vs 10 % off (better). Clicks: no
    // effect by construction (every third user of each arm, in entry order, clicks twice).
    ingest(
        &c,
        "pay",
        version,
        start_ms,
        |u| u % 2 == 0,
        |u, on, rng| {
            let mut ev = Vec::new();
            if rng.random::<f64>() < if on { 0.15 } else { 0.05 } {
                ev.push("error");
            }
            if rng.random::<f64>() < if on { 0.20 } else { 0.10 } {
                ev.push("buy");
            }
            if (u / 2) % 3 == 0 {
                ev.extend(["click", "click"]);
            }
            ev
        },
    )
    .await;

    let summary = run(&admin, start_ms + 120 * MINUTE).await;
    let ids = summary["key_metric_alert_ids"].as_array().expect("ids");
    assert_eq!(ids.len(), 2, "{summary}");
    assert_eq!(summary["alerts_fired"], 1, "{summary}");
    assert_eq!(summary["srm_mismatches"], json!([]), "{summary}");
    let (s, keys) = admin.get("/api/v1/admin/flags/pay/key-metric-alerts").await;
    assert_eq!(s, 200, "{keys}");
    let keys = keys.as_array().expect("alerts").clone();
    let mut fired: Vec<i64> = keys
        .iter()
        .map(|a| a["metric_id"].as_i64().expect("metric"))
        .collect();
    fired.sort_unstable();
    assert_eq!(fired, vec![errors, buys], "{keys:?}");
    for a in &keys {
        assert_eq!(a["version"], version);
        assert_eq!(a["treatment"], "on");
        assert_eq!(a["baseline_treatment"], "off");
        assert_eq!(a["state"], "fired");
        assert_eq!(a["notified"], true);
        assert_eq!(a["kind"], "key_metric");
        assert_eq!(a["reason"], "significant");
        let (p, adj, level) = (
            a["p_value"].as_f64().expect("p"),
            a["adjusted_p"].as_f64().expect("adjusted"),
            a["level"].as_f64().expect("level"),
        );
        // BH never lowers a p-value and the alert passed it at the check's level, which is
        // at least alpha / K and far below alpha (52 looks in a 24 h window).
        assert!(p <= adj && adj <= level, "{a}");
        assert!((0.05 / 52.0..0.01).contains(&level), "{a}");
        assert!(a["check_index"].as_u64().expect("scheduled") >= 1, "{a}");
        assert!(a["n_baseline"].as_u64().expect("n") >= 355);
    }
    let worse = keys
        .iter()
        .find(|a| a["metric_id"] == errors)
        .expect("errors");
    assert!(worse["impact_abs"].as_f64().expect("impact") > 0.0);
    assert_eq!(
        (&worse["direction"], &worse["degraded"]),
        (&json!("increase"), &json!(true))
    );
    let better = keys.iter().find(|a| a["metric_id"] == buys).expect("buys");
    assert!(better["impact_abs"].as_f64().expect("impact") > 0.0);
    assert_eq!(better["degraded"], false);

    // Notified once each (two key-metric alerts and the policy's alert).
    admin
        .deliveries_until(channel, |r| {
            r.iter().filter(|d| d["success"] == true).count() >= 3
        })
        .await;
    let again = run(&admin, start_ms + 180 * MINUTE).await;
    assert_eq!(again["key_metric_alert_ids"], json!([]), "{again}");
    assert_eq!(again["notifications"], 0, "{again}");
    let kinds = got.kinds();
    assert_eq!(kinds, vec!["alert_fired"; 3], "{kinds:?}");
    let bodies = got.0.lock().expect("lock").clone();
    assert_eq!(
        bodies
            .iter()
            .filter(|b| b["alert"]["metric"]
                .as_str()
                .is_some_and(|m| m.ends_with("(key metric)")))
            .count(),
        2,
        "{bodies:?}"
    );

    // A new version replaces the analysis: open alerts of the old one are auto-resolved.
    let (s, f) = put(
        &admin,
        "/api/v1/admin/flags/pay/rollout",
        json!({"rollout": [{"treatment": "on", "weight": 10}, {"treatment": "off", "weight": 90}]}),
    )
    .await;
    assert_eq!(s, 200, "{f}");
    assert!(f["version"].as_u64().expect("version") > version);
    let after = run(&admin, start_ms + 200 * MINUTE).await;
    assert_eq!(after["auto_resolved"], 3, "{after}");
    let (_, alerts) = admin.get("/api/v1/admin/alerts?flag=pay").await;
    let alerts = alerts.as_array().expect("alerts");
    // One policy alert and two key-metric alerts, all closed with their version.
    assert_eq!(alerts.len(), 3, "{alerts:?}");
    for a in alerts {
        assert_eq!(a["state"], "auto_resolved", "{a}");
    }
    let (_, keys) = admin.get("/api/v1/admin/flags/pay/key-metric-alerts").await;
    for a in keys.as_array().expect("alerts") {
        assert_eq!(a["state"], "auto_resolved", "{a}");
    }
    let again = run(&admin, start_ms + 240 * MINUTE).await;
    assert_eq!(again["auto_resolved"], 0, "{again}");
    c.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_70_30_split_of_a_50_50_rollout_notifies_srm_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = start(dir.path()).await;
    let admin = Admin::new(&c);
    let got = Hook::default();
    let url = receiver(got.clone()).await;
    let (version, start_ms) = half_flag(&admin, "ship").await;
    let errors = metric(&admin, "ship errors", "error", "percent_users", "decrease").await;
    let channel = admin
        .channel(json!({"name": "ops", "kind": "webhook", "config": {"url": url, "secret": "s"}}))
        .await;
    policy(&admin, "ship", errors, channel).await;
    // Early checks see the first users only; by 120 minutes 1,400 `on` and 600 `off`.
    ingest(
        &c,
        "ship",
        version,
        start_ms,
        |u| u % 10 < 7,
        |_, _, _| Vec::new(),
    )
    .await;

    let first = run(&admin, start_ms + 120 * MINUTE).await;
    assert_eq!(first["srm_mismatches"], json!(["ship"]), "{first}");
    assert_eq!(first["alerts_fired"], 0, "{first}");
    admin
        .deliveries_until(channel, |r| r.iter().any(|d| d["success"] == true))
        .await;
    for at in [120, 180, 600] {
        let again = run(&admin, start_ms + at * MINUTE).await;
        assert_eq!(again["srm_mismatches"], json!([]), "{again}");
        assert_eq!(again["notifications"], 0, "{again}");
    }
    assert_eq!(got.kinds(), vec!["srm"]);
    let body = got.0.lock().expect("lock")[0].clone();
    assert_eq!(body["flag"], "ship");
    assert_eq!(body["version"], version);
    assert!(body["srm_p_value"].as_f64().expect("p") < 0.001, "{body}");
    c.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_balanced_split_sends_no_srm_notice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = start(dir.path()).await;
    let admin = Admin::new(&c);
    let got = Hook::default();
    let url = receiver(got.clone()).await;
    let (version, start_ms) = half_flag(&admin, "calm").await;
    let errors = metric(&admin, "calm errors", "error", "percent_users", "decrease").await;
    let channel = admin
        .channel(json!({"name": "ops", "kind": "webhook", "config": {"url": url, "secret": "s"}}))
        .await;
    policy(&admin, "calm", errors, channel).await;
    ingest(
        &c,
        "calm",
        version,
        start_ms,
        |u| u % 2 == 0,
        |_, _, _| Vec::new(),
    )
    .await;
    let r = run(&admin, start_ms + 120 * MINUTE).await;
    assert_eq!(r["srm_mismatches"], json!([]), "{r}");
    assert_eq!(r["notifications"], 0, "{r}");
    assert!(got.kinds().is_empty());
    c.shutdown().await.expect("clean shutdown");
}
