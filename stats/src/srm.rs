//! Sample-ratio mismatch: the chi-square test of the observed split against the rollout weights,
//! and the anytime-valid Dirichlet-multinomial version for repeated looks (notes 3.c).

use crate::error::{StatsError, finite};
use serde::{Deserialize, Serialize};
use statrs::distribution::{ChiSquared, ContinuousCDF};
use statrs::function::gamma::ln_gamma;

/// p-value below which a version is marked as mismatched (GrowthBook's default).
pub const SRM_P_THRESHOLD: f64 = 0.001;
/// Fewest users every arm needs before the check runs (GrowthBook's default).
pub const SRM_MIN_PER_ARM: u64 = 8;
/// Prior concentration of the sequential test (GrowthBook's default).
pub const DEFAULT_PRIOR_CONCENTRATION: f64 = 10_000.0;

/// Outcome of one chi-square sample-ratio check.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SrmResult {
    /// Whether every arm had the minimum count so the test ran.
    pub checked: bool,
    /// Chi-square statistic (0 when not checked).
    pub statistic: f64,
    /// Degrees of freedom, arms - 1.
    pub df: u64,
    /// p-value; 1 when not checked.
    pub p_value: f64,
    /// True when p < [`SRM_P_THRESHOLD`].
    pub mismatch: bool,
}

/// Validates counts against weights and returns the normalised weights.
fn normalised(observed: &[u64], weights: &[f64]) -> Result<Vec<f64>, StatsError> {
    if weights.len() < 2 {
        return Err(StatsError::TooFew {
            field: "weights",
            min: 2,
            got: weights.len() as u64,
        });
    }
    if observed.len() != weights.len() {
        return Err(StatsError::LengthMismatch {
            field: "observed",
            expected: weights.len(),
            got: observed.len(),
        });
    }
    let mut total = 0.0;
    for &w in weights {
        finite("weights", w)?;
        if w <= 0.0 {
            return Err(StatsError::OutOfRange {
                field: "weights",
                value: w,
                range: "(0, inf)",
            });
        }
        total += w;
    }
    Ok(weights.iter().map(|w| w / total).collect())
}

/// Chi-square goodness-of-fit test of observed arm counts against positive rollout weights.
pub fn chi_square(observed: &[u64], weights: &[f64]) -> Result<SrmResult, StatsError> {
    let w = normalised(observed, weights)?;
    let df = (w.len() - 1) as u64;
    if observed.iter().any(|&o| o < SRM_MIN_PER_ARM) {
        return Ok(SrmResult {
            checked: false,
            statistic: 0.0,
            df,
            p_value: 1.0,
            mismatch: false,
        });
    }
    let n: f64 = observed.iter().map(|&o| o as f64).sum();
    let statistic: f64 = observed
        .iter()
        .zip(&w)
        .map(|(&o, &wa)| {
            let e = wa * n;
            (o as f64 - e).powi(2) / e
        })
        .sum();
    let chi = ChiSquared::new(df as f64).map_err(|_| StatsError::OutOfRange {
        field: "df",
        value: df as f64,
        range: "(0, inf)",
    })?;
    let p_value = chi.sf(statistic);
    Ok(SrmResult {
        checked: true,
        statistic,
        df,
        p_value,
        mismatch: p_value < SRM_P_THRESHOLD,
    })
}

/// Log Bayes factor of the Dirichlet-multinomial alternative against the weights, from cumulative counts.
pub fn log_bayes_factor(
    counts: &[u64],
    weights: &[f64],
    concentration: f64,
) -> Result<f64, StatsError> {
    let w = normalised(counts, weights)?;
    finite("concentration", concentration)?;
    if concentration <= 0.0 {
        return Err(StatsError::OutOfRange {
            field: "concentration",
            value: concentration,
            range: "(0, inf)",
        });
    }
    let n: f64 = counts.iter().map(|&x| x as f64).sum();
    let mut ln_bf = ln_gamma(concentration) - ln_gamma(concentration + n);
    for (&x, &wa) in counts.iter().zip(&w) {
        let a0 = concentration * wa;
        let x = x as f64;
        ln_bf += ln_gamma(a0 + x) - ln_gamma(a0) - x * wa.ln();
    }
    Ok(ln_bf)
}

/// Running anytime-valid SRM test: p_seq = min(1, min over looks of 1 / BF).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SequentialSrm {
    /// Prior concentration (sum of the Dirichlet parameters).
    pub concentration: f64,
    /// Smallest p-value so far (1 before any look).
    pub p_value: f64,
}

impl Default for SequentialSrm {
    fn default() -> Self {
        Self {
            concentration: DEFAULT_PRIOR_CONCENTRATION,
            p_value: 1.0,
        }
    }
}

impl SequentialSrm {
    /// Records one look at cumulative counts and returns the running p-value.
    pub fn update(&mut self, counts: &[u64], weights: &[f64]) -> Result<f64, StatsError> {
        let ln_bf = log_bayes_factor(counts, weights, self.concentration)?;
        self.p_value = self.p_value.min((-ln_bf).exp()).min(1.0);
        Ok(self.p_value)
    }

    /// True when the running p-value is below [`SRM_P_THRESHOLD`].
    pub fn mismatch(&self) -> bool {
        self.p_value < SRM_P_THRESHOLD
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chi_square_two_arms() {
        // (520-500)^2/500 * 2 = 1.6; p = P(chi2_1 > 1.6) = 0.20590321073206
        let r = chi_square(&[520, 480], &[50.0, 50.0]).unwrap();
        assert!((r.statistic - 1.6).abs() < 1e-12);
        assert!(
            (r.p_value - 0.205_903_210_732_06).abs() < 1e-9,
            "{}",
            r.p_value
        );
        assert!(!r.mismatch);
        let bad = chi_square(&[5400, 4600], &[1.0, 1.0]).unwrap();
        assert!(bad.mismatch);
    }

    #[test]
    fn chi_square_waits_for_minimum_and_rejects_bad_weights() {
        let r = chi_square(&[7, 100], &[1.0, 1.0]).unwrap();
        assert!(!r.checked && !r.mismatch);
        assert!(chi_square(&[10, 10], &[1.0, 0.0]).is_err());
        assert!(chi_square(&[10, 10, 10], &[1.0, 1.0]).is_err());
        assert!(chi_square(&[10], &[1.0]).is_err());
    }

    #[test]
    fn sequential_srm_flags_a_persistent_49_51_split_but_not_a_fair_one() {
        let mut fair = SequentialSrm::default();
        let mut skewed = SequentialSrm::default();
        for k in 1..=100u64 {
            let n = 2_000 * k;
            fair.update(&[n / 2 + 30, n / 2 - 30], &[1.0, 1.0]).unwrap();
            skewed
                .update(&[n * 49 / 100, n * 51 / 100], &[1.0, 1.0])
                .unwrap();
        }
        assert!(!fair.mismatch(), "{}", fair.p_value);
        assert!(skewed.mismatch(), "{}", skewed.p_value);
    }

    #[test]
    fn bayes_factor_is_one_at_zero_counts() {
        let l = log_bayes_factor(&[0, 0], &[1.0, 3.0], 10_000.0).unwrap();
        assert!(l.abs() < 1e-9);
    }
}
