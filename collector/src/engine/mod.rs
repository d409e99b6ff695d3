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
//! Not yet here (later increments of issue 3): incremental computation as data arrives (the
//! accumulators merge, so per-batch partial totals can be added), the key-metric flag alert with
//! Benjamini–Hochberg (`stats::bh`), the one-sided monitoring checks over windows
//! (`stats::degradation`, `stats::boundary`), and a per-environment filter of the data.

pub mod analysis;
pub mod attribution;
pub mod fingerprint;
pub mod http;
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
