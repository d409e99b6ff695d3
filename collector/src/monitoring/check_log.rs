//! The log of every monitor look (scheduled checks and unscheduled looks) with its numbers, so
//! the dashboard can draw the trend of the impact and its interval over the checks so far. The
//! monitor state keeps only what the next check needs; this keeps what a reader needs. One row
//! per look: at most the window's scheduled checks plus the looks taken, per monitor.

use rusqlite::params;
use serde::{Deserialize, Serialize};

use crate::alerts::monitor::{CheckResult, MonitorKey};
use crate::store::sqlite::now_ms;
use crate::store::{SqliteStore, StoreError};

/// Schema of the check log (appended to the migration list).
pub const MIGRATION: &str = r#"
CREATE TABLE monitor_checks (
    id INTEGER PRIMARY KEY,
    flag TEXT NOT NULL,
    version INTEGER NOT NULL,
    metric_id INTEGER NOT NULL,
    policy_id INTEGER NOT NULL,
    treatment TEXT NOT NULL,
    time_ms INTEGER NOT NULL,
    result TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX monitor_checks_version ON monitor_checks (flag, version, time_ms);
"#;

/// One logged look.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedCheck {
    /// Which monitor.
    pub key: MonitorKey,
    /// The look's numbers.
    pub result: CheckResult,
}

/// Storage of the check log.
pub trait CheckLogStore {
    /// Appends one look of `key`.
    fn record_check(&self, key: &MonitorKey, result: &CheckResult) -> Result<(), StoreError>;
    /// Every look of a flag version, oldest first.
    fn checks(&self, flag: &str, version: u64) -> Result<Vec<LoggedCheck>, StoreError>;
    /// The id of the newest logged look (0: none yet), so open pages can tell a new one came.
    fn newest_check_id(&self) -> Result<i64, StoreError>;
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

impl CheckLogStore for SqliteStore {
    fn record_check(&self, key: &MonitorKey, result: &CheckResult) -> Result<(), StoreError> {
        let json = serde_json::to_string(result).map_err(corrupt)?;
        let (key, time) = (key.clone(), result.time_ms);
        self.write(move |c| {
            c.execute(
                "INSERT INTO monitor_checks (flag, version, metric_id, policy_id, treatment, \
                 time_ms, result, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    key.flag,
                    key.version as i64,
                    key.metric_id,
                    key.policy_id,
                    key.treatment,
                    time,
                    json,
                    now_ms()
                ],
            )?;
            Ok(())
        })
    }

    fn newest_check_id(&self) -> Result<i64, StoreError> {
        self.read(|c| {
            Ok(
                c.query_row("SELECT COALESCE(MAX(id), 0) FROM monitor_checks", [], |r| {
                    r.get(0)
                })?,
            )
        })
    }

    fn checks(&self, flag: &str, version: u64) -> Result<Vec<LoggedCheck>, StoreError> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT metric_id, policy_id, treatment, result FROM monitor_checks \
                 WHERE flag = ?1 AND version = ?2 ORDER BY time_ms, id",
            )?;
            let rows = st
                .query_map(params![flag, version as i64], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter()
                .map(|(metric_id, policy_id, treatment, json)| {
                    Ok(LoggedCheck {
                        key: MonitorKey {
                            flag: flag.to_string(),
                            version,
                            metric_id,
                            policy_id,
                            treatment,
                        },
                        result: serde_json::from_str(&json).map_err(corrupt)?,
                    })
                })
                .collect()
        })
    }
}
