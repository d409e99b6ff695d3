//! The in-memory snapshot of flags and segments, rebuilt after every change and broadcast to
//! SSE subscribers; SDK polls are answered from it without touching the store.

use std::sync::{Arc, OnceLock};

use agent_core::flags::{FlagError, FlagSet};
use agent_core::wire::{FlagChanges, FlagDefinition, Segment};
use arc_swap::ArcSwap;
use tokio::sync::broadcast;

use crate::store::{Store, StoreError};

/// One consistent view of the flag set at a version.
#[derive(Debug)]
pub struct Snapshot {
    /// Global change number.
    pub version: u64,
    /// All definitions, archived included, ordered by key.
    pub flags: Vec<FlagDefinition>,
    /// All segments.
    pub segments: Vec<Segment>,
    /// Compiled set for evaluation, built on first use.
    compiled: OnceLock<Result<FlagSet, FlagError>>,
}

impl Snapshot {
    /// A snapshot of these definitions.
    pub fn new(version: u64, flags: Vec<FlagDefinition>, segments: Vec<Segment>) -> Self {
        Snapshot {
            version,
            flags,
            segments,
            compiled: OnceLock::new(),
        }
    }

    /// The definition of `key`.
    pub fn flag(&self, key: &str) -> Option<&FlagDefinition> {
        self.flags.iter().find(|f| f.key == key)
    }

    /// The compiled flag set (compiled once per snapshot).
    pub fn flag_set(&self) -> Result<&FlagSet, &FlagError> {
        self.compiled
            .get_or_init(|| FlagSet::new(self.flags.clone(), self.segments.clone()))
            .as_ref()
    }

    /// What changed after `since` (everything when `since` is 0).
    pub fn changes_since(&self, since: u64) -> FlagChanges {
        FlagChanges {
            version: self.version,
            flags: self
                .flags
                .iter()
                .filter(|f| f.version > since)
                .cloned()
                .collect(),
            segments: self
                .segments
                .iter()
                .filter(|s| s.version > since)
                .cloned()
                .collect(),
            full: since == 0,
        }
    }
}

/// The current snapshot plus the change broadcast.
pub struct FlagState {
    current: ArcSwap<Snapshot>,
    changes: broadcast::Sender<u64>,
}

fn load(store: &dyn Store) -> Result<Snapshot, StoreError> {
    Ok(Snapshot::new(
        store.version()?,
        store.flags()?,
        store.segments()?,
    ))
}

impl FlagState {
    /// Loads the snapshot from the store (blocking).
    pub fn load(store: &dyn Store) -> Result<FlagState, StoreError> {
        let (changes, _) = broadcast::channel(64);
        Ok(FlagState {
            current: ArcSwap::from_pointee(load(store)?),
            changes,
        })
    }

    /// Rebuilds the snapshot from the store (blocking) and tells subscribers the new version.
    pub fn reload(&self, store: &dyn Store) -> Result<u64, StoreError> {
        let snap = load(store)?;
        let version = snap.version;
        self.current.store(Arc::new(snap));
        let _ = self.changes.send(version);
        Ok(version)
    }

    /// The current snapshot.
    pub fn current(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// A receiver of new versions.
    pub fn subscribe(&self) -> broadcast::Receiver<u64> {
        self.changes.subscribe()
    }
}
