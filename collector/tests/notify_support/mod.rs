//! Helpers of the notification tests: an in-process collector with tiny retry delays, an admin
//! client, delivery-log polling, and an independent HMAC check.
#![allow(dead_code)]

use std::time::Duration;

use collector::{Config, RunningCollector};
use hmac::{KeyInit, Mac};
use serde_json::Value;

pub const ADMIN: &str = "test-admin-key";

/// A collector whose retries wait milliseconds, not seconds.
pub async fn start(dir: &std::path::Path, smtp_url: Option<String>) -> RunningCollector {
    let mut config = Config::new(([127, 0, 0, 1], 0).into(), dir).admin_key(ADMIN);
    config.notify.base_delay = Duration::from_millis(10);
    config.notify.max_delay = Duration::from_millis(40);
    config.notify.max_attempts = 6;
    config.notify.smtp_url = smtp_url;
    config.notify.smtp_from = "alerts@rum.test".into();
    collector::spawn(config).await.expect("collector starts")
}

/// An admin client for `base`.
pub struct Admin {
    pub http: reqwest::Client,
    pub base: String,
}

impl Admin {
    pub fn new(c: &RunningCollector) -> Admin {
        Admin {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .expect("client"),
            base: c.url(),
        }
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(ADMIN);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.expect("sent");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    /// Creates a channel and returns its id.
    pub async fn channel(&self, body: Value) -> i64 {
        let (s, v) = self.post("/api/v1/admin/channels", body).await;
        assert_eq!(s, 201, "{v}");
        v["id"].as_i64().expect("id")
    }

    /// Polls the delivery log until `pred` holds (oldest first); panics after 60 s (a hang guard,
    /// not a timing assertion).
    pub async fn deliveries_until(
        &self,
        channel: i64,
        pred: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let (s, v) = self
                .get(&format!("/api/v1/admin/channels/{channel}/deliveries"))
                .await;
            assert_eq!(s, 200, "{v}");
            let mut rows = v.as_array().expect("array").clone();
            rows.reverse();
            if pred(&rows) {
                return rows;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "delivery log never matched: {rows:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// HMAC-SHA256(secret, timestamp + "." + body) as lower-case hex, computed here independently.
pub fn expected_signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    m.update(timestamp.as_bytes());
    m.update(b".");
    m.update(body);
    format!("sha256={}", hex::encode(m.finalize().into_bytes()))
}
