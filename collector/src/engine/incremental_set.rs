//! The incremental states of every monitored flag version, fed by ingest after each commit and
//! read by the monitoring runs; a state that cannot answer exactly is rebuilt by a full
//! recalculation from the store (see [`super::incremental`] for when).
//!
//! Consistency between the store and the states: ingest holds the *gate* shared from before it
//! selects a batch's relevant items until it has fed them after the commit; a rebuild holds it
//! exclusively while it reads the store and installs the new state. So every committed batch is
//! either in the rebuild's reads or fed to the new state, never both and never neither. The cost:
//! ingest waits while a rebuild reads (after a restart, a metric change, a new monitored version,
//! or a fallback), which is a full recalculation's time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use agent_core::wire::{Batch, Event, Impression};

use super::EngineError;
use super::incremental::{OrphanLimits, Refused, VersionSpec, VersionState};
use super::recalc::{KeyedValues, PerUserValues};
use super::source::DataSource;
use crate::store::IngestOutcome;

/// Which reader a state serves: a version can have one per purpose (alert policies' metrics,
/// key metrics), each with its own metric list.
pub type StateKey = (String, u64, &'static str);

/// The items of a batch that some state reads (cloned before the batch goes to the store).
#[derive(Debug, Default)]
pub struct Relevant {
    impressions: Vec<Impression>,
    events: Vec<Event>,
}

impl Relevant {
    /// True when nothing in the batch matters to any state.
    pub fn is_empty(&self) -> bool {
        self.impressions.is_empty() && self.events.is_empty()
    }
}

/// Counters of how checks were answered (for tests and operators).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IncrementalStats {
    /// Reads answered by a state without reading the store.
    pub incremental_reads: u64,
    /// States built by a full recalculation (first read, restart, fallback).
    pub rebuilds: u64,
    /// States invalidated by ingest (batches only partly new, failed commits).
    pub invalidations: u64,
    /// States held now.
    pub states: u64,
    /// Users held over all states.
    pub users: u64,
    /// Orphan contributions held over all states.
    pub orphans: u64,
}

/// Every incremental state, with the gate that orders rebuilds and ingest.
pub struct Incremental {
    gate: tokio::sync::RwLock<()>,
    states: Mutex<HashMap<StateKey, VersionState>>,
    limits: OrphanLimits,
    incremental_reads: AtomicU64,
    rebuilds: AtomicU64,
    invalidations: AtomicU64,
    /// The last two keyed reads per (flag, version): the sequential mode's adjacent correlation
    /// pairs a check with the one before it, which the state has already moved past.
    recent_keyed: Mutex<Vec<RecentKeyed>>,
}

/// ((flag, version), (check time, values)) of one keyed read.
type RecentKeyed = ((String, u64), (i64, KeyedValues));

impl Default for Incremental {
    fn default() -> Self {
        Self::new(OrphanLimits::default())
    }
}

impl Incremental {
    /// No states yet.
    pub fn new(limits: OrphanLimits) -> Self {
        Incremental {
            gate: tokio::sync::RwLock::new(()),
            states: Mutex::new(HashMap::new()),
            limits,
            incremental_reads: AtomicU64::new(0),
            rebuilds: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
            recent_keyed: Mutex::new(Vec::new()),
        }
    }

    /// Keeps `kv`, the keyed values of `flag` at `version` at check time `t`, with the one
    /// read before it (older ones and other versions of the flag are dropped).
    pub fn remember_keyed(&self, flag: &str, version: u64, t: i64, kv: &KeyedValues) {
        let mut recent = self.recent_keyed.lock().unwrap_or_else(|p| p.into_inner());
        let newest_kept = recent
            .iter()
            .filter(|((f, v), _)| f == flag && *v == version)
            .map(|(_, (t, _))| *t)
            .max();
        recent.retain(|((f, v), (at, _))| f != flag || (*v == version && Some(*at) == newest_kept));
        recent.push(((flag.to_string(), version), (t, kv.clone())));
    }

    /// The keyed values kept by [`Incremental::remember_keyed`] for `flag` at `version` at
    /// check time `t`, if still kept.
    pub fn remembered_keyed(&self, flag: &str, version: u64, t: i64) -> Option<KeyedValues> {
        let recent = self.recent_keyed.lock().unwrap_or_else(|p| p.into_inner());
        recent
            .iter()
            .find(|((f, v), (at, _))| f == flag && *v == version && *at == t)
            .map(|(_, (_, kv))| kv.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<StateKey, VersionState>> {
        self.states.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Held by ingest from before [`Incremental::select`] until after [`Incremental::feed`].
    pub async fn ingest_guard(&self) -> tokio::sync::RwLockReadGuard<'_, ()> {
        self.gate.read().await
    }

    /// The items of `batch` some state reads.
    pub fn select(&self, batch: &Batch) -> Relevant {
        let states = self.lock();
        if states.is_empty() {
            return Relevant::default();
        }
        Relevant {
            impressions: batch
                .impressions
                .iter()
                .filter(|i| {
                    states
                        .keys()
                        .any(|(f, v, _)| *f == i.flag && *v == i.version)
                })
                .cloned()
                .collect(),
            events: batch
                .events
                .iter()
                .filter(|e| states.values().any(|s| s.reads_event_type(&e.event_type)))
                .cloned()
                .collect(),
        }
    }

    /// Feeds the relevant items of a committed batch (`outcome` from the store); when the
    /// store had some of its items already (or failed), the states they touch are invalidated,
    /// since the new items cannot be told from the repeated ones.
    pub fn feed(&self, rel: Relevant, outcome: Result<&IngestOutcome, ()>) {
        if rel.is_empty() {
            return;
        }
        let mut states = self.lock();
        match outcome {
            Ok(o) if o.accepted == 0 => {}
            Ok(o) if o.duplicates == 0 => {
                for s in states.values_mut() {
                    feed_one(s, &rel.impressions, &rel.events);
                }
            }
            _ => {
                for s in states.values_mut() {
                    let spec = s.spec();
                    let touched = rel
                        .impressions
                        .iter()
                        .any(|i| i.flag == spec.flag && i.version == spec.version)
                        || rel.events.iter().any(|e| s.reads_event_type(&e.event_type));
                    if touched && s.is_valid() {
                        s.invalidate();
                        self.invalidations.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
    }

    /// Feeds a whole batch known to be new (tests, benchmarks, replays); takes the gate.
    pub fn feed_batch(&self, batch: &Batch) {
        let _gate = self.gate.blocking_read();
        let mut states = self.lock();
        for s in states.values_mut() {
            feed_one(s, &batch.impressions, &batch.events);
        }
    }

    fn read<R>(
        &self,
        source: &dyn DataSource,
        purpose: &'static str,
        spec: &VersionSpec,
        t: i64,
        now_ms: i64,
        f: impl Fn(&mut VersionState, i64) -> Result<R, Refused>,
    ) -> Result<R, EngineError> {
        let key = (spec.flag.clone(), spec.version, purpose);
        if let Some(s) = self.lock().get_mut(&key)
            && s.spec() == spec
            && let Ok(r) = f(s, t)
        {
            self.incremental_reads.fetch_add(1, Ordering::Relaxed);
            return Ok(r);
        }
        // Must not run on an async worker: callers are blocking tasks or plain threads.
        let _gate = self.gate.blocking_write();
        let mut state = VersionState::build(source, spec.clone(), t, now_ms, self.limits)?;
        self.rebuilds.fetch_add(1, Ordering::Relaxed);
        let r = f(&mut state, t)
            .map_err(|e| EngineError::input("at", format!("fresh state refused: {e:?}")))?;
        self.lock().insert(key, state);
        Ok(r)
    }

    /// The per-user values keyed by user of `spec` at check time `t` (see
    /// [`super::recalc::keyed_values`]), from the state, or from a rebuilt one.
    pub fn keyed_values(
        &self,
        source: &dyn DataSource,
        purpose: &'static str,
        spec: &VersionSpec,
        t: i64,
        now_ms: i64,
    ) -> Result<KeyedValues, EngineError> {
        self.read(
            source,
            purpose,
            spec,
            t,
            now_ms,
            VersionState::keyed_values_at,
        )
    }

    /// The per-user values of `spec` at check time `t` (see
    /// [`super::recalc::per_user_values`]), from the state, or from a rebuilt one.
    pub fn per_user_values(
        &self,
        source: &dyn DataSource,
        purpose: &'static str,
        spec: &VersionSpec,
        t: i64,
        now_ms: i64,
    ) -> Result<PerUserValues, EngineError> {
        self.read(
            source,
            purpose,
            spec,
            t,
            now_ms,
            VersionState::per_user_values_at,
        )
    }

    /// Drops the states whose (flag, version, purpose) `keep` refuses (no longer monitored, or
    /// done).
    pub fn retain(&self, keep: impl Fn(&str, u64, &'static str) -> bool) {
        self.lock().retain(|(f, v, p), _| keep(f, *v, p));
    }

    /// Drops orphans older than the retention before `now_ms` in every state.
    pub fn expire(&self, now_ms: i64) {
        for s in self.lock().values_mut() {
            s.drop_orphans_before(now_ms.saturating_sub(self.limits.retention_ms));
        }
    }

    /// Invalidates every state (e.g. a metric changed under them).
    pub fn invalidate_all(&self) {
        for s in self.lock().values_mut() {
            s.invalidate();
        }
    }

    /// Counters and sizes.
    pub fn stats(&self) -> IncrementalStats {
        let states = self.lock();
        IncrementalStats {
            incremental_reads: self.incremental_reads.load(Ordering::Relaxed),
            rebuilds: self.rebuilds.load(Ordering::Relaxed),
            invalidations: self.invalidations.load(Ordering::Relaxed),
            states: states.len() as u64,
            users: states.values().map(|s| s.users() as u64).sum(),
            orphans: states.values().map(|s| s.orphans() as u64).sum(),
        }
    }
}

fn feed_one(s: &mut VersionState, impressions: &[Impression], events: &[Event]) {
    // Impressions first, so events of users entering in the same batch find them at once
    // (events first would only park them as orphans until the impression adopts them).
    for i in impressions {
        s.push_wire_impression(i);
    }
    for e in events {
        s.push_wire_event(e);
    }
}
