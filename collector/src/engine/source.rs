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
pub trait DataSource {
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
        for e in &self.events {
            if e.ts < from_ms || e.ts > until_ms || !types.iter().any(|t| *t == e.event_type) {
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
