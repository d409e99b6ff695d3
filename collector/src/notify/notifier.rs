//! The background delivery task: a bounded in-memory queue, one tokio task per delivery,
//! exponential backoff with jitter between attempts, every attempt written to the log.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};

use super::channel::{Channel, ChannelConfig};
use super::email::Mailer;
use super::payload::Notification;
use super::store::NewDelivery;
use super::webhook::{self, Attempt, Verdict};
use crate::store::Store;
use crate::store::sqlite::now_ms;

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
    /// Notifications waiting beyond this are refused (the queue is in memory).
    pub queue_capacity: usize,
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
            queue_capacity: 10_000,
        }
    }
}

/// Why a notification could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The in-memory queue is full.
    #[error("notification queue is full")]
    QueueFull,
    /// The delivery task has stopped (shutting down).
    #[error("notifier is stopped")]
    Stopped,
}

struct Job {
    channel: Channel,
    notification: Arc<Notification>,
}

/// Shared by delivery tasks.
struct Deliverer {
    store: Arc<dyn Store>,
    http: reqwest::Client,
    mailer: Option<Mailer>,
    config: NotifyConfig,
}

/// Queues notifications for background delivery; cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    tx: mpsc::Sender<Job>,
}

impl Notifier {
    /// Starts the delivery task on the current tokio runtime.
    pub fn start(store: Arc<dyn Store>, config: NotifyConfig) -> anyhow::Result<Notifier> {
        let mailer = match &config.smtp_url {
            Some(url) => Some(Mailer::new(url, &config.smtp_from).map_err(anyhow::Error::msg)?),
            None => None,
        };
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
        let d = Arc::new(Deliverer {
            store,
            http,
            mailer,
            config,
        });
        tokio::spawn(dispatch(d, rx));
        Ok(Notifier { tx })
    }

    /// Queues `notification` for `channel`; returns at once.
    pub fn enqueue(&self, channel: Channel, notification: Notification) -> Result<(), NotifyError> {
        self.enqueue_shared(channel, Arc::new(notification))
    }

    /// Queues one notification for several channels.
    pub fn enqueue_all(
        &self,
        channels: Vec<Channel>,
        notification: Notification,
    ) -> Result<(), NotifyError> {
        let n = Arc::new(notification);
        channels
            .into_iter()
            .try_for_each(|c| self.enqueue_shared(c, n.clone()))
    }

    fn enqueue_shared(
        &self,
        channel: Channel,
        notification: Arc<Notification>,
    ) -> Result<(), NotifyError> {
        self.tx
            .try_send(Job {
                channel,
                notification,
            })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => NotifyError::QueueFull,
                mpsc::error::TrySendError::Closed(_) => NotifyError::Stopped,
            })
    }
}

async fn dispatch(d: Arc<Deliverer>, mut rx: mpsc::Receiver<Job>) {
    let permits = Arc::new(Semaphore::new(d.config.max_in_flight.max(1)));
    while let Some(job) = rx.recv().await {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let d = d.clone();
        tokio::spawn(async move {
            deliver(&d, job).await;
            drop(permit);
        });
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

async fn deliver(d: &Deliverer, job: Job) {
    let n = &job.notification;
    let id = n.id.to_string();
    let body = match serde_json::to_vec(n.as_ref()) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "notification does not serialise");
            return;
        }
    };
    let config = job.channel.typed_config();
    let max = d.config.max_attempts.max(1);
    for attempt in 1..=max {
        let result = match &config {
            Ok(ChannelConfig::Webhook(w)) => webhook::post(&d.http, w, &id, &body, attempt).await,
            Ok(ChannelConfig::Email(e)) => match &d.mailer {
                Some(m) => m.send(e, n).await,
                None => Attempt {
                    status_code: None,
                    error: Some("email is not configured: start with --smtp-url".into()),
                    verdict: Verdict::GiveUp,
                },
            },
            Err(e) => Attempt {
                status_code: None,
                error: Some(format!("stored channel is invalid: {e}")),
                verdict: Verdict::GiveUp,
            },
        };
        let verdict = result.verdict;
        log_attempt(d, &job, &id, attempt, result).await;
        if verdict != Verdict::Retry || attempt == max {
            if verdict != Verdict::Delivered {
                tracing::warn!(channel = job.channel.id, notification = %id, attempt, "delivery failed");
            }
            return;
        }
        tokio::time::sleep(backoff(&d.config, attempt)).await;
    }
}

async fn log_attempt(d: &Deliverer, job: &Job, id: &str, attempt: u32, a: Attempt) {
    let row = NewDelivery {
        channel_id: job.channel.id,
        notification_id: id.to_string(),
        notification_kind: job.notification.kind.as_str().to_string(),
        attempt,
        status_code: a.status_code,
        error: a.error,
        success: a.verdict == Verdict::Delivered,
        at: now_ms(),
    };
    let store = d.store.clone();
    match tokio::task::spawn_blocking(move || store.record_delivery(row)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "delivery log write failed"),
        Err(e) => tracing::warn!(error = %e, "delivery log task failed"),
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
