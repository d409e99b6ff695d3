//! Channel CRUD over the admin API: validation naming fields, conflicts, redacted secrets kept
//! on update, 404s, and email channels when no SMTP server is configured.

mod notify_support;

use collector::notify::ChannelStore;
use notify_support::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_crud_validation_and_redaction() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = start(dir.path(), None).await;
    let a = Admin::new(&c);
    let hook = json!({"name": "hook", "kind": "webhook",
                      "config": {"url": "https://example.invalid/h", "secret": "k1"}});
    let id = a.channel(hook.clone()).await;
    // Same name again: 409.
    let (s, _) = a.post("/api/v1/admin/channels", hook.clone()).await;
    assert_eq!(s, 409);

    let bad = [
        (
            json!({"name": "", "kind": "webhook", "config": {"url": "http://x/", "secret": "k"}}),
            "name",
        ),
        (json!({"name": "a", "kind": "sms", "config": {}}), "kind"),
        (
            json!({"name": "a", "kind": "webhook", "config": {"url": "ftp://x/", "secret": "k"}}),
            "config.url",
        ),
        (
            json!({"name": "a", "kind": "webhook", "config": {"url": "not a url", "secret": "k"}}),
            "config.url",
        ),
        (
            json!({"name": "a", "kind": "webhook", "config": {"url": "http://x/", "secret": ""}}),
            "config.secret",
        ),
        (
            json!({"name": "a", "kind": "webhook", "config": {"url": "http://x/"}}),
            "config",
        ),
        (
            json!({"name": "a", "kind": "email", "config": {"to": []}}),
            "config.to",
        ),
        (
            json!({"name": "a", "kind": "email", "config": {"to": ["ok@x.test", "nope"]}}),
            "config.to[1]",
        ),
        (
            json!({"name": "a", "kind": "email", "config": {"to": ["ok@x.test"], "cc": []}}),
            "config",
        ),
        (json!({"name": "a", "kind": "email"}), "config"),
    ];
    for (body, field) in bad {
        let (s, v) = a.post("/api/v1/admin/channels", body.clone()).await;
        assert_eq!(s, 400, "{body}");
        let msg = v["error"].as_str().expect("message");
        assert!(msg.contains(field), "{body}: {msg} does not name {field}");
    }

    // Secrets never come back.
    let (s, one) = a.get(&format!("/api/v1/admin/channels/{id}")).await;
    assert_eq!(s, 200);
    assert_eq!(one["config"]["secret"], "********");
    assert_eq!(one["config"]["url"], "https://example.invalid/h");
    let (_, all) = a.get("/api/v1/admin/channels").await;
    assert_eq!(all.as_array().expect("array").len(), 1);
    assert_eq!(all[0]["config"]["secret"], "********");

    // Update with the redacted secret keeps the stored one; a new secret replaces it.
    let mut renamed = one.clone();
    renamed["name"] = json!("hook-2");
    let body = json!({"name": "hook-2", "kind": "webhook", "config": renamed["config"]});
    let (s, v) = a
        .send(
            Method::PUT,
            &format!("/api/v1/admin/channels/{id}"),
            Some(body),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["name"], "hook-2");

    // The redacted text cannot become a secret: a channel without a stored one refuses it.
    let plain = a
        .channel(json!({"name": "plain-mail", "kind": "email", "config": {"to": ["a@x.test"]}}))
        .await;
    let (s, v) = a
        .send(
            Method::PUT,
            &format!("/api/v1/admin/channels/{plain}"),
            Some(json!({"name": "plain-mail", "kind": "webhook",
                        "config": {"url": "http://x/", "secret": "********"}})),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"]
            .as_str()
            .expect("message")
            .contains("config.secret"),
        "{v}"
    );
    let (s, _) = a
        .send(
            Method::DELETE,
            &format!("/api/v1/admin/channels/{plain}"),
            None,
        )
        .await;
    assert_eq!(s, 204);

    // An email channel without an SMTP server: the attempt is logged with the reason.
    let mail = a
        .channel(json!({"name": "mail", "kind": "email", "config": {"to": ["oncall@x.test"]}}))
        .await;
    let (s, _) = a
        .post(&format!("/api/v1/admin/channels/{mail}/test"), json!(null))
        .await;
    assert_eq!(s, 202);
    let rows = a.deliveries_until(mail, |r| !r.is_empty()).await;
    assert_eq!(rows.len(), 1);
    assert!(
        rows[0]["error"]
            .as_str()
            .expect("error")
            .contains("not configured")
    );

    // 404s and 401.
    for (m, p) in [
        (Method::GET, "/api/v1/admin/channels/999"),
        (Method::DELETE, "/api/v1/admin/channels/999"),
        (Method::POST, "/api/v1/admin/channels/999/test"),
        (Method::GET, "/api/v1/admin/channels/999/deliveries"),
    ] {
        let (s, _) = a.send(m.clone(), p, None).await;
        assert_eq!(s, 404, "{m} {p}");
    }
    let r = a
        .http
        .get(format!("{}/api/v1/admin/channels", a.base))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 401);

    // Delete: gone from the list; its delivery log is kept in the store.
    let (s, _) = a
        .send(
            Method::DELETE,
            &format!("/api/v1/admin/channels/{mail}"),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (_, all) = a.get("/api/v1/admin/channels").await;
    assert_eq!(all.as_array().expect("array").len(), 1);
    c.shutdown().await.expect("clean shutdown");

    // The stored secret survived the update with the redacted placeholder.
    let store = collector::store::SqliteStore::open(dir.path()).expect("reopen");
    let stored = store.channel(id).expect("channel");
    assert_eq!(stored.name, "hook-2");
    assert_eq!(stored.config["secret"], "k1");
    assert_eq!(store.deliveries(mail, 10).expect("log").len(), 1);
}
