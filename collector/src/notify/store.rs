//! Storage of channels and of the delivery log (tables `notification_channels` and
//! `notification_deliveries`), implemented for [`SqliteStore`].

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::channel::{Channel, ChannelKind, NewChannel};
use crate::store::sqlite::now_ms;
use crate::store::{SqliteStore, StoreError};

/// One logged delivery attempt, to write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewDelivery {
    /// Channel id.
    pub channel_id: i64,
    /// Notification id.
    pub notification_id: String,
    /// Notification kind (`alert_fired`, `test`, ...).
    pub notification_kind: String,
    /// Attempt number, from 1.
    pub attempt: u32,
    /// HTTP status (webhook) or SMTP reply code (email), when one was received.
    pub status_code: Option<u16>,
    /// What went wrong, when something did.
    pub error: Option<String>,
    /// The receiver accepted it.
    pub success: bool,
    /// When the attempt ended, Unix milliseconds.
    pub at: i64,
}

/// One logged delivery attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// Log row id.
    pub id: i64,
    /// The attempt.
    #[serde(flatten)]
    pub attempt: NewDelivery,
}

/// Channel and delivery-log storage.
pub trait ChannelStore {
    /// All channels, by id.
    fn channels(&self) -> Result<Vec<Channel>, StoreError>;
    /// One channel; `NotFound` if absent.
    fn channel(&self, id: i64) -> Result<Channel, StoreError>;
    /// Creates a validated channel; `Conflict` if the name is taken.
    fn create_channel(&self, c: NewChannel) -> Result<Channel, StoreError>;
    /// Replaces a channel; `NotFound` if absent, `Conflict` if the new name is taken.
    fn update_channel(&self, id: i64, c: NewChannel) -> Result<Channel, StoreError>;
    /// Deletes a channel (its delivery log stays); `NotFound` if absent.
    fn delete_channel(&self, id: i64) -> Result<(), StoreError>;
    /// Appends an attempt to the delivery log.
    fn record_delivery(&self, d: NewDelivery) -> Result<(), StoreError>;
    /// A channel's delivery log, newest first, at most `limit` rows.
    fn deliveries(&self, channel_id: i64, limit: u32) -> Result<Vec<Delivery>, StoreError>;
}

fn channel_from_row(
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<(i64, String, String, String, i64, i64)> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn to_channel(row: (i64, String, String, String, i64, i64)) -> Result<Channel, StoreError> {
    let (id, name, kind, config, created_at, updated_at) = row;
    Ok(Channel {
        id,
        name,
        kind: ChannelKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("channel {id}: kind {kind}")))?,
        config: serde_json::from_str(&config).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        created_at,
        updated_at,
    })
}

const CHANNEL_COLUMNS: &str = "id, name, kind, config, created_at, updated_at";

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

fn read_channel(conn: &rusqlite::Connection, id: i64) -> Result<Channel, StoreError> {
    let row = conn
        .query_row(
            &format!("SELECT {CHANNEL_COLUMNS} FROM notification_channels WHERE id = ?1"),
            [id],
            channel_from_row,
        )
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("channel {id}")))?;
    to_channel(row)
}

/// Appends an attempt to the delivery log on `conn` (inside the caller's transaction, if any).
pub(crate) fn insert_delivery(
    conn: &rusqlite::Connection,
    d: &NewDelivery,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO notification_deliveries (channel_id, notification_id, \
         notification_kind, attempt, status_code, error, success, at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        d.channel_id,
        d.notification_id,
        d.notification_kind,
        d.attempt,
        d.status_code,
        d.error,
        d.success,
        d.at
    ])?;
    Ok(())
}

impl ChannelStore for SqliteStore {
    fn channels(&self) -> Result<Vec<Channel>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {CHANNEL_COLUMNS} FROM notification_channels ORDER BY id"
            ))?;
            let rows = stmt
                .query_map([], channel_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter().map(to_channel).collect()
        })
    }

    fn channel(&self, id: i64) -> Result<Channel, StoreError> {
        self.read(|conn| read_channel(conn, id))
    }

    fn create_channel(&self, c: NewChannel) -> Result<Channel, StoreError> {
        self.write(move |conn| {
            let now = now_ms();
            let r = conn.execute(
                "INSERT INTO notification_channels (name, kind, config, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?4)",
                params![c.name, c.kind.as_str(), c.config.to_string(), now],
            );
            match r {
                Err(e) if is_unique_violation(&e) => {
                    Err(StoreError::Conflict(format!("channel {}", c.name)))
                }
                r => {
                    r?;
                    read_channel(conn, conn.last_insert_rowid())
                }
            }
        })
    }

    fn update_channel(&self, id: i64, c: NewChannel) -> Result<Channel, StoreError> {
        self.write(move |conn| {
            let r = conn.execute(
                "UPDATE notification_channels SET name = ?2, kind = ?3, config = ?4, \
                 updated_at = ?5 WHERE id = ?1",
                params![id, c.name, c.kind.as_str(), c.config.to_string(), now_ms()],
            );
            match r {
                Err(e) if is_unique_violation(&e) => {
                    Err(StoreError::Conflict(format!("channel {}", c.name)))
                }
                Ok(0) => Err(StoreError::NotFound(format!("channel {id}"))),
                r => {
                    r?;
                    read_channel(conn, id)
                }
            }
        })
    }

    fn delete_channel(&self, id: i64) -> Result<(), StoreError> {
        self.write(move |conn| {
            match conn.execute("DELETE FROM notification_channels WHERE id = ?1", [id])? {
                0 => Err(StoreError::NotFound(format!("channel {id}"))),
                _ => Ok(()),
            }
        })
    }

    fn record_delivery(&self, d: NewDelivery) -> Result<(), StoreError> {
        self.write(move |conn| insert_delivery(conn, &d))
    }

    fn deliveries(&self, channel_id: i64, limit: u32) -> Result<Vec<Delivery>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT id, channel_id, notification_id, notification_kind, attempt, \
                 status_code, error, success, at FROM notification_deliveries \
                 WHERE channel_id = ?1 ORDER BY id DESC LIMIT ?2",
            )?;
            let rows = stmt
                .query_map(params![channel_id, limit], |r| {
                    Ok(Delivery {
                        id: r.get(0)?,
                        attempt: NewDelivery {
                            channel_id: r.get(1)?,
                            notification_id: r.get(2)?,
                            notification_kind: r.get(3)?,
                            attempt: r.get(4)?,
                            status_code: r.get(5)?,
                            error: r.get(6)?,
                            success: r.get(7)?,
                            at: r.get(8)?,
                        },
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }
}
