//! The monitoring engine: attribution of users to a flag version's treatments, per-user metric
//! values, and the ordinary (fixed-horizon) analysis of every treatment against the baseline.
//!
//! The engine reads through [`source::DataSource`], so the SQLite store (the impact route) and
//! NDJSON exports (`collector analyze`) run exactly the same code: [`recalc::recalculate`].
//! Statistics come from the `stats` crate (checked against scipy); nothing is re-derived here.
//!
//! Flow of a recalculation: [`attribution`] builds the sample from the version's impressions
//! (first impression, one treatment, the rollout rule's label), [`per_user`] streams the events of
//! the metrics' types once and accumulates every metric per user, [`analysis`] summarises each
//! treatment and compares it with the baseline, [`recalc`] adds the sample-ratio check.
//!
//! The same values also come incrementally: [`incremental`] keeps, per monitored flag version,
//! the attribution and per-user totals up to date batch by batch (fed by ingest after each
//! commit) and answers a scheduled check at time t exactly as a recalculation at t would;
//! [`incremental_set`] holds those states, orders their rebuilds with ingest, and falls back to a
//! full recalculation (which also rebuilds the state) wherever a state cannot be sure. The
//! monitoring loop (`crate::monitoring`) reads through it; on-demand and late-data looks are full
//! recalculations.
//!
//! Not here: a per-environment filter of the data.

pub mod analysis;
pub mod attribution;
pub mod fingerprint;
pub mod http;
pub mod incremental;
pub mod incremental_set;
pub mod metric;
pub mod ndjson;
pub mod per_user;
pub mod recalc;
pub mod source;
pub mod table;

pub use analysis::{ImpactReport, MetricImpact, TreatmentImpact, Verdict};
pub use attribution::{CLOCK_SKEW_BUFFER_MS, Sample};
pub use metric::{MetricKind, MetricSpec};
pub use recalc::{RecalcOptions, recalculate};
pub use source::{DataSource, EventQuery, EventRecord, ImpressionRecord, MemorySource, Props};

/// Why the engine could not produce a report.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A metric definition is invalid; names the field.
    #[error("metric {metric:?}: {field}: {message}")]
    Metric {
        /// Metric name.
        metric: String,
        /// The offending field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// Input that cannot be analysed (e.g. no baseline known); names the field.
    #[error("{field}: {message}")]
    Input {
        /// The offending field or argument.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// A file could not be read or parsed (`collector analyze`).
    #[error("{0}")]
    File(String),
}

impl EngineError {
    /// A bad-input error naming `field`.
    pub fn input(field: &'static str, message: impl Into<String>) -> Self {
        EngineError::Input {
            field,
            message: message.into(),
        }
    }
}
