//! Persistence the monitoring glue adds: the per-user values of each sequential monitor's last
//! eligible check (what the next check's adjacent correlation pairs against), one row per
//! monitor, replaced at every eligible check so it stays bounded.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, params};

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
