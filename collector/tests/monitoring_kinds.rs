//! Every deployment-verification metric kind watches a real engine metric: on a real collector
//! (loopback, SQLite in a temp dir) driven on simulated time, a throughput drop (a `rate`
//! metric) and an infrastructure memory increase (the auto-created `infra.memory` average) fire
//! alerts through the monitoring run, an unchanged metric does not, and policies whose template
//! does not fit their metric are rejected naming the field.

#[path = "monitoring_support/mod.rs"]
mod monitoring_support;
mod notify_support;

use monitoring_support::{half_flag, run_clean, send, start};
use notify_support::Admin;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

const USERS: usize = 800;
const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

fn impression(key: &str, flag: &str, on: bool, version: u64, ts: i64) -> (bool, Value) {
    (
        true,
        json!({"id": uuid::Uuid::new_v4().to_string(), "key": key, "flag": flag,
               "treatment": if on { "on" } else { "off" }, "version": version,
               "label": "everyone", "ts": ts}),
    )
}

fn event(key: &str, event_type: &str, value: Option<f64>, ts: i64) -> (bool, Value) {
    (
        false,
        json!({"id": uuid::Uuid::new_v4().to_string(), "key": key, "traffic_type": "user",
               "type": event_type, "value": value, "ts": ts, "properties": {}}),
    )
}

/// Users enter over the first hour, alternately `on` and `off`; `events(on, entry, rng)` gives
/// each user's events as (type, value, ts).
async fn ingest(
    c: &collector::RunningCollector,
    flag: &str,
    version: u64,
    start: i64,
    events: impl Fn(bool, i64, &mut StdRng) -> Vec<(&'static str, Option<f64>, i64)>,
) {
    let mut rng = StdRng::seed_from_u64(11);
    let mut items = Vec::new();
    for u in 0..USERS {
        let key = format!("user-{u}");
        let on = u % 2 == 0;
        let entry = start + (u as i64 * HOUR) / USERS as i64;
        items.push(impression(&key, flag, on, version, entry));
        for (t, v, ts) in events(on, entry, &mut rng) {
            items.push(event(&key, t, v, ts));
        }
    }
    send(c, &items).await;
}

async fn metric(admin: &Admin, body: Value) -> i64 {
    let (s, m) = admin.post("/api/v1/admin/metrics", body).await;
    assert_eq!(s, 201, "{m}");
    m["id"].as_i64().expect("id")
}

async fn policy(admin: &Admin, body: Value) -> i64 {
    let (s, p) = admin.post("/api/v1/admin/policies", body).await;
    assert_eq!(s, 201, "{p}");
    p["id"].as_i64().expect("id")
}

/// The alerts of `flag` for `metric`.
async fn alerts(admin: &Admin, flag: &str, metric: i64) -> Vec<Value> {
    let (s, a) = admin
        .get(&format!("/api/v1/admin/alerts?flag={flag}"))
        .await;
    assert_eq!(s, 200, "{a}");
    a.as_array()
        .expect("alerts")
        .iter()
        .filter(|a| a["metric_id"] == metric)
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throughput_drop_alerts_and_a_steady_rate_does_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = start(dir.path()).await;
    let admin = Admin::new(&c);
    let (version, start) = half_flag(&admin, "search").await;
    let at = start + 90 * MINUTE;
    // `request` events: `on` users at a third of the baseline rate of 60 an hour; `page` events
    // at the same rate in both arms. Per hour of exposure (which includes the 15-minute buffer)
    // the baseline is about 47 and the drop about 31 an hour and 67 %, beyond the template's
    // floor of 20 and 20 %.
    ingest(&c, "search", version, start, |on, entry, rng| {
        let hours = (at - entry) as f64 / HOUR as f64;
        let mut out = Vec::new();
        for (t, per_hour) in [("request", if on { 20.0 } else { 60.0 }), ("page", 30.0)] {
            let n = (per_hour * hours * rng.random_range(0.7..1.3)).round() as i64;
            for i in 0..n {
                out.push((t, None, entry + (at - entry - MINUTE) * i / n.max(1)));
            }
        }
        out
    })
    .await;
    let requests = metric(
        &admin,
        json!({"name": "requests per hour", "event_type": "request",
               "metric_type": "rate", "direction": "increase"}),
    )
    .await;
    let pages = metric(
        &admin,
        json!({"name": "pages per hour", "event_type": "page",
               "metric_type": "rate", "direction": "increase"}),
    )
    .await;
    for m in [requests, pages] {
        policy(
            &admin,
            json!({"name": format!("throughput {m}"), "metric_id": m, "flag": "search",
                   "kind": {"type": "throughput"}}),
        )
        .await;
    }
    let summary = run_clean(&admin, at).await;
    assert_eq!(summary["alerts_fired"], 1, "{summary}");
    let fired = alerts(&admin, "search", requests).await;
    assert_eq!(fired.len(), 1, "{fired:?}");
    let a = &fired[0];
    assert_eq!(a["treatment"], "on");
    let (base, treat) = (
        a["baseline_value"].as_f64().expect("baseline"),
        a["treatment_value"].as_f64().expect("treatment"),
    );
    // Mean requests per hour of exposure, the 15-minute buffer included in the exposure.
    assert!(base > 38.0 && base < 56.0, "{a}");
    assert!(treat < base - 20.0, "{a}");
    assert!(alerts(&admin, "search", pages).await.is_empty());
    c.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_infra_memory_increase_alerts_through_the_auto_created_metric() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = start(dir.path()).await;
    let admin = Admin::new(&c);
    let (version, start) = half_flag(&admin, "cache").await;
    let at = start + 90 * MINUTE;
    // Three memory samples (MB) per user: `on` uses 700 on average, `off` 500; CPU (%) the same.
    ingest(&c, "cache", version, start, |on, entry, rng| {
        let mut out = Vec::new();
        for i in 0..3 {
            let mem = if on { 700.0 } else { 500.0 } + rng.random_range(-100.0..100.0);
            let cpu = 40.0 + rng.random_range(-10.0..10.0);
            out.push(("infra.memory", Some(mem), entry + i * MINUTE));
            out.push(("infra.cpu", Some(cpu), entry + i * MINUTE));
        }
        out
    })
    .await;
    let (s, ms) = admin.get("/api/v1/admin/metrics").await;
    assert_eq!(s, 200, "{ms}");
    let auto = |t: &str| -> Vec<Value> {
        ms.as_array()
            .expect("metrics")
            .iter()
            .filter(|m| m["event_type"] == t)
            .cloned()
            .collect()
    };
    let (mem, cpu) = (auto("infra.memory"), auto("infra.cpu"));
    assert_eq!(mem.len(), 1, "{mem:?}");
    assert_eq!(cpu.len(), 1, "{cpu:?}");
    assert_eq!(mem[0]["metric_type"], "average");
    assert_eq!(mem[0]["direction"], "decrease");
    assert_eq!(mem[0]["auto_created"], true);
    let (mem, cpu) = (
        mem[0]["id"].as_i64().expect("id"),
        cpu[0]["id"].as_i64().expect("id"),
    );
    for m in [mem, cpu] {
        policy(
            &admin,
            json!({"name": format!("infra {m}"), "metric_id": m, "flag": "cache",
                   "kind": {"type": "infra"}}),
        )
        .await;
    }
    let summary = run_clean(&admin, at).await;
    assert_eq!(summary["alerts_fired"], 1, "{summary}");
    let fired = alerts(&admin, "cache", mem).await;
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0]["treatment"], "on");
    assert!(
        fired[0]["treatment_value"].as_f64().expect("value")
            > fired[0]["baseline_value"].as_f64().expect("value") + 100.0
    );
    assert!(alerts(&admin, "cache", cpu).await.is_empty());
    c.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_must_fit_their_metric() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = start(dir.path()).await;
    let admin = Admin::new(&c);
    let count = metric(
        &admin,
        json!({"name": "requests", "event_type": "request",
               "metric_type": "count", "direction": "increase"}),
    )
    .await;
    let rate = metric(
        &admin,
        json!({"name": "requests per hour", "event_type": "request",
               "metric_type": "rate", "direction": "increase"}),
    )
    .await;
    let apdex = metric(
        &admin,
        json!({"name": "page apdex", "event_type": "timing.page", "metric_type": "apdex",
               "direction": "increase", "apdex_target_ms": 300}),
    )
    .await;
    let cases = [
        (count, json!({"type": "throughput"}), "kind.type"),
        (rate, json!({"type": "infra"}), "kind.type"),
        (rate, json!({"type": "response_time"}), "kind.type"),
        (
            apdex,
            json!({"type": "apdex", "target_ms": 500}),
            "kind.target_ms",
        ),
        (
            count,
            json!({"type": "apdex", "target_ms": 300}),
            "kind.type",
        ),
    ];
    for (m, kind, field) in cases {
        let body = json!({"name": "p", "metric_id": m, "kind": kind});
        let (s, e) = admin.post("/api/v1/admin/policies", body.clone()).await;
        assert_eq!(s, 400, "{body}: {e}");
        let msg = e["error"].as_str().unwrap_or_default();
        assert!(
            msg.starts_with(field),
            "{body}: {msg:?} should name {field}"
        );
    }
    for (m, kind) in [
        (rate, json!({"type": "throughput"})),
        (apdex, json!({"type": "apdex", "target_ms": 300})),
        (count, json!({"type": "error_rate"})),
    ] {
        policy(&admin, json!({"name": "ok", "metric_id": m, "kind": kind})).await;
    }
    c.shutdown().await.expect("clean shutdown");
}
