//! Dashboard sessions in the store, so a collector restart does not sign everyone out.
//!
//! A row is keyed by the SHA-256 hex hash of the session token, never the token: someone who
//! reads the database (or a backup of it) cannot take over a session. Expiry is decided by the
//! caller ([`super::session`]) from the two timestamps kept here.

use rusqlite::{OptionalExtension, params};

use crate::store::{SqliteStore, StoreError};

/// Schema of the dashboard sessions (appended to the migration list).
pub const MIGRATION: &str = r#"
CREATE TABLE dashboard_sessions (
    token_hash TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    last_seen INTEGER NOT NULL
);
CREATE INDEX dashboard_sessions_last_seen ON dashboard_sessions (last_seen);
"#;

/// One stored session's times, Unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredSession {
    /// When it was signed in (the absolute lifetime counts from here).
    pub created_at: i64,
    /// When it was last used (the idle lifetime counts from here).
    pub last_seen: i64,
}

/// Storage of the dashboard sessions.
pub trait SessionStore {
    /// Stores a new session; first forgets sessions last seen before `stale_before` or created
    /// before `born_before`, then the least recently used beyond `max - 1` rows.
    fn insert_session(
        &self,
        token_hash: &str,
        now_ms: i64,
        stale_before: i64,
        born_before: i64,
        max: usize,
    ) -> Result<(), StoreError>;
    /// The session with this token hash, if stored.
    fn find_session(&self, token_hash: &str) -> Result<Option<StoredSession>, StoreError>;
    /// Marks a session used at `now_ms`.
    fn touch_session(&self, token_hash: &str, now_ms: i64) -> Result<(), StoreError>;
    /// Forgets a session (sign-out, expiry).
    fn delete_session(&self, token_hash: &str) -> Result<(), StoreError>;
}

impl SessionStore for SqliteStore {
    fn insert_session(
        &self,
        token_hash: &str,
        now_ms: i64,
        stale_before: i64,
        born_before: i64,
        max: usize,
    ) -> Result<(), StoreError> {
        let hash = token_hash.to_string();
        let keep = max.saturating_sub(1) as i64;
        self.write(move |c| {
            c.execute(
                "DELETE FROM dashboard_sessions WHERE last_seen < ?1 OR created_at < ?2",
                params![stale_before, born_before],
            )?;
            c.execute(
                "DELETE FROM dashboard_sessions WHERE token_hash IN (SELECT token_hash \
                 FROM dashboard_sessions ORDER BY last_seen DESC LIMIT -1 OFFSET ?1)",
                params![keep],
            )?;
            c.execute(
                "INSERT INTO dashboard_sessions (token_hash, created_at, last_seen) \
                 VALUES (?1, ?2, ?2)",
                params![hash, now_ms],
            )?;
            Ok(())
        })
    }

    fn find_session(&self, token_hash: &str) -> Result<Option<StoredSession>, StoreError> {
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT created_at, last_seen FROM dashboard_sessions WHERE token_hash = ?1",
            )?
            .query_row([token_hash], |r| {
                Ok(StoredSession {
                    created_at: r.get(0)?,
                    last_seen: r.get(1)?,
                })
            })
            .optional()?)
        })
    }

    fn touch_session(&self, token_hash: &str, now_ms: i64) -> Result<(), StoreError> {
        let hash = token_hash.to_string();
        self.write(move |c| {
            c.execute(
                "UPDATE dashboard_sessions SET last_seen = MAX(last_seen, ?2) WHERE token_hash = ?1",
                params![hash, now_ms],
            )?;
            Ok(())
        })
    }

    fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        let hash = token_hash.to_string();
        self.write(move |c| {
            c.execute(
                "DELETE FROM dashboard_sessions WHERE token_hash = ?1",
                [hash],
            )?;
            Ok(())
        })
    }
}
