//! The monitoring engine: attribution of users to a flag version's treatments, per-user metric
//! values, and the ordinary (fixed-horizon) analysis of every treatment against the baseline.
//!
//! The engine reads through [`source::DataSource`], so the SQLite store (the impact route) and
//! NDJSON exports (`collector analyze`) run exactly the same code: [`recalc::recalculate`].
//! Statistics come from the `stats` crate (checked against scipy); nothing is re-derived here.

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
pub use source::{DataSource, EventRecord, ImpressionRecord, MemorySource, Props};

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
