//! Late data: items committed with a `ts` earlier than the last scheduled check already run for
//! a monitored flag version change what that check saw. Once the version's window is over, the
//! next monitoring run takes an unscheduled look (the recalculate route's path) at it: the only
//! way a version can still alert after its window. Inside the window no look is taken: the next
//! scheduled check reads the cumulative per-user values, late data included.
//!
//! Cheap by design: the tracker keeps, in memory, the last check time of every monitored flag
//! version (refreshed by every run); an ingest compares its batch's minimum `ts` with the
//! latest of those times and only walks the versions when it is earlier (the smallest would
//! miss an item later than one version's check but earlier than another's). Impressions dirty
//! their own flag version; events dirty every version checked after them (events carry no flag).
//! Dirty marks are persisted (`late_data_dirty`) so a restart keeps them, and the times are
//! loaded from the persisted monitor states when the collector starts ([`load_checked`]), so a
//! batch landing after a restart and before the first run is detected too.

use std::collections::HashMap;
use std::sync::Mutex;

use agent_core::wire::{Batch, FlagDefinition};
use rusqlite::params;

use super::run::{Fired, recalculate_blocking};
use super::{MonitoringError, RunSummary};
use crate::store::sqlite::now_ms;
use crate::store::{SqliteStore, Store, StoreError};

/// Schema of the persisted dirty marks (appended to the migration list).
pub const MIGRATION: &str = r#"
CREATE TABLE late_data_dirty (
    flag TEXT NOT NULL,
    version INTEGER NOT NULL,
    min_ts INTEGER NOT NULL,
    marked_at INTEGER NOT NULL,
    PRIMARY KEY (flag, version)
);
"#;

/// A flag version whose data changed before its last scheduled check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirtyVersion {
    /// Flag key.
    pub flag: String,
    /// Flag version.
    pub version: u64,
}

/// Last scheduled check time of every monitored flag version, shared by ingest and the runs.
#[derive(Debug, Default)]
pub struct LateTracker {
    checked: Mutex<HashMap<(String, u64), i64>>,
}

/// The earliest timestamps of one batch: per (flag, version) of its impressions, and overall
/// of its events.
#[derive(Debug, Clone, Default)]
pub struct BatchTimes {
    impressions: HashMap<(String, u64), i64>,
    events: Option<i64>,
}

impl BatchTimes {
    /// Collects the earliest timestamps of `batch` (before it is moved into the store).
    pub fn of(batch: &Batch) -> Self {
        let mut t = BatchTimes::default();
        for i in &batch.impressions {
            let e = t
                .impressions
                .entry((i.flag.clone(), i.version))
                .or_insert(i.ts);
            *e = (*e).min(i.ts);
        }
        t.events = batch.events.iter().map(|e| e.ts).min();
        t
    }

    fn min(&self) -> Option<i64> {
        self.impressions.values().copied().chain(self.events).min()
    }
}

impl LateTracker {
    /// Records the last scheduled check time of a monitored flag version (replaces the map's
    /// entries of `flag` so replaced versions drop out).
    pub fn set_checked(&self, flag: &str, version: u64, at_ms: i64) {
        let mut m = self.checked.lock().unwrap_or_else(|p| p.into_inner());
        m.retain(|(f, v), _| f != flag || *v == version);
        m.insert((flag.to_string(), version), at_ms);
    }

    /// The versions `times` makes dirty (empty on the fast path: nothing earlier than the
    /// latest last check time; the smallest would miss an item between two versions' checks).
    pub fn late_versions(&self, times: &BatchTimes) -> Vec<(DirtyVersion, i64)> {
        let m = self.checked.lock().unwrap_or_else(|p| p.into_inner());
        let (Some(batch_min), Some(latest)) = (times.min(), m.values().copied().max()) else {
            return Vec::new();
        };
        if batch_min >= latest {
            return Vec::new();
        }
        let mut out = Vec::new();
        for ((flag, version), &checked) in m.iter() {
            let imp = times.impressions.get(&(flag.clone(), *version)).copied();
            let earliest = imp.into_iter().chain(times.events).min();
            if let Some(ts) = earliest.filter(|&ts| ts < checked) {
                out.push((
                    DirtyVersion {
                        flag: flag.clone(),
                        version: *version,
                    },
                    ts,
                ));
            }
        }
        out
    }
}

impl SqliteStore {
    /// Marks versions dirty (keeping the earliest late `ts` of each).
    pub fn mark_late_impl(&self, dirty: Vec<(DirtyVersion, i64)>) -> Result<(), StoreError> {
        if dirty.is_empty() {
            return Ok(());
        }
        self.write(move |c| {
            let tx = c.transaction()?;
            for (d, ts) in &dirty {
                tx.execute(
                    "INSERT INTO late_data_dirty (flag, version, min_ts, marked_at) \
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (flag, version) DO UPDATE SET \
                     min_ts = min(min_ts, excluded.min_ts)",
                    params![d.flag, d.version as i64, ts, now_ms()],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// Every dirty version.
    pub fn late_dirty_impl(&self) -> Result<Vec<DirtyVersion>, StoreError> {
        self.read(|c| {
            let mut st = c.prepare("SELECT flag, version FROM late_data_dirty ORDER BY flag")?;
            let rows = st.query_map([], |r| {
                Ok(DirtyVersion {
                    flag: r.get(0)?,
                    version: r.get::<_, i64>(1)? as u64,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Clears the mark of one version.
    pub fn clear_late_impl(&self, d: &DirtyVersion) -> Result<(), StoreError> {
        let (flag, version) = (d.flag.clone(), d.version as i64);
        self.write(move |c| {
            c.execute(
                "DELETE FROM late_data_dirty WHERE flag = ?1 AND version = ?2",
                params![flag, version],
            )?;
            Ok(())
        })
    }
}

/// Fills `tracker` with the last scheduled check time of every monitored flag version from the
/// persisted monitor states (called at startup, before ingest is served).
pub fn load_checked(
    store: &dyn Store,
    flags: &[FlagDefinition],
    tracker: &LateTracker,
) -> Result<(), MonitoringError> {
    let mut errors = Vec::new();
    for flag in flags {
        let Some(ctx) = super::context::load(store, flag, &mut errors)? else {
            continue;
        };
        let last = ctx
            .watches
            .iter()
            .filter_map(|w| w.monitor.check_time_ms(w.monitor.last_check()))
            .max();
        if let Some(t) = last {
            tracker.set_checked(&flag.key, flag.version, t);
        }
    }
    Ok(())
}

/// Takes one unscheduled look (the recalculate route's path) at `at_ms` for every dirty version
/// that is still a flag's current, monitored version, then clears every mark (a replaced
/// version starts a new analysis, so its mark is moot).
pub fn look_at_dirty(
    store: &dyn Store,
    flags: &[FlagDefinition],
    at_ms: i64,
    summary: &mut RunSummary,
    fired: &mut Vec<Fired>,
) -> Result<(), MonitoringError> {
    for d in store.late_dirty()? {
        let current = flags
            .iter()
            .find(|f| f.key == d.flag && f.version == d.version);
        // Only after the window: inside it, the scheduled checks read cumulative per-user values,
        // so the next one sees the late data, and an extra look would spend level outside the
        // schedule.
        if let Some(flag) = current
            && window_over(store, flag, at_ms)?
            && let Some((look, new)) = recalculate_blocking(store, flag, at_ms)?
        {
            summary.late_data_looks += 1;
            summary.errors.extend(look.actions.errors);
            fired.extend(new);
        }
        store.clear_late(&d)?;
    }
    Ok(())
}

/// True when every monitor of the flag's current version has passed its window at `at_ms`.
fn window_over(
    store: &dyn Store,
    flag: &FlagDefinition,
    at_ms: i64,
) -> Result<bool, MonitoringError> {
    let mut errors = Vec::new();
    Ok(match super::context::load(store, flag, &mut errors)? {
        Some(ctx) => ctx
            .watches
            .iter()
            .all(|w| at_ms >= w.monitor.window_end_ms()),
        None => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use agent_core::wire::{Event, Impression};

    fn batch(imps: &[(&str, u64, i64)], events: &[i64]) -> Batch {
        let mut b: Batch = serde_json::from_value(serde_json::json!({
            "batch_id": "00000000-0000-4000-8000-000000000001",
            "sdk": {"name": "t", "version": "0", "platform": "rust"},
            "impressions": [], "events": []
        }))
        .expect("batch");
        for (i, (flag, version, ts)) in imps.iter().enumerate() {
            let imp: Impression = serde_json::from_value(serde_json::json!({
                "id": format!("00000000-0000-4000-8000-0000000001{i:02}"), "key": "u",
                "flag": flag, "treatment": "on", "version": version, "label": "r", "ts": ts
            }))
            .expect("impression");
            b.impressions.push(imp);
        }
        for (i, ts) in events.iter().enumerate() {
            let ev: Event = serde_json::from_value(serde_json::json!({
                "id": format!("00000000-0000-4000-8000-0000000002{i:02}"), "key": "u",
                "traffic_type": "user", "type": "error", "value": null, "ts": ts,
                "properties": {}
            }))
            .expect("event");
            b.events.push(ev);
        }
        b
    }

    fn dirty(t: &LateTracker, b: &Batch) -> Vec<(String, u64, i64)> {
        let mut v: Vec<_> = t
            .late_versions(&BatchTimes::of(b))
            .into_iter()
            .map(|(d, ts)| (d.flag, d.version, ts))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn impressions_dirty_their_version_and_events_every_version_checked_after_them() {
        let t = LateTracker::default();
        assert!(dirty(&t, &batch(&[("a", 1, 5)], &[5])).is_empty());
        t.set_checked("a", 1, 100);
        t.set_checked("b", 3, 200);
        // Not earlier than either last check: nothing.
        assert!(dirty(&t, &batch(&[("a", 1, 100)], &[250])).is_empty());
        // An impression of `b` before b's check dirties b only; another version of a is not tracked.
        assert_eq!(
            dirty(&t, &batch(&[("b", 3, 150), ("a", 2, 50)], &[])),
            vec![("b".into(), 3, 150)]
        );
        // An event between the two checks dirties only the version checked after it.
        assert_eq!(dirty(&t, &batch(&[], &[150])), vec![("b".into(), 3, 150)]);
        assert_eq!(
            dirty(&t, &batch(&[("a", 1, 20)], &[90])),
            vec![("a".into(), 1, 20), ("b".into(), 3, 90)]
        );
        // A new version replaces the flag's entry.
        t.set_checked("a", 2, 10);
        assert_eq!(dirty(&t, &batch(&[("a", 1, 5)], &[])), vec![]);
        assert_eq!(
            dirty(&t, &batch(&[("a", 2, 5)], &[])),
            vec![("a".into(), 2, 5)]
        );
    }
}
