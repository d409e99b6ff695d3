//! The durable outbox across a restart, with real collectors on one SQLite directory: alerts
//! fire while the webhook receiver is down, the collector stops, the receiver comes up, a new
//! collector on the same data resumes the pending deliveries, and each notification arrives
//! exactly once with a valid HMAC signature; the delivery log shows every attempt, numbered on
//! across the restart.

#[path = "monitoring_support/mod.rs"]
mod monitoring_support;
mod notify_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use monitoring_support::{run_clean as run, send};
use notify_support::{ADMIN, Admin, expected_signature};
use serde_json::{Value, json};

const SECRET: &str = "outbox-secret";
const MINUTE: i64 = 60_000;

/// (notification id, attempt header, signature valid, body) of one POST received.
type Post = (String, String, bool, Value);

/// Every POST received.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<Post>>>);

async fn hook(State(r): State<Received>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let valid = h("x-rum-signature") == expected_signature(SECRET, &h("x-rum-timestamp"), &body);
    let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
    r.0.lock()
        .expect("lock")
        .push((h("x-rum-notification-id"), h("x-rum-attempt"), valid, v));
    StatusCode::OK
}

async fn collector(dir: &std::path::Path) -> collector::RunningCollector {
    let mut config = collector::Config::new(([127, 0, 0, 1], 0).into(), dir)
        .admin_key(ADMIN)
        .sdk_key("sdk-key");
    config.monitor_interval = Duration::ZERO;
    config.notify.base_delay = Duration::from_millis(20);
    config.notify.max_delay = Duration::from_millis(100);
    // Never give up within the test: the receiver is down for a while.
    config.notify.max_attempts = 1_000;
    collector::spawn(config).await.expect("collector starts")
}

async fn setup(admin: &Admin, url: &str) -> (i64, u64, i64) {
    let body = json!({
        "key": "pay", "traffic_type": "user",
        "treatments": [{"name": "on"}, {"name": "off"}],
        "default_treatment": "off", "baseline_treatment": "off",
        "seed": 1, "traffic_allocation": 100, "traffic_allocation_seed": 2,
        "rules": [{"name": "everyone", "matchers": [], "rollout": [
            {"treatment": "on", "weight": 50}, {"treatment": "off", "weight": 50}]}]
    });
    let (s, f) = admin.post("/api/v1/admin/flags", body).await;
    assert_eq!(s, 201, "{f}");
    let version = f["version"].as_u64().expect("version");
    let (_, h) = admin.get("/api/v1/admin/flags/pay/history").await;
    let start = h[0]["changed_at"].as_i64().expect("changed_at");
    let (s, m) = admin
        .post(
            "/api/v1/admin/metrics",
            json!({"name": "pay errors", "event_type": "error",
                   "metric_type": "percent_users", "direction": "decrease"}),
        )
        .await;
    assert_eq!(s, 201, "{m}");
    let metric = m["id"].as_i64().expect("metric");
    let channel = admin
        .channel(json!({"name": "ops", "kind": "webhook",
                        "config": {"url": url, "secret": SECRET}}))
        .await;
    let (s, p) = admin
        .post(
            "/api/v1/admin/policies",
            json!({"name": "watch", "metric_id": metric, "flag": "pay",
                   "threshold": {"relative": 0.0}, "channels": [channel]}),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    let (s, k) = admin
        .send(
            reqwest::Method::PUT,
            "/api/v1/admin/flags/pay/key-metrics",
            Some(json!({"metric_ids": [metric]})),
        )
        .await;
    assert_eq!(s, 200, "{k}");
    (channel, version, start)
}

/// 2,000 users over 110 minutes; errors in 15 % of `on` users and 5 % of `off` users.
async fn traffic(c: &collector::RunningCollector, version: u64, start: i64) {
    let mut items = Vec::new();
    for u in 0..2_000usize {
        let on = u % 2 == 0;
        let key = format!("u{u}");
        let ts = start + (u as i64 * 110 * MINUTE) / 2_000;
        items.push((
            true,
            json!({"id": uuid::Uuid::new_v4().to_string(), "key": key, "flag": "pay",
                   "treatment": if on { "on" } else { "off" }, "version": version,
                   "label": "everyone", "ts": ts}),
        ));
        let errs = if on {
            (u / 2) % 20 < 3
        } else {
            (u / 2) % 20 == 0
        };
        if errs {
            items.push((
                false,
                json!({"id": uuid::Uuid::new_v4().to_string(), "key": key,
                       "traffic_type": "user", "type": "error", "value": null,
                       "ts": ts + MINUTE, "properties": {}}),
            ));
        }
    }
    send(c, &items).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_deliveries_survive_a_restart_and_arrive_exactly_once() {
    // A port nobody listens on yet: the receiver is "down" (connection refused).
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = probe.local_addr().expect("addr");
    drop(probe);
    let url = format!("http://{addr}/hook");

    let dir = tempfile::tempdir().expect("tempdir");
    let first = collector(dir.path()).await;
    let admin = Admin::new(&first);
    let (channel, version, start) = setup(&admin, &url).await;
    traffic(&first, version, start).await;
    let r = run(&admin, start + 120 * MINUTE).await;
    assert_eq!(r["alerts_fired"], 1, "{r}");
    assert_eq!(
        r["key_metric_alert_ids"].as_array().map(Vec::len),
        Some(1),
        "{r}"
    );
    assert_eq!(r["notifications"], 2, "{r}");
    // Both notifications fail a few times (connection refused) while the receiver is down.
    let before = admin
        .deliveries_until(channel, |rows| {
            let mut per: std::collections::HashMap<String, usize> = Default::default();
            for d in rows {
                *per.entry(d["notification_id"].to_string()).or_default() += 1;
            }
            per.len() == 2 && per.values().all(|n| *n >= 3)
        })
        .await;
    assert!(before.iter().all(|d| d["success"] == false), "{before:?}");
    assert!(
        before
            .iter()
            .all(|d| d["status_code"].is_null() && !d["error"].is_null()),
        "{before:?}"
    );
    first.shutdown().await.expect("clean shutdown");

    // The receiver comes up on that address, then a new collector opens the same data.
    let got = Received::default();
    let app = axum::Router::new()
        .route("/hook", post(hook))
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind(addr).await.expect("rebind");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let second = collector(dir.path()).await;
    let admin = Admin::new(&second);
    let rows = admin
        .deliveries_until(channel, |rows| {
            rows.iter().filter(|d| d["success"] == true).count() == 2
        })
        .await;
    // Nothing more is due: another monitoring run queues nothing new, and a further look at
    // the log after it still shows exactly two successes.
    let again = run(&admin, start + 180 * MINUTE).await;
    assert_eq!(again["notifications"], 0, "{again}");
    let (_, after) = admin
        .get(&format!("/api/v1/admin/channels/{channel}/deliveries"))
        .await;
    let after = after.as_array().expect("log").clone();
    assert_eq!(after.len(), rows.len(), "{after:?}");

    let received = got.0.lock().expect("lock").clone();
    assert_eq!(received.len(), 2, "exactly once each: {received:?}");
    let mut ids: Vec<&str> = received.iter().map(|r| r.0.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 2, "{received:?}");
    for (id, attempt, valid, body) in &received {
        assert!(valid, "HMAC signature of {id} does not verify");
        assert_eq!(body["id"], json!(id), "{body}");
        assert_eq!(body["kind"], "alert_fired");
        assert_eq!(body["flag"], "pay");
        // The attempt number went on from before the restart.
        let log: Vec<&Value> = rows
            .iter()
            .filter(|d| d["notification_id"] == json!(id))
            .collect();
        let numbers: Vec<u64> = log.iter().filter_map(|d| d["attempt"].as_u64()).collect();
        let n = numbers.len() as u64;
        assert!(n >= 4, "{log:?}");
        assert_eq!(numbers, (1..=n).collect::<Vec<_>>(), "{log:?}");
        assert_eq!(attempt, &n.to_string());
        assert_eq!(log.last().map(|d| d["success"].clone()), Some(json!(true)));
        assert!(log[..log.len() - 1].iter().all(|d| d["success"] == false));
    }
    let key = received
        .iter()
        .filter(|r| {
            r.3["alert"]["metric"]
                .as_str()
                .is_some_and(|m| m.ends_with("(key metric)"))
        })
        .count();
    assert_eq!(key, 1, "one key-metric and one policy notification");
    second.shutdown().await.expect("clean shutdown");
}

/// A collector killed after storing a policy alert but before queueing its notification (the
/// alert is in the store, nothing in the outbox): the next run of the next collector acts on it,
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_stored_but_not_acted_on_is_notified_by_the_next_run() {
    let got = Received::default();
    let app = axum::Router::new()
        .route("/hook", post(hook))
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().expect("tempdir");
    let first = collector(dir.path()).await;
    let admin = Admin::new(&first);
    let (channel, version, start) = setup(&admin, &url).await;
    traffic(&first, version, start).await;
    let r = run(&admin, start + 120 * MINUTE).await;
    assert_eq!(r["alerts_fired"], 1, "{r}");
    assert_eq!(r["recovered_alerts"], 0, "{r}");
    let policy_alert = r["alert_ids"][0].as_i64().expect("alert id");
    admin
        .deliveries_until(channel, |rows| {
            rows.iter().filter(|d| d["success"] == true).count() == 2
        })
        .await;
    first.shutdown().await.expect("clean shutdown");

    // Put the store back to the moment between storing the alert and acting on it.
    {
        let db = rusqlite::Connection::open(dir.path().join("collector.db")).expect("open db");
        let n = db
            .execute(
                "UPDATE alerts SET acted = 0, notified = 0 WHERE id = ?1 AND kind = 'policy'",
                [policy_alert],
            )
            .expect("reset alert");
        assert_eq!(n, 1);
        db.execute("DELETE FROM notification_outbox", [])
            .expect("empty outbox");
    }
    got.0.lock().expect("lock").clear();

    let second = collector(dir.path()).await;
    let admin = Admin::new(&second);
    let r = run(&admin, start + 125 * MINUTE).await;
    assert_eq!(r["recovered_alerts"], 1, "{r}");
    assert_eq!(r["alerts_fired"], 0, "{r}");
    assert_eq!(r["notifications"], 1, "{r}");
    admin
        .deliveries_until(channel, |rows| {
            rows.iter().filter(|d| d["success"] == true).count() == 3
        })
        .await;
    // Acted on once: a further run finds nothing to recover.
    let again = run(&admin, start + 130 * MINUTE).await;
    assert_eq!(again["recovered_alerts"], 0, "{again}");
    assert_eq!(again["notifications"], 0, "{again}");
    let received = got.0.lock().expect("lock").clone();
    assert_eq!(received.len(), 1, "{received:?}");
    let (_, _, valid, body) = &received[0];
    assert!(valid, "HMAC signature does not verify");
    assert_eq!(body["alert"]["alert_id"], json!(policy_alert), "{body}");
    second.shutdown().await.expect("clean shutdown");
}
