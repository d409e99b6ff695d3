//! Default metrics: created once per new event type, by class, never re-created after delete.

mod common;

use common::*;
use serde_json::{Value, json};

fn metrics(c: &TestCollector) -> Vec<Value> {
    c.admin_get("/api/v1/admin/metrics")
        .as_array()
        .expect("array")
        .clone()
}

fn names_for(ms: &[Value], event_type: &str) -> Vec<String> {
    let mut v: Vec<String> = ms
        .iter()
        .filter(|m| m["event_type"] == event_type)
        .map(|m| m["name"].as_str().expect("name").to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn default_metrics_are_created_once_per_type() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = TestCollector::start(dir.path());
    let b = batch(
        vec![],
        vec![
            event("error", "u1", None),
            event("error", "u2", None),
            event("app.crash", "u1", None),
            event("timing.checkout", "u1", Some(120.0)),
            event("signup", "u1", None),
            event("purchase", "u1", None),
            event("purchase", "u2", Some(30.0)),
        ],
    );
    assert_eq!(c.post_batch(&b).status(), 202);
    // The same types again in later batches create nothing more.
    for _ in 0..3 {
        let b = batch(
            vec![],
            vec![event("error", "u3", None), event("signup", "u4", Some(1.0))],
        );
        assert_eq!(c.post_batch_gzip(&b).status(), 202);
    }
    let ms = metrics(&c);
    assert!(ms.iter().all(|m| m["auto_created"] == true));
    assert_eq!(
        names_for(&ms, "error"),
        vec!["error: count per user", "error: percent of users"]
    );
    let error_types: Vec<_> = ms
        .iter()
        .filter(|m| m["event_type"] == "error")
        .map(|m| (m["metric_type"].clone(), m["direction"].clone()))
        .collect();
    assert!(error_types.contains(&(json!("percent_users"), json!("decrease"))));
    assert_eq!(names_for(&ms, "app.crash").len(), 2);
    assert_eq!(
        names_for(&ms, "timing.checkout"),
        vec!["timing.checkout: average per user"]
    );
    // Custom events: an average value only when the first events carried values.
    assert_eq!(names_for(&ms, "signup"), vec!["signup: count per user"]);
    assert_eq!(
        names_for(&ms, "purchase"),
        vec!["purchase: average value", "purchase: count per user"]
    );
    assert_eq!(ms.len(), 8);

    // Deleted metrics are never re-created.
    for m in ms.iter().filter(|m| m["event_type"] == "error") {
        let r = c.admin(
            reqwest::Method::DELETE,
            &format!("/api/v1/admin/metrics/{}", m["id"]),
            None,
        );
        assert_eq!(r.status(), 204);
    }
    let b = batch(vec![], vec![event("error", "u9", None)]);
    assert_eq!(c.post_batch(&b).status(), 202);
    c.stop();
    let c = TestCollector::start(dir.path());
    let b = batch(vec![], vec![event("error", "u10", None)]);
    assert_eq!(c.post_batch(&b).status(), 202);
    let ms = metrics(&c);
    assert!(names_for(&ms, "error").is_empty());
    assert_eq!(ms.len(), 6);
    let r = c.admin(reqwest::Method::DELETE, "/api/v1/admin/metrics/9999", None);
    assert_eq!(r.status(), 404);
}

/// An SDK key is public: made-up event types past the bound are stored, but get no metrics;
/// batches sent at once (committed in one group) count together.
#[test]
fn default_metrics_stop_at_the_bound_on_event_types() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = TestCollector::start(dir.path());
    let bound = collector::store::sqlite::MAX_AUTO_METRIC_TYPES;
    std::thread::scope(|scope| {
        for round in 0..3 {
            let c = &c;
            scope.spawn(move || {
                let events = (0..bound)
                    .map(|i| event(&format!("made.up.{round}.{i}"), "u1", None))
                    .collect();
                assert_eq!(c.post_batch(&batch(vec![], events)).status(), 202);
            });
        }
    });
    let ms = metrics(&c);
    let mut types: Vec<&str> = ms
        .iter()
        .map(|m| m["event_type"].as_str().expect("type"))
        .collect();
    types.sort_unstable();
    types.dedup();
    assert_eq!(types.len(), bound);
    let stats = c.admin_get("/api/v1/admin/stats");
    let stored = stats["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| {
            e["event_type"]
                .as_str()
                .is_some_and(|t| t.starts_with("made.up."))
        })
        .count();
    assert_eq!(
        stored,
        3 * bound,
        "the events past the bound are stored all the same"
    );
}

#[test]
fn custom_metrics_are_validated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = TestCollector::start(dir.path());
    let good = json!({
        "name": "revenue per user", "event_type": "purchase", "metric_type": "sum",
        "direction": "increase", "value_property": "amount", "cap": 1000.0
    });
    let r = c.admin_post("/api/v1/admin/metrics", good.clone());
    assert_eq!(r.status(), 201);
    let created: Value = r.json().expect("json");
    assert_eq!(created["auto_created"], false);
    assert_eq!(created["cap"], 1000.0);

    for (field, value, needle) in [
        ("metric_type", json!("median"), "metric_type"),
        ("direction", json!("up"), "direction"),
        ("event_type", json!("bad type"), "event_type"),
        ("cap", json!("big"), "cap"),
    ] {
        let mut bad = good.clone();
        bad[field] = value;
        let r = c.admin_post("/api/v1/admin/metrics", bad);
        assert_eq!(r.status(), 400, "{field}");
        let msg: Value = r.json().expect("json");
        assert!(
            msg["error"].as_str().expect("msg").contains(needle),
            "{msg} names {needle}"
        );
    }
    let mut ratio = good.clone();
    ratio["metric_type"] = json!("ratio");
    let r = c.admin_post("/api/v1/admin/metrics", ratio);
    assert_eq!(r.status(), 400);
    assert_eq!(metrics(&c).len(), 1);
}

#[test]
fn a_metric_is_edited_in_place_and_validated_like_a_new_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = TestCollector::start(dir.path());
    let r = c.admin_post(
        "/api/v1/admin/metrics",
        json!({ "name": "revenue", "event_type": "purchase", "metric_type": "sum",
                "direction": "increase", "value_property": "amount", "cap": 1000.0 }),
    );
    assert_eq!(r.status(), 201);
    let created: Value = r.json().expect("json");
    let id = created["id"].as_i64().expect("id");
    let path = format!("/api/v1/admin/metrics/{id}");
    let edited = json!({ "name": "purchases per user", "event_type": "checkout.purchase",
        "metric_type": "count", "direction": "increase" });
    let r = c.admin(reqwest::Method::PUT, &path, Some(edited));
    assert_eq!(r.status(), 200);
    let saved: Value = r.json().expect("json");
    assert_eq!(saved["id"], id);
    assert_eq!(saved["created_at"], created["created_at"]);
    assert_eq!(saved["auto_created"], false);
    assert_eq!(saved["name"], "purchases per user");
    assert_eq!(saved["event_type"], "checkout.purchase");
    assert_eq!(saved["metric_type"], "count");
    // Replaced, not merged: what the body leaves out is cleared.
    assert_eq!(saved["value_property"], Value::Null);
    assert_eq!(saved["cap"], Value::Null);
    assert_eq!(metrics(&c), vec![saved.clone()], "the list reads the edit");

    for (field, value) in [
        ("metric_type", json!("median")),
        ("direction", json!("up")),
        ("event_type", json!("bad type")),
        ("cap", json!("big")),
        ("apdex_target_ms", json!(300.0)),
    ] {
        let mut bad = json!({ "name": "x", "event_type": "purchase", "metric_type": "count",
            "direction": "increase" });
        bad[field] = value;
        let r = c.admin(reqwest::Method::PUT, &path, Some(bad));
        assert_eq!(r.status(), 400, "{field}");
        let msg: Value = r.json().expect("json");
        assert!(
            msg["error"].as_str().expect("msg").contains(field),
            "{msg} names {field}"
        );
    }
    assert_eq!(metrics(&c), vec![saved], "a refused edit changes nothing");

    let ok = json!({ "name": "x", "event_type": "purchase", "metric_type": "count",
        "direction": "increase" });
    let r = c.admin(
        reqwest::Method::PUT,
        "/api/v1/admin/metrics/9999",
        Some(ok.clone()),
    );
    assert_eq!(r.status(), 404);
    let r = c.admin(reqwest::Method::DELETE, &path, None);
    assert_eq!(r.status(), 204);
    let r = c.admin(reqwest::Method::PUT, &path, Some(ok));
    assert_eq!(r.status(), 404, "a deleted metric cannot be edited back");
}
