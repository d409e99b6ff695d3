//! Alerting admin API on a real collector: policies, settings, flag windows, alerts.

mod common;

use collector::alerts::monitor::{
    AlertChange, ArmSummary, CheckInput, Monitor, MonitorConfig, MonitorKey,
};
use collector::alerts::store::AlertStore;
use collector::store::SqliteStore;
use common::*;
use reqwest::Method;
use serde_json::{Value, json};
use stats::boundary::Mode;
use stats::degradation::{Direction, Threshold};

fn metric_id(c: &TestCollector) -> i64 {
    let r = c.admin_post(
        "/api/v1/admin/metrics",
        json!({"name": "checkout errors", "event_type": "checkout.error", "metric_type": "count", "direction": "decrease"}),
    );
    assert_eq!(r.status(), 201);
    r.json::<Value>().unwrap()["id"].as_i64().unwrap()
}

fn error_of(r: reqwest::blocking::Response) -> String {
    assert_eq!(r.status(), 400);
    r.json::<Value>().unwrap()["error"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn policy_crud_settings_and_windows_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let c = TestCollector::start(dir.path());
    assert_eq!(
        c.admin_post("/api/v1/admin/flags", flag_body("checkout"))
            .status(),
        201
    );
    let metric = metric_id(&c);
    for name in ["hook-1", "hook-2"] {
        let r = c.admin_post(
            "/api/v1/admin/channels",
            json!({"name": name, "kind": "webhook", "config": {"url": "http://127.0.0.1:9/h", "secret": "k"}}),
        );
        assert_eq!(r.status(), 201);
    }

    // Defaults of a new account.
    let s = c.admin_get("/api/v1/admin/settings");
    assert_eq!(
        s,
        json!({"significance": 0.05, "mode": "sequential", "window_minutes": 1440})
    );

    let spec = json!({
        "name": "checkout errors up", "metric_id": metric, "flag": "checkout",
        "threshold": {"relative": 0.1}, "channels": [1, 2], "kill_flag": true,
        "kind": {"type": "error_rate"}, "fail_fast": {"threshold": {"relative": 1.0}}
    });
    let r = c.admin_post("/api/v1/admin/policies", spec.clone());
    assert_eq!(r.status(), 201);
    let p: Value = r.json().unwrap();
    let id = p["id"].as_i64().unwrap();
    assert_eq!(p["min_samples"], 355);
    assert_eq!(p["fail_fast"]["min_samples"], 30);
    assert_eq!(p["kill_flag"], true);
    assert_eq!(p["direction"], Value::Null);
    let r = c.admin_post(
        "/api/v1/admin/policies",
        json!({"name": "any flag", "metric_id": metric}),
    );
    assert_eq!(r.status(), 201);
    let second = r.json::<Value>().unwrap()["id"].as_i64().unwrap();

    let mut updated = spec.clone();
    updated["threshold"] = json!({"absolute": 0.5});
    updated["direction"] = json!("both_bad");
    let r = c.admin(
        Method::PUT,
        &format!("/api/v1/admin/policies/{id}"),
        Some(updated),
    );
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().unwrap()["threshold"],
        json!({"absolute": 0.5})
    );

    let r = c.admin(
        Method::DELETE,
        &format!("/api/v1/admin/policies/{second}"),
        None,
    );
    assert_eq!(r.status(), 204);
    let r = c.admin(
        Method::DELETE,
        &format!("/api/v1/admin/policies/{second}"),
        None,
    );
    assert_eq!(r.status(), 404);
    let r = c.admin(Method::GET, "/api/v1/admin/policies/999", None);
    assert_eq!(r.status(), 404);

    let r = c.admin(
        Method::PUT,
        "/api/v1/admin/settings",
        Some(json!({"significance": 0.01, "mode": "bonferroni", "window_minutes": 60})),
    );
    assert_eq!(r.status(), 200);
    let r = c.admin(
        Method::PUT,
        "/api/v1/admin/flags/checkout/monitoring",
        Some(json!({"window_minutes": 120})),
    );
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().unwrap(),
        json!({"flag": "checkout", "window_minutes": 120, "effective_window_minutes": 120})
    );
    // What the policy uses cannot be taken from under it: its metric deleted or changed to a
    // type its kind does not watch, its channel deleted (409s naming the policy).
    let conflict = |r: reqwest::blocking::Response| {
        assert_eq!(r.status(), 409);
        let msg = r.json::<Value>().unwrap()["error"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            msg.starts_with(&format!("alert policy {id} (\"checkout errors up\")")),
            "{msg}"
        );
        msg
    };
    let msg = conflict(c.admin(
        Method::DELETE,
        &format!("/api/v1/admin/metrics/{metric}"),
        None,
    ));
    assert!(msg.contains("watches this metric"), "{msg}");
    let msg = conflict(c.admin(
        Method::PUT,
        &format!("/api/v1/admin/metrics/{metric}"),
        Some(json!({"name": "checkout errors", "event_type": "checkout.error", "metric_type": "average", "direction": "decrease"})),
    ));
    assert!(msg.contains("kind.type"), "{msg}");
    let msg = conflict(c.admin(Method::DELETE, "/api/v1/admin/channels/2", None));
    assert!(msg.contains("notifies this channel"), "{msg}");
    // A change the policy still fits goes through.
    let r = c.admin(
        Method::PUT,
        &format!("/api/v1/admin/metrics/{metric}"),
        Some(json!({"name": "checkout errors (renamed)", "event_type": "checkout.error", "metric_type": "count", "direction": "decrease"})),
    );
    assert_eq!(r.status(), 200);

    let listed = c.admin_get("/api/v1/admin/policies");
    c.stop();

    let c = TestCollector::start(dir.path());
    assert_eq!(c.admin_get("/api/v1/admin/policies"), listed);
    let list = listed.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["direction"], "both_bad");
    assert_eq!(list[0]["channels"], json!([1, 2]));
    assert_eq!(
        c.admin_get(&format!("/api/v1/admin/policies/{id}")),
        list[0].clone()
    );
    assert_eq!(
        c.admin_get("/api/v1/admin/settings"),
        json!({"significance": 0.01, "mode": "bonferroni", "window_minutes": 60})
    );
    assert_eq!(
        c.admin_get("/api/v1/admin/flags/checkout/monitoring")["effective_window_minutes"],
        120
    );
    // Clearing the override falls back to the account default.
    let r = c.admin(
        Method::PUT,
        "/api/v1/admin/flags/checkout/monitoring",
        Some(json!({"window_minutes": null})),
    );
    assert_eq!(
        r.json::<Value>().unwrap(),
        json!({"flag": "checkout", "window_minutes": null, "effective_window_minutes": 60})
    );
    let r = c.admin(Method::GET, "/api/v1/admin/flags/nope/monitoring", None);
    assert_eq!(r.status(), 404);
}

#[test]
fn bad_policies_and_settings_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let c = TestCollector::start(dir.path());
    assert_eq!(
        c.admin_post("/api/v1/admin/flags", flag_body("checkout"))
            .status(),
        201
    );
    let metric = metric_id(&c);
    let base = json!({"name": "p", "metric_id": metric});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let cases = [
        (
            with("threshold", json!({"relative": -0.1})),
            "threshold.relative",
        ),
        (with("threshold", json!({"percent": 3})), "threshold"),
        (with("metric_id", json!(9999)), "metric_id"),
        (with("flag", json!("nope")), "flag"),
        (with("channels", json!([1, 0])), "channels[1]"),
        (
            with("channels", json!([777])),
            "channels[0]: no channel 777",
        ),
        (
            with("kind", json!({"type": "apdex", "target_ms": -5})),
            "kind.target_ms",
        ),
        (with("kind", json!({"type": "cpu"})), "kind"),
        (
            with("floor", json!({"delta": 1, "ratio": -2})),
            "floor.ratio",
        ),
        (
            with(
                "fail_fast",
                json!({"threshold": {"absolute": 1}, "min_samples": 1}),
            ),
            "fail_fast.min_samples",
        ),
        (with("min_samples", json!(1)), "min_samples"),
        (with("direction", json!("up")), "direction"),
        (with("colour", json!("red")), "colour"),
        (json!({"metric_id": metric}), "name"),
    ];
    for (body, field) in cases {
        let msg = error_of(c.admin_post("/api/v1/admin/policies", body.clone()));
        assert!(msg.contains(field), "{body}: {msg:?} should name {field}");
    }
    for (body, field) in [
        (json!({"significance": 0.7}), "significance"),
        (json!({"window_minutes": 20}), "window_minutes"),
        (json!({"mode": "fast"}), "mode"),
    ] {
        let msg = error_of(c.admin(Method::PUT, "/api/v1/admin/settings", Some(body.clone())));
        assert!(msg.contains(field), "{body}: {msg:?}");
    }
    let msg = error_of(c.admin(
        Method::PUT,
        "/api/v1/admin/flags/checkout/monitoring",
        Some(json!({"window_minutes": 40321})),
    ));
    assert!(msg.contains("window_minutes"), "{msg}");
    let msg = error_of(c.admin(Method::GET, "/api/v1/admin/alerts?state=open", None));
    assert!(msg.contains("state"), "{msg}");
    assert_eq!(c.admin_get("/api/v1/admin/policies"), json!([]));
}

fn monitor_alerts() -> Vec<collector::alerts::monitor::AlertSnapshot> {
    // Real monitors: two treatments of checkout v3 degrade, one of search v1.
    let cfg = MonitorConfig {
        mode: Mode::Sequential,
        alpha: 0.05,
        direction: Direction::HigherIsBad,
        threshold: Threshold::Relative(0.0),
        floor: None,
        fail_fast: None,
        min_samples: 355,
        min_samples_rule: Default::default(),
        window_minutes: 30,
        baseline_treatment: "off".into(),
    };
    let mut out = Vec::new();
    for (flag, version, treatment) in [
        ("checkout", 3, "on"),
        ("search", 1, "on"),
        ("checkout", 3, "v2"),
    ] {
        let key = MonitorKey {
            flag: flag.into(),
            version,
            metric_id: 1,
            policy_id: 1,
            treatment: treatment.into(),
        };
        let mut m = Monitor::new(key, cfg.clone(), 1_700_000_000_000).unwrap();
        for k in 1..=3 {
            let o = m
                .check(&CheckInput {
                    k,
                    baseline: ArmSummary {
                        n: 1000,
                        mean: 1.0,
                        variance: 1.0,
                        skewness: None,
                    },
                    treatment: ArmSummary {
                        n: 1000,
                        mean: 1.2 + 0.1 * k as f64,
                        variance: 1.0,
                        skewness: None,
                    },
                    rho: Some(0.8),
                    srm: k == 3 && flag == "search",
                })
                .unwrap();
            match (k, o.alert) {
                (1, Some(AlertChange::Fired(a))) | (2.., Some(AlertChange::Updated(a))) => {
                    out.push(a)
                }
                other => panic!("{other:?}"),
            }
        }
    }
    out
}

#[test]
fn alerts_are_listed_newest_first_filtered_and_dismissed() {
    let dir = tempfile::tempdir().unwrap();
    // Write alerts the way the monitoring glue will: through the store.
    {
        let store = SqliteStore::open(dir.path()).unwrap();
        let mut ids = Vec::new();
        for a in monitor_alerts() {
            let (stored, created) = store.upsert_alert(a.clone()).unwrap();
            assert_eq!(created, a.check.k == Some(1));
            assert_eq!(stored.check_index, a.check.k);
            ids.push(stored.id);
        }
        // One row per key, updated in place.
        assert_eq!(ids[0], ids[2]);
        let a = store.record_alert_actions(ids[0], true, true).unwrap();
        assert!(a.notified && a.flag_killed);
        let a = store.record_alert_actions(ids[0], false, false).unwrap();
        assert!(a.notified && a.flag_killed, "actions never go back");
    }
    let c = TestCollector::start(dir.path());
    let all = c.admin_get("/api/v1/admin/alerts");
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 3);
    let keys: Vec<(String, String)> = all
        .iter()
        .map(|a| {
            (
                a["flag"].as_str().unwrap().to_string(),
                a["treatment"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        [("checkout", "v2"), ("search", "on"), ("checkout", "on")]
            .map(|(f, t)| (f.to_string(), t.to_string()))
    );
    let first = &all[2];
    assert_eq!(first["version"], 3);
    assert_eq!(first["check_index"], 3);
    assert_eq!(first["baseline_treatment"], "off");
    assert_eq!(first["baseline_value"], 1.0);
    assert!((first["treatment_value"].as_f64().unwrap() - 1.5).abs() < 1e-12);
    assert!((first["impact_rel"].as_f64().unwrap() - 0.5).abs() < 1e-12);
    assert!(first["interval_abs"]["low"].as_f64().unwrap() > 0.0);
    assert_eq!(first["interval_abs"]["high"], Value::Null);
    assert_eq!(first["mode"], "sequential");
    assert_eq!(first["reason"], "significant");
    assert_eq!(first["state"], "fired");
    assert_eq!(first["notified"], true);
    assert_eq!(first["srm"], false);
    assert!(first["critical"].as_f64().unwrap() > 0.0);
    assert_eq!(all[1]["srm"], true);

    let checkout = c.admin_get("/api/v1/admin/alerts?flag=checkout");
    assert_eq!(checkout.as_array().unwrap().len(), 2);
    let id = first["id"].as_i64().unwrap();
    let r = c.admin_post(&format!("/api/v1/admin/alerts/{id}/dismiss"), json!({}));
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().unwrap()["state"], "dismissed");
    let r = c.admin_post("/api/v1/admin/alerts/999/dismiss", json!({}));
    assert_eq!(r.status(), 404);
    c.stop();

    let c = TestCollector::start(dir.path());
    let dismissed = c.admin_get("/api/v1/admin/alerts?state=dismissed");
    assert_eq!(dismissed.as_array().unwrap().len(), 1);
    assert_eq!(dismissed[0]["id"], id);
    let fired = c.admin_get("/api/v1/admin/alerts?state=fired&flag=checkout");
    assert_eq!(fired.as_array().unwrap().len(), 1);
    assert_eq!(fired[0]["treatment"], "v2");
    assert_eq!(
        c.admin_get("/api/v1/admin/alerts?limit=1")
            .as_array()
            .unwrap()
            .len(),
        1
    );
    c.stop();

    // A later update of a dismissed alert keeps it dismissed.
    let store = SqliteStore::open(dir.path()).unwrap();
    let again = monitor_alerts().remove(2);
    let (a, created) = store.upsert_alert(again).unwrap();
    assert!(!created);
    assert_eq!(a.state, collector::alerts::record::AlertState::Dismissed);
}

#[test]
fn monitor_state_round_trips_through_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let key = MonitorKey {
        flag: "f".into(),
        version: 2,
        metric_id: 5,
        policy_id: 9,
        treatment: "on".into(),
    };
    assert_eq!(store.monitor_state(&key).unwrap(), None);
    let cfg = MonitorConfig {
        mode: Mode::Bonferroni,
        alpha: 0.05,
        direction: Direction::BothBad,
        threshold: Threshold::Absolute(2.0),
        floor: None,
        fail_fast: None,
        min_samples: 100,
        min_samples_rule: Default::default(),
        window_minutes: 1440,
        baseline_treatment: "off".into(),
    };
    let mut m = Monitor::new(key.clone(), cfg, 5).unwrap();
    m.check(&CheckInput {
        k: 2,
        baseline: ArmSummary {
            n: 200,
            mean: 1.0,
            variance: 1.0,
            skewness: None,
        },
        treatment: ArmSummary {
            n: 200,
            mean: 1.1,
            variance: 1.0,
            skewness: None,
        },
        rho: None,
        srm: false,
    })
    .unwrap();
    store.save_monitor_state(&m).unwrap();
    store.save_monitor_state(&m).unwrap();
    drop(store);
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(store.monitor_state(&key).unwrap(), Some(m));
}
