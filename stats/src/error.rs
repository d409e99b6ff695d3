//! Typed errors for bad input to the statistics functions.

use thiserror::Error;

/// Why a statistics function refused its input.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum StatsError {
    /// Fewer observations than the computation needs.
    #[error("{field}: need at least {min} observations, got {got}")]
    TooFew {
        /// Which input was too small.
        field: &'static str,
        /// The minimum required.
        min: u64,
        /// What was given.
        got: u64,
    },
    /// A NaN or infinite value where a finite number is required.
    #[error("{field}: value must be finite")]
    NotFinite {
        /// Which input was not finite.
        field: &'static str,
    },
    /// A number outside its allowed range.
    #[error("{field}: {value} is outside {range}")]
    OutOfRange {
        /// Which input was out of range.
        field: &'static str,
        /// The offending value.
        value: f64,
        /// The allowed range, in words.
        range: &'static str,
    },
    /// Two inputs that must have the same length do not.
    #[error("{field}: length {got} does not match {expected}")]
    LengthMismatch {
        /// Which input had the wrong length.
        field: &'static str,
        /// The expected length.
        expected: usize,
        /// The actual length.
        got: usize,
    },
    /// The standard error is zero, so no test statistic exists.
    #[error("standard error is zero: both arms have no variance")]
    ZeroVariance,
    /// The calculator found no value in the metric's range that an alert could catch.
    #[error("not detectable: {0}")]
    Undetectable(&'static str),
    /// A check schedule table that is not strictly increasing and positive.
    #[error("schedule: offsets must be positive and strictly increasing")]
    BadSchedule,
}

/// Rejects NaN and infinities.
pub(crate) fn finite(field: &'static str, x: f64) -> Result<f64, StatsError> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(StatsError::NotFinite { field })
    }
}

/// Checks a significance level or probability lies strictly inside (0, 1).
pub(crate) fn open_unit(field: &'static str, x: f64) -> Result<f64, StatsError> {
    finite(field, x)?;
    if x > 0.0 && x < 1.0 {
        Ok(x)
    } else {
        Err(StatsError::OutOfRange {
            field,
            value: x,
            range: "(0, 1)",
        })
    }
}
