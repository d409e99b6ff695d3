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

/// One read of events: which types, which time range, and whether any metric reads properties.
#[derive(Debug, Clone, Copy)]
pub struct EventQuery<'q> {
    /// Event types wanted (sources may pass others; the engine filters again).
    pub types: &'q [String],
    /// Earliest event time, Unix milliseconds (inclusive).
    pub from_ms: i64,
    /// Latest event time, Unix milliseconds (inclusive).
    pub until_ms: i64,
    /// False when no metric reads event properties: a source may then pass `Props::Json("{}")`
    /// instead of reading them (the store then answers from a covering index alone).
    pub properties: bool,
}

/// Properties passed by sources told that no metric reads them.
pub const NO_PROPS: Props<'static> = Props::Json("{}");

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

    /// [`DataSource::events_in_partition`] with the whole query, so a source may skip reading
    /// properties no metric needs; the engine calls this one.
    fn events_in_partition_for(
        &self,
        part: usize,
        q: &EventQuery<'_>,
        f: &mut dyn FnMut(&EventRecord<'_>),
    ) -> Result<(), EngineError> {
        self.events_in_partition(part, q.types, q.from_ms, q.until_ms, f)
    }
}

/// Time slices of partition `part` of `parts` over `from_ms..=until_ms`: the range is cut into
/// `parts * slices_per_part` contiguous slices dealt round-robin, so every time falls in exactly
/// one partition and a burst of traffic is shared between partitions. Depends only on its
/// arguments, so partitions read on different threads (and connections) never overlap.
pub fn time_slices(
    from_ms: i64,
    until_ms: i64,
    parts: usize,
    part: usize,
    slices_per_part: usize,
) -> Vec<(i64, i64)> {
    if until_ms < from_ms || part >= parts.max(1) {
        return Vec::new();
    }
    let parts = parts.max(1) as i128;
    let k = parts * slices_per_part.max(1) as i128;
    let (from, len) = (
        i128::from(from_ms),
        i128::from(until_ms) - i128::from(from_ms) + 1,
    );
    // Bounds in i128: from + len can exceed i64::MAX (the slice ends at until_ms).
    let bound = |i: i128| from + len * i / k;
    let mut out = Vec::new();
    let mut i = part as i128;
    while i < k {
        let (lo, hi) = (bound(i), bound(i + 1) - 1);
        if lo <= hi {
            out.push((lo as i64, hi as i64));
        }
        i += parts;
    }
    out
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

/// Reads through a [`Store`]'s streaming scans; events in the store's partitions (the SQLite
/// store: time slices of a covering index, each read on its own connection and thread).
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

    fn event_partitions(&self) -> usize {
        self.0.event_scan_partitions()
    }

    fn events_in_partition(
        &self,
        part: usize,
        types: &[String],
        from_ms: i64,
        until_ms: i64,
        f: &mut dyn FnMut(&EventRecord<'_>),
    ) -> Result<(), EngineError> {
        let q = EventQuery {
            types,
            from_ms,
            until_ms,
            properties: true,
        };
        self.events_in_partition_for(part, &q, f)
    }

    fn events_in_partition_for(
        &self,
        part: usize,
        q: &EventQuery<'_>,
        f: &mut dyn FnMut(&EventRecord<'_>),
    ) -> Result<(), EngineError> {
        let parts = self.event_partitions();
        Ok(self.0.scan_events_partition(part, parts, q, f)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_slices_cover_the_range_exactly_once() {
        for (from, until, parts, per) in [
            (0i64, 99i64, 2usize, 8usize),
            (-5, 5, 3, 4),
            (10, 10, 4, 8),
            (i64::MIN, i64::MAX, 2, 8),
            (1_700_000_000_000, 1_700_000_000_000 + 86_400_000, 8, 8),
        ] {
            let mut all: Vec<(i64, i64)> = (0..parts)
                .flat_map(|p| time_slices(from, until, parts, p, per))
                .collect();
            all.sort();
            assert_eq!(all.first().map(|s| s.0), Some(from));
            assert_eq!(all.last().map(|s| s.1), Some(until));
            for w in all.windows(2) {
                assert_eq!(
                    w[0].1.checked_add(1),
                    Some(w[1].0),
                    "{from} {until} {parts}"
                );
            }
        }
        assert!(time_slices(5, 4, 2, 0, 8).is_empty());
        assert!(time_slices(0, 9, 2, 2, 8).is_empty());
    }
}
