//! Email delivery through a minimal SMTP server written here (220/250/354/221 on loopback):
//! a test send over the API, an alert through the `Notifier`, and a transient 451 retried.

mod notify_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use collector::notify::{
    AlertDetails, AlertState, ChannelKind, Impact, Interval, NewChannel, Notification, Notifier,
    NotifyConfig,
};
use collector::store::{SqliteStore, Store};
use notify_support::*;
use serde_json::json;
use stats::degradation::Threshold;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[derive(Debug, Clone, Default)]
struct Mail {
    from: String,
    to: Vec<String>,
    data: String,
}

#[derive(Clone, Default)]
struct Sink {
    mails: Arc<Mutex<Vec<Mail>>>,
    /// Answers `451` to this many `MAIL FROM` commands first.
    fail_first: Arc<AtomicUsize>,
}

async fn session(sink: Sink, stream: tokio::net::TcpStream) -> std::io::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut lines = BufReader::new(r).lines();
    w.write_all(b"220 sink.test ESMTP\r\n").await?;
    let mut mail = Mail::default();
    while let Some(line) = lines.next_line().await? {
        let cmd = line.to_ascii_uppercase();
        let reply: &[u8] = if cmd.starts_with("EHLO") || cmd.starts_with("HELO") {
            b"250 sink.test\r\n"
        } else if cmd.starts_with("MAIL FROM:") {
            let failing = sink
                .fail_first
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if failing {
                b"451 4.3.0 try again later\r\n"
            } else {
                mail = Mail {
                    from: line[10..].trim().to_string(),
                    ..Mail::default()
                };
                b"250 OK\r\n"
            }
        } else if cmd.starts_with("RCPT TO:") {
            mail.to.push(line[8..].trim().to_string());
            b"250 OK\r\n"
        } else if cmd == "DATA" {
            w.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
            let mut data = Vec::new();
            while let Some(l) = lines.next_line().await? {
                if l == "." {
                    break;
                }
                data.push(l.strip_prefix('.').map(str::to_string).unwrap_or(l));
            }
            mail.data = data.join("\r\n");
            sink.mails.lock().expect("lock").push(mail.clone());
            b"250 OK queued\r\n"
        } else if cmd == "RSET" || cmd == "NOOP" {
            b"250 OK\r\n"
        } else if cmd == "QUIT" {
            w.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            b"502 command not implemented\r\n"
        };
        w.write_all(reply).await?;
    }
    Ok(())
}

/// Starts the sink on 127.0.0.1:0 and returns its `smtp://` URL.
async fn smtp_sink(sink: Sink) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(session(sink.clone(), stream));
        }
    });
    format!("smtp://{addr}")
}

/// The message body with quoted-printable soft breaks and escapes undone (lettre may pick it).
fn decoded(data: &str) -> String {
    if !data
        .to_ascii_lowercase()
        .contains("content-transfer-encoding: quoted-printable")
    {
        return data.to_string();
    }
    let joined = data.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'=')
            .then(|| joined.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        if let Some(b) = escaped {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_send_reaches_the_smtp_server() {
    let sink = Sink::default();
    let url = smtp_sink(sink.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let c = start(dir.path(), Some(url)).await;
    let a = Admin::new(&c);
    let id = a
        .channel(json!({"name": "oncall mail", "kind": "email",
                        "config": {"to": ["oncall@team.test", "lead@team.test"]}}))
        .await;
    let (s, q) = a
        .post(&format!("/api/v1/admin/channels/{id}/test"), json!(null))
        .await;
    assert_eq!(s, 202);
    let rows = a.deliveries_until(id, |r| !r.is_empty()).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["success"], true, "{rows:?}");
    assert_eq!(rows[0]["status_code"], 250);
    let mails = sink.mails.lock().expect("lock").clone();
    assert_eq!(mails.len(), 1);
    let m = &mails[0];
    assert_eq!(m.from, "<alerts@rum.test>");
    assert_eq!(m.to, ["<oncall@team.test>", "<lead@team.test>"]);
    let body = decoded(&m.data);
    assert!(body.contains("Subject: [rum] test"), "{body}");
    assert!(
        body.contains("Test notification for channel \"oncall mail\""),
        "{body}"
    );
    assert!(
        body.contains(q["notification_id"].as_str().expect("id")),
        "the JSON payload is attached: {body}"
    );
    c.shutdown().await.expect("clean shutdown");
}

fn alert() -> Notification {
    let details = AlertDetails {
        alert_id: Some(7),
        policy_id: Some(3),
        metric_id: 12,
        metric: "checkout_error rate".into(),
        treatment: "on".into(),
        baseline: "off".into(),
        baseline_value: 0.02,
        treatment_value: 0.031,
        baseline_users: 5120,
        treatment_users: 5088,
        impact: Impact {
            absolute: 0.011,
            relative: Some(0.55),
            absolute_interval: Interval {
                lower: Some(0.004),
                upper: None,
            },
            relative_interval: Some(Interval {
                lower: Some(0.2),
                upper: None,
            }),
            confidence: 1.0 - 0.05 / 52.0,
        },
        threshold: Threshold::Relative(0.1),
        desired_direction: "decrease".into(),
        check_time: 1_700_000_000_000,
        check_index: Some(20),
        state: AlertState::Fired,
        mode: Some("sequential".into()),
        srm_warning: false,
        flag_killed: true,
    };
    Notification::alert("new-checkout", 42, details, 1_700_000_000_500)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_email_is_retried_after_a_451_and_carries_the_alert() {
    let sink = Sink::default();
    sink.fail_first.store(1, Ordering::SeqCst);
    let url = smtp_sink(sink.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).expect("store"));
    let config = NotifyConfig {
        smtp_url: Some(url),
        smtp_from: "Release monitor <alerts@rum.test>".into(),
        base_delay: std::time::Duration::from_millis(10),
        ..NotifyConfig::default()
    };
    let notifier = Notifier::start(store.clone(), config).expect("notifier");
    let channel = store
        .create_channel(NewChannel {
            name: "mail".into(),
            kind: ChannelKind::Email,
            config: json!({"to": ["oncall@team.test"]}),
        })
        .expect("channel");
    let n = alert();
    assert_eq!(n.kind.as_str(), "alert_fired");
    notifier
        .enqueue(channel.clone(), n.clone())
        .await
        .expect("queued");

    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let rows = loop {
        let s = store.clone();
        let id = channel.id;
        let rows = tokio::task::spawn_blocking(move || s.deliveries(id, 10))
            .await
            .expect("task")
            .expect("log");
        if rows.iter().any(|d| d.attempt.success) {
            break rows;
        }
        assert!(tokio::time::Instant::now() < deadline, "{rows:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    // Newest first: the 451 was retried once.
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[1].attempt.attempt, 1);
    assert_eq!(rows[1].attempt.status_code, Some(451));
    assert!(!rows[1].attempt.success);
    assert_eq!(rows[0].attempt.attempt, 2);
    assert_eq!(rows[0].attempt.status_code, Some(250));
    assert_eq!(rows[0].attempt.notification_kind, "alert_fired");
    assert_eq!(rows[0].attempt.notification_id, n.id.to_string());

    let mails = sink.mails.lock().expect("lock").clone();
    assert_eq!(mails.len(), 1);
    let body = decoded(&mails[0].data);
    for want in [
        "Subject: [rum] alert_fired new-checkout: checkout_error rate",
        "Flag new-checkout version 42: metric \"checkout_error rate\" degraded in treatment on vs baseline off",
        "Baseline 0.020000 (5120 users), treatment 0.031000 (5088 users)",
        "impact +0.011000 (+55.00 %)",
        "[0.004000, inf]",
        "threshold 10 % relative",
        "The flag was killed by the alert policy.",
        "\"check_time\": 1700000000000",
        "\"state\": \"fired\"",
    ] {
        assert!(body.contains(want), "missing {want:?} in {body}");
    }
    store.close();
}
