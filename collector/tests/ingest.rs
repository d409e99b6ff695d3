//! Ingest over HTTP into a real SQLite file: plain, gzip, idempotency, durability across restarts.

mod common;

use common::*;
use serde_json::json;

#[test]
fn plain_gzip_and_text_plain_batches_are_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = TestCollector::start(dir.path());

    let b1 = batch(
        vec![
            impression("u1", "checkout", "on"),
            impression("u2", "checkout", "off"),
        ],
        vec![
            event("error", "u1", None),
            event("purchase", "u2", Some(12.5)),
        ],
    );
    let r = c.post_batch(&b1);
    assert_eq!(r.status(), 202);
    let body: serde_json::Value = r.json().expect("json");
    assert_eq!(body, json!({"accepted": 4, "duplicates": 0}));

    let b2 = batch(
        vec![],
        (0..500)
            .map(|i| event("timing.load", &format!("u{i}"), Some(i as f64)))
            .collect(),
    );
    let r = c.post_batch_gzip(&b2);
    assert_eq!(r.status(), 202);
    assert_eq!(
        r.json::<serde_json::Value>().expect("json")["accepted"],
        500
    );

    let b3 = batch(vec![impression("u3", "checkout", "on")], vec![]);
    let r = c.post_raw(
        Some(SDK),
        &[("content-type", "text/plain;charset=UTF-8")],
        serde_json::to_vec(&b3).expect("json"),
    );
    assert_eq!(r.status(), 202);

    let stats = c.stats();
    assert_eq!(totals(&stats), (3, 3, 502));
    let timing = stats["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["event_type"] == "timing.load")
        .expect("timing row");
    assert_eq!(timing["users"], 500);
    assert_eq!(
        timing["value_sum"].as_f64(),
        Some((0..500).sum::<i32>() as f64)
    );
    let on = stats["impressions"]
        .as_array()
        .expect("impressions")
        .iter()
        .find(|e| e["flag"] == "checkout" && e["treatment"] == "on")
        .expect("on row");
    assert_eq!(on["impressions"], 2);
}

#[test]
fn retried_batches_are_not_double_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = TestCollector::start(dir.path());
    let b = batch(
        vec![impression("u1", "f", "on")],
        vec![event("error", "u1", None), event("error", "u2", None)],
    );
    assert_eq!(c.post_batch(&b).status(), 202);
    // Same batch id again: answered 202, nothing inserted.
    let r = c.post_batch_gzip(&b);
    assert_eq!(r.status(), 202);
    assert_eq!(
        r.json::<serde_json::Value>().expect("json"),
        json!({"accepted": 0, "duplicates": 3})
    );
    // Same items under a new batch id (an agent re-batching after a crash): items deduplicated.
    let mut again = b.clone();
    again["batch_id"] = json!(uuid());
    again["events"]
        .as_array_mut()
        .expect("events")
        .push(event("error", "u3", None));
    let r = c.post_batch(&again);
    assert_eq!(r.status(), 202);
    assert_eq!(
        r.json::<serde_json::Value>().expect("json"),
        json!({"accepted": 1, "duplicates": 3})
    );
    assert_eq!(totals(&c.stats()), (2, 1, 3));
}

#[test]
fn concurrent_batches_are_all_committed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = TestCollector::start(dir.path());
    std::thread::scope(|s| {
        for t in 0..8 {
            let c = &c;
            s.spawn(move || {
                for _ in 0..5 {
                    let b = batch(
                        vec![],
                        (0..50)
                            .map(|i| event("purchase", &format!("t{t}u{i}"), Some(1.0)))
                            .collect(),
                    );
                    assert_eq!(c.post_batch_gzip(&b).status(), 202);
                }
            });
        }
    });
    assert_eq!(totals(&c.stats()), (40, 0, 2000));
}

#[test]
fn data_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = TestCollector::start(dir.path());
    let b = batch(
        vec![impression("u1", "f", "on")],
        vec![event("crash", "u1", None)],
    );
    assert_eq!(c.post_batch(&b).status(), 202);
    let r = c.admin_post("/api/v1/admin/flags", flag_body("persisted"));
    assert_eq!(r.status(), 201, "{}", r.text().unwrap_or_default());
    c.stop();

    let c = TestCollector::start(dir.path());
    assert_eq!(totals(&c.stats()), (1, 1, 1));
    // The retried batch is still recognised after the restart.
    let r = c.post_batch(&b);
    assert_eq!(
        r.json::<serde_json::Value>().expect("json")["duplicates"],
        2
    );
    let flag = c.admin_get("/api/v1/admin/flags/persisted");
    assert_eq!(flag["version"], 1);
    let metrics = c.admin_get("/api/v1/admin/metrics");
    assert_eq!(metrics.as_array().expect("metrics").len(), 2);
}

#[test]
fn browsers_can_beacon_with_a_query_key_and_pass_cors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = TestCollector::start(dir.path());
    // sendBeacon: text/plain, no headers of its own, the SDK key in the URL.
    let b = batch(vec![impression("u1", "f", "on")], vec![]);
    let r = c
        .client
        .post(c.url(&format!("/api/v1/batch?sdk_key={SDK}")))
        .header("content-type", "text/plain;charset=UTF-8")
        .body(serde_json::to_vec(&b).expect("json"))
        .send()
        .expect("sent");
    assert_eq!(r.status(), 202);
    // Admin keys are never taken from URLs.
    let r = c
        .client
        .get(c.url(&format!("/api/v1/admin/stats?sdk_key={ADMIN}")))
        .send()
        .expect("sent");
    assert_eq!(r.status(), 401);
    let r = c
        .client
        .get(c.url("/api/v1/flags?sdk_key=wrong"))
        .send()
        .expect("sent");
    assert_eq!(r.status(), 401);

    let r = c
        .client
        .request(reqwest::Method::OPTIONS, c.url("/api/v1/batch"))
        .header("origin", "https://shop.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type,content-encoding",
        )
        .send()
        .expect("sent");
    assert!(r.status().is_success());
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    let allowed = r.headers()["access-control-allow-headers"]
        .to_str()
        .expect("ascii")
        .to_ascii_lowercase();
    assert!(allowed.contains("authorization") && allowed.contains("content-encoding"));
    // A page on another origin may read Retry-After (and ETag) from the answers.
    let r = c
        .client
        .get(c.url(&format!("/api/v1/flags?sdk_key={SDK}")))
        .header("origin", "https://shop.example")
        .send()
        .expect("sent");
    let exposed = r.headers()["access-control-expose-headers"]
        .to_str()
        .expect("ascii")
        .to_ascii_lowercase();
    assert!(
        exposed.contains("retry-after") && exposed.contains("etag"),
        "{exposed}"
    );
    assert_eq!(totals(&c.stats()), (1, 1, 0));
}
