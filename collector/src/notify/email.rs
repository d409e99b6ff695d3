//! One email delivery attempt through the configured SMTP server (lettre, async on tokio).
//!
//! `smtp://host:port` is plain SMTP (STARTTLS only if `?tls=required` is added),
//! `smtps://host:port` is implicit TLS; credentials go in the URL (`smtp://user:pass@host`).

use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::channel::EmailConfig;
use super::payload::Notification;
use super::webhook::{Attempt, Verdict, error_chain};

/// A configured SMTP transport and sender address.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// Builds a mailer from an `smtp://` or `smtps://` URL and a sender address.
    pub fn new(url: &str, from: &str) -> Result<Mailer, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("smtp url: {e}"))?
            .timeout(Some(std::time::Duration::from_secs(30)))
            .build();
        let from = from
            .parse::<Mailbox>()
            .map_err(|e| format!("smtp from: not an email address: {e}"))?;
        Ok(Mailer { transport, from })
    }

    /// Sends `n` to the channel's recipients: the summary text, then the JSON payload.
    pub async fn send(&self, cfg: &EmailConfig, n: &Notification) -> Attempt {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(n.subject())
            .header(ContentType::TEXT_PLAIN);
        for to in &cfg.to {
            match to.parse::<Mailbox>() {
                Ok(m) => builder = builder.to(m),
                Err(e) => return give_up(format!("to: {to}: {e}")),
            }
        }
        let json = serde_json::to_string_pretty(n).unwrap_or_default();
        let message = match builder.body(format!("{}\n\n{json}\n", n.text)) {
            Ok(m) => m,
            Err(e) => return give_up(format!("message: {e}")),
        };
        match self.transport.send(message).await {
            Ok(r) => Attempt {
                status_code: Some(u16::from(r.code())),
                error: None,
                verdict: Verdict::Delivered,
            },
            Err(e) => Attempt {
                status_code: e.status().map(u16::from),
                error: Some(error_chain(&e)),
                // A permanent (5xx) refusal will not change on retry; anything else may.
                verdict: if e.is_permanent() {
                    Verdict::GiveUp
                } else {
                    Verdict::Retry
                },
            },
        }
    }
}

fn give_up(error: String) -> Attempt {
    Attempt {
        status_code: None,
        error: Some(error),
        verdict: Verdict::GiveUp,
    }
}
