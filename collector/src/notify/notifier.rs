//! The background delivery worker over the durable outbox ([`super::outbox`]): claims due rows,
//! one tokio task per attempt (at most `max_in_flight` at once), exponential backoff with jitter
//! between attempts, every attempt written to the delivery log with its row's new state.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;

use super::channel::{Channel, ChannelConfig};
use super::email::Mailer;
use super::outbox::{AttemptEnd, OutboxRow};
use super::payload::Notification;
use super::store::NewDelivery;
use super::webhook::{self, Attempt, Verdict};
use crate::store::sqlite::now_ms;
use crate::store::{Store, StoreError};

/// Delivery settings (`collector serve --smtp-url ... --smtp-from ...`).
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    /// `smtp://host:port` or `smtps://host:port`; None: email channels log an error.
    pub smtp_url: Option<String>,
    /// Sender address of emails.
    pub smtp_from: String,
    /// Attempts per delivery, the first included.
    pub max_attempts: u32,
    /// Delay before the second attempt; doubles each time (with jitter).
    pub base_delay: Duration,
    /// Longest delay between attempts.
    pub max_delay: Duration,
    /// Timeout of one webhook request.
    pub request_timeout: Duration,
    /// Deliveries in progress at once.
    pub max_in_flight: usize,
}

impl Default for NotifyConfig {
    /// 6 attempts, 1 s doubling to at most 5 min (about 31 s of waiting before the 6th attempt).
    fn default() -> Self {
        NotifyConfig {
            smtp_url: None,
            smtp_from: "rum-collector@localhost".into(),
            max_attempts: 6,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(300),
            request_timeout: Duration::from_secs(10),
            max_in_flight: 16,
        }
    }
}

/// Why a notification could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The outbox write failed (the store is closed or broken).
    #[error("notification outbox: {0}")]
    Store(#[from] StoreError),
    /// The blocking task writing the outbox failed.
    #[error("notification outbox task failed: {0}")]
    Task(String),
}

/// Shared by delivery tasks.
struct Deliverer {
    store: Arc<dyn Store>,
    http: reqwest::Client,
    mailer: Option<Mailer>,
    config: NotifyConfig,
    wake: Arc<Notify>,
}

/// Queues notifications in the durable outbox and wakes the delivery worker; cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    store: Arc<dyn Store>,
    wake: Arc<Notify>,
}

impl Notifier {
    /// Starts the delivery worker on the current tokio runtime; it runs until the runtime ends.
    pub fn start(store: Arc<dyn Store>, config: NotifyConfig) -> anyhow::Result<Notifier> {
        Self::start_until(store, config, None)
    }

    /// Starts the delivery worker; it stops claiming rows (and drops attempts in flight, whose
    /// rows resume at the next start) once `stop` turns true.
    pub fn start_until(
        store: Arc<dyn Store>,
        config: NotifyConfig,
        stop: Option<watch::Receiver<bool>>,
    ) -> anyhow::Result<Notifier> {
        let mailer = match &config.smtp_url {
            Some(url) => Some(Mailer::new(url, &config.smtp_from).map_err(anyhow::Error::msg)?),
            None => None,
        };
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let wake = Arc::new(Notify::new());
        let d = Arc::new(Deliverer {
            store: store.clone(),
            http,
            mailer,
            config,
            wake: wake.clone(),
        });
        tokio::spawn(work(d, stop));
        Ok(Notifier { store, wake })
    }

    /// Queues `notification` for `channel` durably; returns once the row is committed.
    pub async fn enqueue(
        &self,
        channel: Channel,
        notification: Notification,
    ) -> Result<usize, NotifyError> {
        self.enqueue_all(vec![channel], notification).await
    }

    /// Queues one notification for several channels in one transaction.
    pub async fn enqueue_all(
        &self,
        channels: Vec<Channel>,
        notification: Notification,
    ) -> Result<usize, NotifyError> {
        self.queue(channels.iter().map(|c| c.id).collect(), notification, None)
            .await
    }

    /// Queues `notification` for channels by id; with `mark`, records in the same transaction
    /// that policy alert `mark.0` was notified (and whether its flag was killed, `mark.1`).
    pub async fn queue(
        &self,
        channel_ids: Vec<i64>,
        notification: Notification,
        mark: Option<(i64, bool)>,
    ) -> Result<usize, NotifyError> {
        let store = self.store.clone();
        let rows = tokio::task::spawn_blocking(move || {
            store.queue_notification(channel_ids, &notification, mark)
        })
        .await
        .map_err(|e| NotifyError::Task(e.to_string()))??;
        self.wake();
        Ok(rows)
    }

    /// Tells the worker new rows may be due (after a write made elsewhere, e.g. an alert's).
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// Longest wait between two looks at the outbox (rows written by another path are found then).
const POLL: Duration = Duration::from_millis(500);

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, String> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// The worker: drops stale claims, then claims due rows while permits are free and sleeps until
/// the next due row, a wake-up, or `POLL`.
async fn work(d: Arc<Deliverer>, mut stop: Option<watch::Receiver<bool>>) {
    let store = d.store.clone();
    if let Err(e) = blocking(move || store.release_claims()).await {
        tracing::warn!(error = %e, "outbox: releasing claims failed");
    }
    let permits = Arc::new(Semaphore::new(d.config.max_in_flight.max(1)));
    // Longer than any one attempt (webhook timeout; SMTP's own 30 s), so a live attempt's row is
    // never handed out twice.
    let lease = (d.config.request_timeout.max(Duration::from_secs(30)) * 2).as_millis() as i64;
    let mut tasks = JoinSet::new();
    loop {
        if stop.as_ref().is_some_and(|s| *s.borrow()) {
            break;
        }
        // A read first: the claim is a write, taken only when something is due.
        let store = d.store.clone();
        let now = now_ms();
        let next = blocking(move || store.next_due(now)).await;
        let free = permits.available_permits();
        if free > 0 && matches!(next, Ok(Some(t)) if t <= now) {
            let store = d.store.clone();
            match blocking(move || store.claim_due(now, lease, free as u32)).await {
                Ok(rows) => {
                    for row in rows {
                        let Ok(permit) = permits.clone().acquire_owned().await else {
                            break;
                        };
                        let d = d.clone();
                        tasks.spawn(async move {
                            attempt(&d, row).await;
                            drop(permit);
                        });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "outbox: claim failed"),
            }
            continue;
        }
        let wait = match next {
            // Every permit busy: a finishing attempt (join_next below) wakes the loop.
            Ok(Some(_)) if free == 0 => POLL,
            Ok(Some(t)) => {
                Duration::from_millis((t - now).clamp(5, POLL.as_millis() as i64) as u64)
            }
            Ok(None) => POLL,
            Err(e) => {
                tracing::warn!(error = %e, "outbox: reading the next due time failed");
                POLL
            }
        };
        tokio::select! {
            _ = d.wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            _ = stopped(&mut stop) => break,
        }
    }
    // Attempts in flight end here; their rows stay claimed until the next start releases them.
    tasks.abort_all();
}

async fn stopped(stop: &mut Option<watch::Receiver<bool>>) {
    match stop {
        Some(s) => {
            if s.wait_for(|v| *v).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}

/// The delay before attempt `attempt + 1`: base * 2^(attempt - 1), capped, with equal jitter
/// (half fixed, half random) so that many failing deliveries do not retry in lockstep.
pub fn backoff(config: &NotifyConfig, attempt: u32) -> Duration {
    let exp = config
        .base_delay
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    let full = exp.min(config.max_delay);
    let unit = (uuid::Uuid::new_v4().as_u128() as u64) as f64 / u64::MAX as f64;
    full / 2 + full.mul_f64(unit / 2.0)
}

/// One attempt of one outbox row, logged and finished in one transaction.
async fn attempt(d: &Deliverer, row: OutboxRow) {
    let number = row.attempts + 1;
    let store = d.store.clone();
    let channel_id = row.channel_id;
    let channel = blocking(move || match store.channel(channel_id) {
        Ok(c) => Ok(Some(c)),
        Err(StoreError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    })
    .await;
    let result = match channel {
        Ok(Some(ch)) => match ch.typed_config() {
            Ok(ChannelConfig::Webhook(w)) => {
                webhook::post(
                    &d.http,
                    &w,
                    &row.notification_id,
                    row.payload.as_bytes(),
                    number,
                )
                .await
            }
            Ok(ChannelConfig::Email(e)) => match (&d.mailer, serde_json::from_str(&row.payload)) {
                (Some(m), Ok(n)) => m.send(&e, &n).await,
                (None, _) => give_up("email is not configured: start with --smtp-url".into()),
                (_, Err(e)) => give_up(format!("stored notification is invalid: {e}")),
            },
            Err(e) => give_up(format!("stored channel is invalid: {e}")),
        },
        Ok(None) => give_up(format!("channel {channel_id} was deleted")),
        Err(e) => Attempt {
            status_code: None,
            error: Some(format!("reading the channel: {e}")),
            verdict: Verdict::Retry,
        },
    };
    let max = d.config.max_attempts.max(1);
    let end = match result.verdict {
        Verdict::Delivered => AttemptEnd::Delivered,
        Verdict::GiveUp => AttemptEnd::Failed,
        Verdict::Retry if number >= max => AttemptEnd::Failed,
        Verdict::Retry => {
            AttemptEnd::RetryAt(now_ms() + backoff(&d.config, number).as_millis() as i64)
        }
    };
    if end == AttemptEnd::Failed {
        tracing::warn!(channel = channel_id, notification = %row.notification_id, attempt = number, "delivery failed");
    }
    let log = NewDelivery {
        channel_id,
        notification_id: row.notification_id.clone(),
        notification_kind: row.notification_kind.clone(),
        attempt: number,
        status_code: result.status_code,
        error: result.error.clone(),
        success: result.verdict == Verdict::Delivered,
        at: now_ms(),
    };
    let store = d.store.clone();
    let error = result.error;
    if let Err(e) = blocking(move || store.finish_attempt(row.id, log, end, error)).await {
        tracing::warn!(error = %e, "outbox: recording an attempt failed");
    }
    d.wake.notify_one();
}

fn give_up(error: String) -> Attempt {
    Attempt {
        status_code: None,
        error: Some(error),
        verdict: Verdict::GiveUp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_caps() {
        let c = NotifyConfig {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            ..NotifyConfig::default()
        };
        for (attempt, full) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1000),
            (40, 1000),
        ] {
            let d = backoff(&c, attempt).as_secs_f64() * 1000.0;
            assert!(
                d >= full as f64 / 2.0 - 1e-9 && d <= full as f64 + 1e-9,
                "attempt {attempt}: {d} ms"
            );
        }
    }
}
