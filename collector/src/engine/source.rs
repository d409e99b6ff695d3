//! Where the engine reads impressions and events from: a borrowed-row streaming interface, with
//! an in-memory implementation (NDJSON, tests, benchmarks) and one over any [`Store`].

use agent_core::wire::{Event, Impression};
use serde_json::{Map, Value};

use super::EngineError;
use crate::store::Store;

/// One impression as the engine needs it (borrowed from the source's buffer).
#[derive(Debug, Clone, Copy)]
pub struct ImpressionRecord<'a> {
    /// The user's matching key.
    pub key: &'a str,
    /// Treatment served.
    pub treatment: &'a str,
    /// Why (rule name or a reserved label such as `not in split`).
    pub label: &'a str,
    /// When, in Unix milliseconds.
    pub ts: i64,
}

/// An event's properties, parsed or still as JSON text (parsed only when a metric needs them).
#[derive(Debug, Clone, Copy)]
pub enum Props<'a> {
    /// Already parsed.
    Map(&'a Map<String, Value>),
    /// JSON object text as stored.
    Json(&'a str),
}

/// One event as the engine needs it.
#[derive(Debug, Clone, Copy)]
pub struct EventRecord<'a> {
    /// The user's key.
    pub key: &'a str,
    /// Event type.
    pub event_type: &'a str,
    /// When, in Unix milliseconds.
    pub ts: i64,
    /// Numeric value, if any.
    pub value: Option<f64>,
    /// Properties.
    pub props: Props<'a>,
}

/// A source of impressions and events for a recalculation.
///
/// Sources that can split their events into independent partitions (in-memory data) say so with
/// [`DataSource::event_partitions`]; the engine then accumulates partitions on parallel threads
/// and merges the totals, which gives the same result as one pass.
pub trait DataSource: Sync {
    /// Calls `f` for every impression of `flag` at `version` (any order).
    fn impressions(
        &self,
        flag: &str,
        version: u64,
        f: &mut dyn FnMut(&ImpressionRecord<'_>),
    ) -> Result<(), EngineError>;

    /// Calls `f` for every event of one of `types` with `from_ms <= ts <= until_ms` (any order;
    /// sources may pass more, the engine filters again).
    fn events(
        &self,
        types: &[String],
        from_ms: i64,
        until_ms: i64,
        f: &mut dyn FnMut(&EventRecord<'_>),
    ) -> Result<(), EngineError>;

    /// How many partitions [`DataSource::events_in_partition`] can read (1: no parallelism).
    fn event_partitions(&self) -> usize {
        1
    }

    /// The events of partition `part` (of [`DataSource::event_partitions`]), filtered as in
    /// [`DataSource::events`]; together the partitions give every event exactly once.
    fn events_in_partition(
        &self,
        part: usize,
        types: &[String],
        from_ms: i64,
        until_ms: i64,
        f: &mut dyn FnMut(&EventRecord<'_>),
    ) -> Result<(), EngineError> {
        if part == 0 {
            self.events(types, from_ms, until_ms, f)
        } else {
            Ok(())
        }
    }
}

/// Splits `len` items into `parts` contiguous ranges and returns range `part`.
pub fn partition_range(len: usize, parts: usize, part: usize) -> std::ops::Range<usize> {
    let parts = parts.max(1);
    let chunk = len.div_ceil(parts);
    (part * chunk).min(len)..((part + 1) * chunk).min(len)
}

/// Worker threads for partitioned sources: the machine's parallelism, at most 8.
pub fn default_partitions() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
}

/// Impressions and events held in memory (parsed NDJSON exports, tests, benchmarks).
#[derive(Debug, Clone, Default)]
pub struct MemorySource {
    /// All impressions (any flag and version).
    pub impressions: Vec<Impression>,
    /// All events.
    pub events: Vec<Event>,
}

impl DataSource for MemorySource {
    fn impressions(
        &self,
        flag: &str,
        version: u64,
        f: &mut dyn FnMut(&ImpressionRecord<'_>),
    ) -> Result<(), EngineError> {
        for i in &self.impressions {
            if i.flag == flag && i.version == version {
                f(&ImpressionRecord {
                    key: &i.key,
                    treatment: &i.treatment,
                    label: &i.label,
                    ts: i.ts,
                });
            }
        }
        Ok(())
    }

    fn events(
        &self,
        types: &[String],
        from_ms: i64,
        until_ms: i64,
        f: &mut dyn FnMut(&EventRecord<'_>),
    ) -> Result<(), EngineError> {
        self.events_in_partition(0, types, from_ms, until_ms, &mut |e| f(e))?;
        for p in 1..self.event_partitions() {
            self.events_in_partition(p, types, from_ms, until_ms, &mut |e| f(e))?;
        }
        Ok(())
    }

    fn event_partitions(&self) -> usize {
        if self.events.len() < 100_000 {
            1
        } else {
            default_partitions()
        }
    }

    fn events_in_partition(
        &self,
        part: usize,
        types: &[String],
        from_ms: i64,
        until_ms: i64,
        f: &mut dyn FnMut(&EventRecord<'_>),
    ) -> Result<(), EngineError> {
        let range = partition_range(self.events.len(), self.event_partitions(), part);
        for e in &self.events[range] {
            if e.ts < from_ms || e.ts > until_ms || !types.contains(&e.event_type) {
                continue;
            }
            f(&EventRecord {
                key: &e.key,
                event_type: &e.event_type,
                ts: e.ts,
                value: e.value,
                props: Props::Map(&e.properties),
            });
        }
        Ok(())
    }
}

/// Reads through a [`Store`]'s streaming scans.
pub struct StoreSource<'a>(pub &'a dyn Store);

impl DataSource for StoreSource<'_> {
    fn impressions(
        &self,
        flag: &str,
        version: u64,
        f: &mut dyn FnMut(&ImpressionRecord<'_>),
    ) -> Result<(), EngineError> {
        Ok(self.0.scan_impressions(flag, version, f)?)
    }

    fn events(
        &self,
        types: &[String],
        from_ms: i64,
        until_ms: i64,
        f: &mut dyn FnMut(&EventRecord<'_>),
    ) -> Result<(), EngineError> {
        Ok(self.0.scan_events(types, from_ms, until_ms, f)?)
    }
}
