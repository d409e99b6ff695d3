//! Per-arm summaries of per-user values, from a slice or streamed and merged (Welford/Chan).

use crate::error::{StatsError, finite};
use serde::{Deserialize, Serialize};

/// Dispersion summary of one arm's per-user values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of users.
    pub n: u64,
    /// Mean per-user value.
    pub mean: f64,
    /// Sample standard deviation (divisor n - 1); `None` with a single user.
    pub stdev: Option<f64>,
    /// Smallest value.
    pub min: f64,
    /// Median (linear interpolation between order statistics, numpy's default).
    pub median: f64,
    /// 95th percentile (same interpolation).
    pub p95: f64,
    /// Largest value.
    pub max: f64,
}

/// Summarises a non-empty slice of finite per-user values.
pub fn summarize(values: &[f64]) -> Result<Summary, StatsError> {
    if values.is_empty() {
        return Err(StatsError::TooFew {
            field: "values",
            min: 1,
            got: 0,
        });
    }
    let mut sorted = Vec::with_capacity(values.len());
    let mut moments = Moments::default();
    for &v in values {
        finite("values", v)?;
        sorted.push(v);
        moments.push(v);
    }
    sorted.sort_by(f64::total_cmp);
    Ok(Summary {
        n: moments.count,
        mean: moments.mean,
        stdev: moments.variance().map(f64::sqrt),
        min: sorted[0],
        median: percentile_sorted(&sorted, 0.5),
        p95: percentile_sorted(&sorted, 0.95),
        max: sorted[sorted.len() - 1],
    })
}

/// Percentile `q` in [0, 1] of ascending, non-empty data by linear interpolation (numpy "linear").
fn percentile_sorted(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Streaming, mergeable count / mean / sum of squared deviations (Welford; Chan et al. to merge).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Moments {
    /// Number of values seen.
    pub count: u64,
    /// Running mean.
    pub mean: f64,
    /// Sum of squared deviations from the mean.
    pub m2: f64,
}

impl Moments {
    /// Adds one value (the caller guarantees it is finite; see [`Moments::try_push`]).
    pub fn push(&mut self, x: f64) {
        self.count += 1;
        let delta = x - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (x - self.mean);
    }

    /// Adds one value, refusing NaN and infinities.
    pub fn try_push(&mut self, x: f64) -> Result<(), StatsError> {
        self.push(finite("value", x)?);
        Ok(())
    }

    /// Combines the moments of two disjoint sets of values.
    pub fn merge(&mut self, other: &Moments) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = *other;
            return;
        }
        let n = (self.count + other.count) as f64;
        let delta = other.mean - self.mean;
        let (na, nb) = (self.count as f64, other.count as f64);
        self.mean += delta * nb / n;
        self.m2 += other.m2 + delta * delta * na * nb / n;
        self.count += other.count;
    }

    /// Sample variance (divisor n - 1), `None` below two values.
    pub fn variance(&self) -> Option<f64> {
        (self.count >= 2).then(|| (self.m2 / (self.count - 1) as f64).max(0.0))
    }

    /// The arm statistics the tests take, or an error below two values.
    pub fn arm(&self) -> Result<ArmStats, StatsError> {
        ArmStats::new(self.count, self.mean, self.variance().unwrap_or(0.0))
    }
}

/// Sufficient statistics of one arm for a comparison: size, mean and sample variance.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ArmStats {
    /// Number of users (at least 2).
    pub n: u64,
    /// Mean per-user value.
    pub mean: f64,
    /// Sample variance (divisor n - 1).
    pub variance: f64,
}

impl ArmStats {
    /// Validated arm statistics: n >= 2, finite mean, finite non-negative variance.
    pub fn new(n: u64, mean: f64, variance: f64) -> Result<Self, StatsError> {
        if n < 2 {
            return Err(StatsError::TooFew {
                field: "n",
                min: 2,
                got: n,
            });
        }
        finite("mean", mean)?;
        finite("variance", variance)?;
        if variance < 0.0 {
            return Err(StatsError::OutOfRange {
                field: "variance",
                value: variance,
                range: "[0, inf)",
            });
        }
        Ok(Self { n, mean, variance })
    }

    /// Arm statistics of a slice of per-user values.
    pub fn from_values(values: &[f64]) -> Result<Self, StatsError> {
        let mut m = Moments::default();
        for &v in values {
            m.try_push(v)?;
        }
        m.arm()
    }

    /// Squared standard error of the mean, s^2 / n.
    pub fn se2(&self) -> f64 {
        self.variance / self.n as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_small_slice() {
        let s = summarize(&[4.0, 1.0, 3.0, 2.0, 10.0]).unwrap();
        assert_eq!(s.n, 5);
        assert!((s.mean - 4.0).abs() < 1e-12);
        // deviations 0,-3,-1,-2,6 -> sum sq 50, /4
        assert!((s.stdev.unwrap() - 12.5f64.sqrt()).abs() < 1e-12);
        assert_eq!((s.min, s.median, s.max), (1.0, 3.0, 10.0));
        // numpy.percentile([1,2,3,4,10], 95) = 4 + 0.8*6 = 8.8
        assert!((s.p95 - 8.8).abs() < 1e-12);
        assert_eq!(summarize(&[7.0]).unwrap().stdev, None);
    }

    #[test]
    fn summary_rejects_bad_input() {
        assert!(matches!(summarize(&[]), Err(StatsError::TooFew { .. })));
        assert!(matches!(
            summarize(&[1.0, f64::NAN]),
            Err(StatsError::NotFinite { .. })
        ));
        assert!(ArmStats::from_values(&[1.0]).is_err());
    }

    #[test]
    fn merged_moments_equal_one_pass() {
        let xs: Vec<f64> = (0..101)
            .map(|i| ((i * 37) % 17) as f64 * 0.5 + 1e6)
            .collect();
        let mut whole = Moments::default();
        xs.iter().for_each(|&x| whole.push(x));
        let (a, b) = xs.split_at(40);
        let (mut ma, mut mb) = (Moments::default(), Moments::default());
        a.iter().for_each(|&x| ma.push(x));
        b.iter().for_each(|&x| mb.push(x));
        ma.merge(&mb);
        assert_eq!(ma.count, whole.count);
        assert!((ma.mean - whole.mean).abs() < 1e-9);
        assert!((ma.variance().unwrap() - whole.variance().unwrap()).abs() < 1e-9);
        let two_pass: f64 = xs.iter().map(|x| (x - whole.mean).powi(2)).sum::<f64>() / 100.0;
        assert!((whole.variance().unwrap() - two_pass).abs() < 1e-9);
        let mut empty = Moments::default();
        empty.merge(&whole);
        assert_eq!(empty, whole);
    }
}
