//! An auto-created metric edited to another event type, or deleted, is not silently re-created
//! when more events of its original type arrive (real collector on loopback, SQLite in a temp
//! dir, over HTTP; also after a restart). The collector records every event type it has handled
//! (`seen_event_types`) and creates defaults only the first time a type is seen, whatever became
//! of those defaults since.

#[path = "monitoring_support/mod.rs"]
mod monitoring_support;
mod notify_support;

use monitoring_support::{send, start};
use notify_support::Admin;
use serde_json::{Value, json};

fn errors(n: usize, event_type: &str) -> Vec<(bool, Value)> {
    (0..n)
        .map(|u| {
            (
                false,
                json!({"id": uuid::Uuid::new_v4().to_string(), "key": format!("user-{u}"),
                       "traffic_type": "user", "type": event_type, "value": null,
                       "ts": 1_700_000_000_000i64 + u as i64, "properties": {}}),
            )
        })
        .collect()
}

async fn metrics(admin: &Admin) -> Vec<Value> {
    let (s, v) = admin.get("/api/v1/admin/metrics").await;
    assert_eq!(s, 200, "{v}");
    v.as_array().expect("metrics").clone()
}

fn of_type<'a>(ms: &'a [Value], event_type: &str) -> Vec<&'a Value> {
    ms.iter()
        .filter(|m| m["event_type"] == event_type)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_or_deleted_auto_created_metric_is_not_created_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = start(dir.path()).await;
    let admin = Admin::new(&c);

    // The first rum.error events create its two defaults.
    send(&c, &errors(5, "rum.error")).await;
    let ms = metrics(&admin).await;
    let auto = of_type(&ms, "rum.error");
    assert_eq!(auto.len(), 2, "{ms:?}");
    assert!(auto.iter().all(|m| m["auto_created"] == true), "{auto:?}");
    let count = auto
        .iter()
        .find(|m| m["metric_type"] == "count")
        .expect("count default");
    let percent = auto
        .iter()
        .find(|m| m["metric_type"] == "percent_users")
        .expect("percent default");
    let (count_id, percent_id) = (count["id"].as_i64(), percent["id"].as_i64());

    // Point the count at another event type, delete the other default.
    let (s, edited) = admin
        .send(
            reqwest::Method::PUT,
            &format!("/api/v1/admin/metrics/{}", count_id.expect("id")),
            Some(
                json!({"name": "checkout errors per user", "event_type": "checkout.failed",
                        "metric_type": "count", "direction": "decrease"}),
            ),
        )
        .await;
    assert_eq!(s, 200, "{edited}");
    assert_eq!(edited["event_type"], "checkout.failed");
    let (s, v) = admin
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/admin/metrics/{}", percent_id.expect("id")),
            None,
        )
        .await;
    assert_eq!(s, 204, "{v}");

    // More rum.error events: nothing is created for it again.
    send(&c, &errors(5, "rum.error")).await;
    let ms = metrics(&admin).await;
    assert!(of_type(&ms, "rum.error").is_empty(), "{ms:?}");
    assert_eq!(of_type(&ms, "checkout.failed").len(), 1, "{ms:?}");
    // A type never seen before still gets its defaults (the check above is not vacuous).
    send(&c, &errors(3, "app.error")).await;
    let ms = metrics(&admin).await;
    assert_eq!(of_type(&ms, "app.error").len(), 2, "{ms:?}");

    // The same after a restart (the handled types are read back from the file).
    c.shutdown().await.expect("shutdown");
    let c = start(dir.path()).await;
    let admin = Admin::new(&c);
    send(&c, &errors(5, "rum.error")).await;
    let after = metrics(&admin).await;
    assert!(of_type(&after, "rum.error").is_empty(), "{after:?}");
    assert_eq!(after.len(), ms.len(), "{after:?}");

    // The API description says so.
    let (_, doc) = admin.get("/api/v1/openapi.json").await;
    let put = doc["paths"]["/api/v1/admin/metrics/{id}"]["put"]["summary"]
        .as_str()
        .unwrap_or_default()
        .to_string()
        + doc["paths"]["/api/v1/admin/metrics/{id}"]["put"]["description"]
            .as_str()
            .unwrap_or_default();
    assert!(put.contains("not auto-created again"), "{put}");
    c.shutdown().await.expect("shutdown");
}
