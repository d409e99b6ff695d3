//! One webhook delivery attempt: a signed JSON POST.

use super::channel::WebhookConfig;
use super::sign::{
    ATTEMPT_HEADER, NOTIFICATION_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign,
};

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Accepted: stop.
    Delivered,
    /// Failed in a way a retry may fix (network error, timeout, 5xx, 429).
    Retry,
    /// Failed for good (other 4xx, bad configuration): stop.
    GiveUp,
}

/// The result of one attempt, as logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// HTTP status or SMTP reply code, when one was received.
    pub status_code: Option<u16>,
    /// What went wrong.
    pub error: Option<String>,
    /// What to do next.
    pub verdict: Verdict,
}

/// The verdict for an HTTP status.
pub fn verdict_for(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered,
        429 | 500..=599 => Verdict::Retry,
        _ => Verdict::GiveUp,
    }
}

/// POSTs `body` to the webhook, signed with a fresh timestamp (so each retry is fresh).
pub async fn post(
    client: &reqwest::Client,
    cfg: &WebhookConfig,
    notification_id: &str,
    body: &[u8],
    attempt: u32,
) -> Attempt {
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        .to_string();
    let sig = sign(cfg.secret.as_bytes(), &ts, body);
    let sent = client
        .post(&cfg.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::USER_AGENT, "rum-collector-webhook")
        .header(TIMESTAMP_HEADER, &ts)
        .header(SIGNATURE_HEADER, sig)
        .header(NOTIFICATION_ID_HEADER, notification_id)
        .header(ATTEMPT_HEADER, attempt.to_string())
        .body(body.to_vec())
        .send()
        .await;
    match sent {
        Ok(r) => {
            let status = r.status().as_u16();
            let verdict = verdict_for(status);
            let error = (verdict != Verdict::Delivered).then(|| format!("HTTP {status}"));
            Attempt {
                status_code: Some(status),
                error,
                verdict,
            }
        }
        Err(e) => Attempt {
            status_code: None,
            // The chain of causes says whether it was a refused connection, a timeout, ...
            error: Some(error_chain(&e)),
            verdict: if e.is_builder() {
                Verdict::GiveUp
            } else {
                Verdict::Retry
            },
        },
    }
}

/// An error and its sources, joined with ": ".
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}
