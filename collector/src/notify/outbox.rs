//! The durable outbox: one row per (notification, channel) delivery, written in the same
//! transaction as what it notifies about (a key-metric alert, or a policy alert's `notified`
//! mark), claimed by the notifier's worker when due, retried with backoff and finished as
//! `delivered` or `failed`. Rows still `pending` survive a restart and resume.
//!
//! Delivery is at least once: a crash between a receiver's 2xx and the row's update sends it
//! again on restart with the same `X-Rum-Notification-Id`, so receivers can drop repeats.

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::payload::Notification;
use super::store::NewDelivery;
use crate::store::sqlite::now_ms;
use crate::store::{SqliteStore, StoreError};

/// Schema of the outbox (appended to the migration list).
pub const MIGRATION: &str = r#"
CREATE TABLE notification_outbox (
    id INTEGER PRIMARY KEY,
    channel_id INTEGER NOT NULL,
    notification_id TEXT NOT NULL,
    notification_kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    claimed_until INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (notification_id, channel_id)
);
CREATE INDEX notification_outbox_due ON notification_outbox (status, next_attempt_at);
"#;

/// Lifecycle of an outbox row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    /// Waiting for its next attempt (`next_attempt_at`).
    Pending,
    /// A receiver accepted it.
    Delivered,
    /// Given up (permanent refusal, bad channel, or out of attempts).
    Failed,
}

impl OutboxStatus {
    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "pending" => Ok(Self::Pending),
            "delivered" => Ok(Self::Delivered),
            "failed" => Ok(Self::Failed),
            _ => Err(StoreError::Corrupt(format!("outbox status {s:?}"))),
        }
    }
}

/// One delivery of a notification to a channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxRow {
    /// Row id.
    pub id: i64,
    /// Channel id (its configuration is read at each attempt).
    pub channel_id: i64,
    /// Notification id (`X-Rum-Notification-Id`).
    pub notification_id: String,
    /// Notification kind (`alert_fired`, `srm`, `test`, ...).
    pub notification_kind: String,
    /// The notification as JSON, exactly the body sent.
    pub payload: String,
    /// Lifecycle.
    pub status: OutboxStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// Earliest time of the next attempt, Unix milliseconds.
    pub next_attempt_at: i64,
    /// What went wrong last, if anything.
    pub last_error: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub updated_at: i64,
}

/// How an attempt ends a row (or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptEnd {
    /// Accepted: `delivered`.
    Delivered,
    /// Given up: `failed`.
    Failed,
    /// Try again at this time (Unix milliseconds).
    RetryAt(i64),
}

/// Outbox storage.
pub trait OutboxStore {
    /// Queues `n` for every channel in one transaction; with `mark`, also records on that
    /// policy alert that it was notified (and whether its flag was killed). Rows queued.
    fn queue_notification(
        &self,
        channel_ids: Vec<i64>,
        n: &Notification,
        mark: Option<(i64, bool)>,
    ) -> Result<usize, StoreError>;
    /// Claims up to `limit` due pending rows for `lease_ms` (a claimed row is not handed out
    /// again until the lease ends or the attempt finishes).
    fn claim_due(&self, now: i64, lease_ms: i64, limit: u32) -> Result<Vec<OutboxRow>, StoreError>;
    /// Logs an attempt and moves its row on, in one transaction.
    fn finish_attempt(
        &self,
        id: i64,
        log: NewDelivery,
        end: AttemptEnd,
        error: Option<String>,
    ) -> Result<(), StoreError>;
    /// Drops every claim (at startup: the previous process's attempts ended with it).
    fn release_claims(&self) -> Result<u64, StoreError>;
    /// The earliest `next_attempt_at` of an unclaimed pending row.
    fn next_due(&self, now: i64) -> Result<Option<i64>, StoreError>;
    /// Outbox rows, newest first (all channels when `channel_id` is `None`).
    fn outbox(&self, channel_id: Option<i64>, limit: u32) -> Result<Vec<OutboxRow>, StoreError>;
}

/// Inserts the rows of `n` for `channel_ids` on `c` (inside the caller's transaction).
pub(crate) fn insert_rows(
    c: &Connection,
    channel_ids: &[i64],
    n: &Notification,
) -> Result<usize, StoreError> {
    let payload = serde_json::to_string(n).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let now = now_ms();
    let mut stmt = c.prepare_cached(
        "INSERT INTO notification_outbox (channel_id, notification_id, notification_kind, \
         payload, status, attempts, next_attempt_at, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?5, ?5) \
         ON CONFLICT (notification_id, channel_id) DO NOTHING",
    )?;
    let mut rows = 0;
    for ch in channel_ids {
        rows += stmt.execute(params![ch, n.id.to_string(), n.kind.as_str(), payload, now])?;
    }
    Ok(rows)
}

const COLUMNS: &str = "id, channel_id, notification_id, notification_kind, payload, status, \
    attempts, next_attempt_at, last_error, created_at, updated_at";

type Raw = (
    (i64, i64, String, String, String, String),
    (u32, i64, Option<String>, i64, i64),
);

fn raw(r: &rusqlite::Row<'_>) -> rusqlite::Result<Raw> {
    Ok((
        (
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
        ),
        (r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?, r.get(10)?),
    ))
}

fn row(r: Raw) -> Result<OutboxRow, StoreError> {
    let (
        (id, channel_id, notification_id, notification_kind, payload, status),
        (attempts, next_attempt_at, last_error, created_at, updated_at),
    ) = r;
    Ok(OutboxRow {
        id,
        channel_id,
        notification_id,
        notification_kind,
        payload,
        status: OutboxStatus::parse(&status)?,
        attempts,
        next_attempt_at,
        last_error,
        created_at,
        updated_at,
    })
}

impl OutboxStore for SqliteStore {
    fn queue_notification(
        &self,
        channel_ids: Vec<i64>,
        n: &Notification,
        mark: Option<(i64, bool)>,
    ) -> Result<usize, StoreError> {
        let n = n.clone();
        self.write(move |c| {
            let tx = c.transaction()?;
            let rows = insert_rows(&tx, &channel_ids, &n)?;
            if let Some((alert, killed)) = mark {
                tx.execute(
                    "UPDATE alerts SET notified = MAX(notified, ?1), \
                     flag_killed = MAX(flag_killed, ?2), acted = 1, updated_at = ?3 WHERE id = ?4",
                    params![rows > 0, killed, now_ms(), alert],
                )?;
            }
            tx.commit()?;
            Ok(rows)
        })
    }

    fn claim_due(&self, now: i64, lease_ms: i64, limit: u32) -> Result<Vec<OutboxRow>, StoreError> {
        self.write(move |c| {
            let tx = c.transaction()?;
            let rows = {
                let mut stmt = tx.prepare_cached(&format!(
                    "UPDATE notification_outbox SET claimed_until = ?2 WHERE id IN (\
                     SELECT id FROM notification_outbox WHERE status = 'pending' \
                     AND next_attempt_at <= ?1 AND (claimed_until IS NULL OR claimed_until < ?1) \
                     ORDER BY next_attempt_at, id LIMIT ?3) RETURNING {COLUMNS}"
                ))?;
                stmt.query_map(params![now, now + lease_ms, limit], raw)?
                    .collect::<rusqlite::Result<Vec<_>>>()?
            };
            tx.commit()?;
            let mut out = rows.into_iter().map(row).collect::<Result<Vec<_>, _>>()?;
            out.sort_by_key(|r| (r.next_attempt_at, r.id));
            Ok(out)
        })
    }

    fn finish_attempt(
        &self,
        id: i64,
        log: NewDelivery,
        end: AttemptEnd,
        error: Option<String>,
    ) -> Result<(), StoreError> {
        self.write(move |c| {
            let tx = c.transaction()?;
            super::store::insert_delivery(&tx, &log)?;
            let (status, next) = match end {
                AttemptEnd::Delivered => ("delivered", None),
                AttemptEnd::Failed => ("failed", None),
                AttemptEnd::RetryAt(t) => ("pending", Some(t)),
            };
            tx.execute(
                "UPDATE notification_outbox SET status = ?2, attempts = attempts + 1, \
                 next_attempt_at = COALESCE(?3, next_attempt_at), claimed_until = NULL, \
                 last_error = ?4, updated_at = ?5 WHERE id = ?1",
                params![id, status, next, error, now_ms()],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    fn release_claims(&self) -> Result<u64, StoreError> {
        self.write(|c| {
            Ok(c.execute(
                "UPDATE notification_outbox SET claimed_until = NULL \
                 WHERE claimed_until IS NOT NULL",
                [],
            )? as u64)
        })
    }

    fn next_due(&self, now: i64) -> Result<Option<i64>, StoreError> {
        self.read(|c| {
            let t: Option<Option<i64>> = c
                .query_row(
                    "SELECT MIN(next_attempt_at) FROM notification_outbox WHERE status = 'pending' \
                     AND (claimed_until IS NULL OR claimed_until < ?1)",
                    [now],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(t.flatten())
        })
    }

    fn outbox(&self, channel_id: Option<i64>, limit: u32) -> Result<Vec<OutboxRow>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM notification_outbox WHERE (?1 IS NULL OR channel_id = ?1) \
                 ORDER BY id DESC LIMIT ?2"
            ))?;
            let rows = stmt
                .query_map(params![channel_id, limit], raw)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter().map(row).collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::ChannelStore;

    fn delivery(n: &Notification, attempt: u32, success: bool) -> NewDelivery {
        NewDelivery {
            channel_id: 1,
            notification_id: n.id.to_string(),
            notification_kind: n.kind.as_str().into(),
            attempt,
            status_code: None,
            error: (!success).then(|| "refused".into()),
            success,
            at: 0,
        }
    }

    #[test]
    fn rows_are_claimed_once_retried_when_due_and_released_at_start() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(dir.path()).expect("store");
        let n = Notification::test("ops", 1);
        assert_eq!(
            store.queue_notification(vec![1, 2], &n, None).expect("q"),
            2
        );
        // The same notification and channel again is not a second delivery.
        assert_eq!(store.queue_notification(vec![1], &n, None).expect("q"), 0);
        let now = now_ms() + 1;
        let got = store.claim_due(now, 60_000, 1).expect("claim");
        assert_eq!(got.len(), 1);
        let (a, b) = (
            got[0].clone(),
            store.claim_due(now, 60_000, 10).expect("claim"),
        );
        assert_eq!(b.len(), 1, "the claimed row is not handed out again");
        assert!(store.claim_due(now, 60_000, 10).expect("claim").is_empty());
        store
            .finish_attempt(
                a.id,
                delivery(&n, 1, false),
                AttemptEnd::RetryAt(now + 500),
                Some("refused".into()),
            )
            .expect("finish");
        assert!(store.claim_due(now, 60_000, 10).expect("claim").is_empty());
        assert_eq!(store.next_due(now).expect("next"), Some(now + 500));
        let again = store.claim_due(now + 500, 60_000, 10).expect("claim");
        assert_eq!((again.len(), again[0].attempts), (1, 1));
        assert_eq!(again[0].last_error.as_deref(), Some("refused"));
        store
            .finish_attempt(a.id, delivery(&n, 2, true), AttemptEnd::Delivered, None)
            .expect("finish");
        // b's claim belonged to a process that ended: released at start, due again.
        assert_eq!(store.release_claims().expect("release"), 1);
        let resumed = store.claim_due(now, 60_000, 10).expect("claim");
        assert_eq!(
            resumed.iter().map(|r| r.id).collect::<Vec<_>>(),
            vec![b[0].id]
        );
        let rows = store.outbox(Some(a.channel_id), 10).expect("rows");
        assert_eq!(
            (rows[0].status, rows[0].attempts, rows[0].last_error.clone()),
            (OutboxStatus::Delivered, 2, None)
        );
        assert_eq!(store.deliveries(1, 10).expect("log").len(), 2);
        let body: Notification = serde_json::from_str(&rows[0].payload).expect("payload");
        assert_eq!(body, n);
    }
}
