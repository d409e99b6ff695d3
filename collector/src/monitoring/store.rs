//! Persistence the monitoring glue adds: the per-user values of each sequential monitor's last
//! eligible check (what the next check's adjacent correlation pairs against), one row per
//! monitor, replaced at every eligible check so it stays bounded.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, params};

use super::keys::KeyFamilyState;
use super::late::DirtyVersion;
use crate::alerts::monitor::MonitorKey;
use crate::store::sqlite::now_ms;
use crate::store::{SqliteStore, StoreError};

/// Schema of the monitoring tables (appended to the migration list).
pub const MIGRATION: &str = r#"
CREATE TABLE monitor_prev_values (
    flag TEXT NOT NULL,
    version INTEGER NOT NULL,
    metric_id INTEGER NOT NULL,
    policy_id INTEGER NOT NULL,
    treatment TEXT NOT NULL,
    check_index INTEGER NOT NULL,
    baseline BLOB NOT NULL,
    comparison BLOB NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (flag, version, metric_id, policy_id, treatment)
);
"#;

/// Schema of key metrics, key-metric alerts and SRM notices (appended after [`MIGRATION`];
/// `key_metric_alerts` later moved into `alerts`: `crate::alerts::store::KEY_ALERTS_MIGRATION`).
pub const KEYS_MIGRATION: &str = r#"
CREATE TABLE flag_key_metrics (
    flag TEXT PRIMARY KEY,
    metric_ids TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE key_metric_alerts (
    id INTEGER PRIMARY KEY,
    flag TEXT NOT NULL,
    version INTEGER NOT NULL,
    metric_id INTEGER NOT NULL,
    treatment TEXT NOT NULL,
    detail TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('fired', 'dismissed', 'auto_resolved')),
    notified INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (flag, version, metric_id, treatment)
);
CREATE TABLE srm_notices (
    flag TEXT NOT NULL,
    version INTEGER NOT NULL,
    p_value REAL NOT NULL,
    notified INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (flag, version)
);
"#;

/// Per-user values of both arms at one eligible check, keyed by user-key fingerprint.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PrevValues {
    /// The check these values were taken at.
    pub k: usize,
    /// Baseline users' values.
    pub baseline: HashMap<u128, f64>,
    /// Comparison users' values.
    pub treatment: HashMap<u128, f64>,
}

/// Storage of [`PrevValues`].
pub trait MonitoringStore {
    /// The values kept for `key`, if any.
    fn prev_values(&self, key: &MonitorKey) -> Result<Option<PrevValues>, StoreError>;
    /// Replaces the values kept for `key`.
    fn save_prev_values(&self, key: &MonitorKey, values: &PrevValues) -> Result<(), StoreError>;
    /// The key metrics of `flag` (empty when none are set).
    fn key_metrics(&self, flag: &str) -> Result<Vec<i64>, StoreError>;
    /// Replaces the key metrics of `flag` (ids already validated).
    fn set_key_metrics(&self, flag: &str, metric_ids: &[i64]) -> Result<(), StoreError>;
    /// The key-metric family state of a flag version, if any.
    fn key_family_state(
        &self,
        flag: &str,
        version: u64,
    ) -> Result<Option<KeyFamilyState>, StoreError>;
    /// Replaces the key-metric family state of a flag version.
    fn save_key_family_state(&self, state: &KeyFamilyState) -> Result<(), StoreError>;
    /// Records the first SRM mismatch of a version; false when one was already recorded.
    fn record_srm(&self, flag: &str, version: u64, p_value: f64) -> Result<bool, StoreError>;
    /// Records that the SRM notification of a version was queued.
    fn mark_srm_notified(&self, flag: &str, version: u64) -> Result<(), StoreError>;
    /// Moves every `fired` alert (policy and key-metric) of versions of `flag` older than
    /// `current` to `auto_resolved`; how many moved.
    fn auto_resolve_older(&self, flag: &str, current: u64) -> Result<u64, StoreError>;
    /// Marks flag versions as having received late data (with the earliest late `ts` of each).
    fn mark_late(&self, dirty: Vec<(DirtyVersion, i64)>) -> Result<(), StoreError>;
    /// Flag versions marked as having received late data.
    fn late_dirty(&self) -> Result<Vec<DirtyVersion>, StoreError>;
    /// Clears the late-data mark of one version.
    fn clear_late(&self, version: &DirtyVersion) -> Result<(), StoreError>;
}

/// 24 bytes per user: fingerprint then value, little-endian.
fn encode(m: &HashMap<u128, f64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(m.len() * 24);
    for (fp, v) in m {
        out.extend_from_slice(&fp.to_le_bytes());
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

fn decode(b: &[u8]) -> Result<HashMap<u128, f64>, StoreError> {
    if !b.len().is_multiple_of(24) {
        return Err(StoreError::Corrupt(format!(
            "monitor values: {} bytes is not a multiple of 24",
            b.len()
        )));
    }
    let mut m = HashMap::with_capacity(b.len() / 24);
    for c in b.chunks_exact(24) {
        let mut fp = [0u8; 16];
        let mut v = [0u8; 8];
        fp.copy_from_slice(&c[..16]);
        v.copy_from_slice(&c[16..]);
        m.insert(u128::from_le_bytes(fp), f64::from_le_bytes(v));
    }
    Ok(m)
}

impl MonitoringStore for SqliteStore {
    fn mark_late(&self, dirty: Vec<(DirtyVersion, i64)>) -> Result<(), StoreError> {
        self.mark_late_impl(dirty)
    }

    fn late_dirty(&self) -> Result<Vec<DirtyVersion>, StoreError> {
        self.late_dirty_impl()
    }

    fn clear_late(&self, version: &DirtyVersion) -> Result<(), StoreError> {
        self.clear_late_impl(version)
    }

    fn prev_values(&self, key: &MonitorKey) -> Result<Option<PrevValues>, StoreError> {
        self.read(|c| {
            let row: Option<(i64, Vec<u8>, Vec<u8>)> = c
                .query_row(
                    "SELECT check_index, baseline, comparison FROM monitor_prev_values \
                     WHERE flag = ?1 AND version = ?2 AND metric_id = ?3 AND policy_id = ?4 \
                     AND treatment = ?5",
                    params![
                        key.flag,
                        key.version as i64,
                        key.metric_id,
                        key.policy_id,
                        key.treatment
                    ],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            row.map(|(k, b, t)| {
                Ok(PrevValues {
                    k: usize::try_from(k).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    baseline: decode(&b)?,
                    treatment: decode(&t)?,
                })
            })
            .transpose()
        })
    }

    fn save_prev_values(&self, key: &MonitorKey, values: &PrevValues) -> Result<(), StoreError> {
        let key = key.clone();
        let (k, b, t) = (
            values.k as i64,
            encode(&values.baseline),
            encode(&values.treatment),
        );
        self.write(move |c| {
            c.execute(
                "INSERT INTO monitor_prev_values (flag, version, metric_id, policy_id, treatment, \
                 check_index, baseline, comparison, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
                 ON CONFLICT (flag, version, metric_id, policy_id, treatment) DO UPDATE SET \
                 check_index = excluded.check_index, baseline = excluded.baseline, \
                 comparison = excluded.comparison, updated_at = excluded.updated_at",
                params![
                    key.flag,
                    key.version as i64,
                    key.metric_id,
                    key.policy_id,
                    key.treatment,
                    k,
                    b,
                    t,
                    now_ms()
                ],
            )?;
            Ok(())
        })
    }

    fn key_metrics(&self, flag: &str) -> Result<Vec<i64>, StoreError> {
        self.key_metrics_impl(flag)
    }

    fn set_key_metrics(&self, flag: &str, metric_ids: &[i64]) -> Result<(), StoreError> {
        let (flag, ids) = (
            flag.to_string(),
            serde_json::to_string(metric_ids).map_err(corrupt)?,
        );
        self.write(move |c| {
            c.execute(
                "INSERT INTO flag_key_metrics (flag, metric_ids, updated_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (flag) DO UPDATE SET metric_ids = excluded.metric_ids, \
                 updated_at = excluded.updated_at",
                params![flag, ids, now_ms()],
            )?;
            Ok(())
        })
    }

    fn key_family_state(
        &self,
        flag: &str,
        version: u64,
    ) -> Result<Option<KeyFamilyState>, StoreError> {
        self.read(|c| {
            let s: Option<String> = c
                .query_row(
                    "SELECT state FROM key_metric_states WHERE flag = ?1 AND version = ?2",
                    params![flag, version as i64],
                    |r| r.get(0),
                )
                .optional()?;
            s.map(|s| serde_json::from_str(&s).map_err(corrupt))
                .transpose()
        })
    }

    fn save_key_family_state(&self, state: &KeyFamilyState) -> Result<(), StoreError> {
        let text = serde_json::to_string(state).map_err(corrupt)?;
        let (flag, version) = (state.flag.clone(), state.version as i64);
        self.write(move |c| {
            c.execute(
                "INSERT INTO key_metric_states (flag, version, state, updated_at) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (flag, version) DO UPDATE SET \
                 state = excluded.state, updated_at = excluded.updated_at",
                params![flag, version, text, now_ms()],
            )?;
            Ok(())
        })
    }

    fn record_srm(&self, flag: &str, version: u64, p_value: f64) -> Result<bool, StoreError> {
        let flag = flag.to_string();
        self.write(move |c| {
            let n = c.execute(
                "INSERT INTO srm_notices (flag, version, p_value, notified, created_at) \
                 VALUES (?1, ?2, ?3, 0, ?4) ON CONFLICT (flag, version) DO NOTHING",
                params![flag, version as i64, p_value, now_ms()],
            )?;
            Ok(n > 0)
        })
    }

    fn mark_srm_notified(&self, flag: &str, version: u64) -> Result<(), StoreError> {
        let flag = flag.to_string();
        self.write(move |c| {
            c.execute(
                "UPDATE srm_notices SET notified = 1 WHERE flag = ?1 AND version = ?2",
                params![flag, version as i64],
            )?;
            Ok(())
        })
    }

    fn auto_resolve_older(&self, flag: &str, current: u64) -> Result<u64, StoreError> {
        let flag = flag.to_string();
        self.write(move |c| {
            // Both kinds (policy and key-metric alerts share the table). An alert that killed
            // its flag stays `fired`: the kill itself made the new version, and "the flag was
            // killed" is what a reader of that alert needs to see.
            let n = c.execute(
                "UPDATE alerts SET state = 'auto_resolved', updated_at = ?3 \
                 WHERE flag = ?1 AND version < ?2 AND state = 'fired' AND flag_killed = 0",
                params![flag, current as i64, now_ms()],
            )?;
            Ok(n as u64)
        })
    }
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

impl SqliteStore {
    fn key_metrics_impl(&self, flag: &str) -> Result<Vec<i64>, StoreError> {
        self.read(|c| {
            let ids: Option<String> = c
                .query_row(
                    "SELECT metric_ids FROM flag_key_metrics WHERE flag = ?1",
                    [flag],
                    |r| r.get(0),
                )
                .optional()?;
            ids.map_or(Ok(Vec::new()), |s| {
                serde_json::from_str(&s).map_err(corrupt)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_bad_lengths_are_refused() {
        let m: HashMap<u128, f64> = [(1u128 << 100, 0.5), (7, -3.25)].into_iter().collect();
        assert_eq!(decode(&encode(&m)).expect("decodes"), m);
        assert!(decode(&[0u8; 23]).is_err());
    }
}
