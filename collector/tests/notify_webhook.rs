//! Webhook delivery against a real receiving HTTP server on loopback: HMAC signatures checked by
//! the receiver, retries with backoff after 503s, a wrong secret, an unreachable receiver.

mod notify_support;

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use notify_support::*;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
struct Received {
    verified: bool,
    attempt: String,
    notification_id: String,
    body: Value,
}

#[derive(Clone)]
struct Receiver {
    secret: String,
    /// Answers 503 to this many requests before answering 200.
    fail_first: usize,
    got: Arc<Mutex<Vec<Received>>>,
}

fn header(h: &HeaderMap, name: &str) -> String {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

async fn hook(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let ts = header(&headers, "x-rum-timestamp");
    let sig = header(&headers, "x-rum-signature");
    let verified = !ts.is_empty() && sig == expected_signature(&r.secret, &ts, &body);
    let mut got = r.got.lock().expect("lock");
    got.push(Received {
        verified,
        attempt: header(&headers, "x-rum-attempt"),
        notification_id: header(&headers, "x-rum-notification-id"),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    if !verified {
        StatusCode::UNAUTHORIZED
    } else if got.len() <= r.fail_first {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    }
}

/// Starts a receiver on 127.0.0.1:0 and returns its hook URL.
async fn receiver(r: Receiver) -> String {
    let app = axum::Router::new().route("/hook", post(hook)).with_state(r);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/hook")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_webhook_is_retried_after_503s_and_every_attempt_is_logged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = start(dir.path(), None).await;
    let admin = Admin::new(&c);
    let got = Arc::new(Mutex::new(Vec::new()));
    let url = receiver(Receiver {
        secret: "s3cret-shared".into(),
        fail_first: 2,
        got: got.clone(),
    })
    .await;
    let id = admin
        .channel(json!({"name": "ops hook", "kind": "webhook",
                        "config": {"url": url, "secret": "s3cret-shared"}}))
        .await;
    let (s, queued) = admin
        .post(&format!("/api/v1/admin/channels/{id}/test"), json!(null))
        .await;
    assert_eq!(s, 202, "{queued}");
    let nid = queued["notification_id"].as_str().expect("id").to_string();

    let rows = admin
        .deliveries_until(id, |r| r.iter().any(|d| d["success"] == true))
        .await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    for (i, (d, code)) in rows.iter().zip([503, 503, 200]).enumerate() {
        assert_eq!(d["attempt"], i as u64 + 1);
        assert_eq!(d["status_code"], code);
        assert_eq!(d["success"], code == 200);
        assert_eq!(d["notification_id"], nid.as_str());
        assert_eq!(d["notification_kind"], "test");
        assert_eq!(d["channel_id"], id);
    }
    let got = got.lock().expect("lock").clone();
    assert_eq!(got.len(), 3);
    for (i, r) in got.iter().enumerate() {
        assert!(r.verified, "attempt {i} failed HMAC verification");
        assert_eq!(r.attempt, (i + 1).to_string());
        assert_eq!(r.notification_id, nid);
        assert_eq!(r.body["kind"], "test");
        assert_eq!(r.body["id"], nid.as_str());
        assert!(r.body["text"].as_str().expect("text").contains("ops hook"));
    }
    c.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secret_fails_verification_and_is_not_retried() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = start(dir.path(), None).await;
    let admin = Admin::new(&c);
    let got = Arc::new(Mutex::new(Vec::new()));
    let url = receiver(Receiver {
        secret: "the-right-one".into(),
        fail_first: 0,
        got: got.clone(),
    })
    .await;
    let id = admin
        .channel(json!({"name": "wrong", "kind": "webhook",
                        "config": {"url": url, "secret": "not-the-right-one"}}))
        .await;
    let (s, _) = admin
        .post(&format!("/api/v1/admin/channels/{id}/test"), json!(null))
        .await;
    assert_eq!(s, 202);
    let rows = admin.deliveries_until(id, |r| !r.is_empty()).await;
    assert_eq!(rows[0]["status_code"], 401);
    assert_eq!(rows[0]["success"], false);
    assert!(rows[0]["error"].as_str().expect("error").contains("401"));
    // A 4xx is final: a second test send's single attempt proves the first had no retries queued.
    let (s, _) = admin
        .post(&format!("/api/v1/admin/channels/{id}/test"), json!(null))
        .await;
    assert_eq!(s, 202);
    let rows = admin.deliveries_until(id, |r| r.len() >= 2).await;
    assert!(rows.iter().all(|d| d["attempt"] == 1), "{rows:?}");
    let got = got.lock().expect("lock").clone();
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|r| !r.verified));
    c.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_receiver_is_retried_up_to_the_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = start(dir.path(), None).await;
    let admin = Admin::new(&c);
    // A port that was free a moment ago: nothing listens there now.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let id = admin
        .channel(json!({"name": "down", "kind": "webhook",
                        "config": {"url": format!("http://127.0.0.1:{port}/hook"), "secret": "x"}}))
        .await;
    admin
        .post(&format!("/api/v1/admin/channels/{id}/test"), json!(null))
        .await;
    let rows = admin.deliveries_until(id, |r| r.len() >= 6).await;
    assert_eq!(rows.len(), 6, "max_attempts is 6");
    for (i, d) in rows.iter().enumerate() {
        assert_eq!(d["attempt"], i as u64 + 1);
        assert!(d["status_code"].is_null());
        assert!(!d["error"].as_str().expect("error").is_empty());
        assert_eq!(d["success"], false);
    }
    c.shutdown().await.expect("clean shutdown");
}
