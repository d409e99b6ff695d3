//! Minimum users per arm before a check may test (notes 3.0): the fixed rule (default 355,
//! Kohavi's n > 355 s^2 at skewness s = 1) and the opt-in skew-adjusted rule
//! `min_samples * max(1, s^2)` with s the larger sample skewness of the two arms.
//!
//! Why opt-in: for a rare binary metric (p = 2 %, s = 6.9) the normal approximation is poor at
//! n ~ 355; the rule waits for ~16,700 users per arm instead. It makes eligibility depend on the
//! data (like the existing zero-variance rule); skipped checks carry their budget forward.

use crate::error::{StatsError, finite};
use crate::summary::{ArmStats, Moments};
use serde::{Deserialize, Serialize};

/// How the minimum users per arm is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MinSamplesRule {
    /// The configured minimum as is (default).
    #[default]
    Fixed,
    /// The configured minimum times max(1, s^2), s = the larger |sample skewness| of the arms.
    SkewAdjusted,
}

impl MinSamplesRule {
    /// Minimum users per arm under this rule, from the base minimum and each arm's skewness
    /// (`None` when undefined, e.g. zero variance: the base applies for that arm).
    pub fn required(self, base: u64, skewness: [Option<f64>; 2]) -> Result<u64, StatsError> {
        match self {
            MinSamplesRule::Fixed => Ok(base),
            MinSamplesRule::SkewAdjusted => {
                let mut s: f64 = 0.0;
                for v in skewness.into_iter().flatten() {
                    s = s.max(finite("skewness", v)?.abs());
                }
                skew_adjusted(base, s)
            }
        }
    }
}

/// `ceil(base * max(1, skewness^2))`, saturating at `u64::MAX`.
pub fn skew_adjusted(base: u64, skewness: f64) -> Result<u64, StatsError> {
    let s = finite("skewness", skewness)?;
    let n = (base as f64 * (s * s).max(1.0)).ceil();
    Ok(if n >= u64::MAX as f64 {
        u64::MAX
    } else {
        n as u64
    })
}

/// Skewness (1 - 2p) / sqrt(p (1 - p)) of a Bernoulli(p) value, for p in (0, 1).
pub fn bernoulli_skewness(p: f64) -> Result<f64, StatsError> {
    crate::error::open_unit("p", p)?;
    Ok((1.0 - 2.0 * p) / (p * (1.0 - p)).sqrt())
}

/// Streaming, mergeable moments up to the third (Pébay's one-pass update) for the sample
/// skewness g1 = sqrt(n) M3 / M2^(3/2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SkewMoments {
    /// Count, mean and sum of squared deviations.
    pub moments: Moments,
    /// Sum of cubed deviations from the mean.
    pub m3: f64,
}

impl SkewMoments {
    /// Adds one value (the caller guarantees it is finite).
    pub fn push(&mut self, x: f64) {
        let n1 = self.moments.count as f64;
        let n = n1 + 1.0;
        let delta = x - self.moments.mean;
        let delta_n = delta / n;
        let term1 = delta * delta_n * n1;
        self.m3 += term1 * delta_n * (n - 2.0) - 3.0 * delta_n * self.moments.m2;
        self.moments.push(x);
    }

    /// Combines the moments of two disjoint sets of values.
    pub fn merge(&mut self, other: &SkewMoments) {
        let (na, nb) = (self.moments.count as f64, other.moments.count as f64);
        if nb == 0.0 {
            return;
        }
        if na == 0.0 {
            *self = *other;
            return;
        }
        let n = na + nb;
        let delta = other.moments.mean - self.moments.mean;
        self.m3 += other.m3
            + delta.powi(3) * na * nb * (na - nb) / (n * n)
            + 3.0 * delta * (na * other.moments.m2 - nb * self.moments.m2) / n;
        self.moments.merge(&other.moments);
    }

    /// Sample skewness g1; `None` below three values or at zero variance.
    pub fn skewness(&self) -> Option<f64> {
        let m = &self.moments;
        (m.count >= 3 && m.m2 > 0.0).then(|| (m.count as f64).sqrt() * self.m3 / m.m2.powf(1.5))
    }

    /// The arm statistics the tests take, or an error below two values.
    pub fn arm(&self) -> Result<ArmStats, StatsError> {
        self.moments.arm()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_pass_skew(xs: &[f64]) -> f64 {
        let n = xs.len() as f64;
        let m = xs.iter().sum::<f64>() / n;
        let m2: f64 = xs.iter().map(|x| (x - m).powi(2)).sum();
        let m3: f64 = xs.iter().map(|x| (x - m).powi(3)).sum();
        n.sqrt() * m3 / m2.powf(1.5)
    }

    #[test]
    fn streaming_and_merged_skewness_match_two_pass() {
        let xs: Vec<f64> = (0..203)
            .map(|i| (((i * 37) % 23) as f64).powi(2) * 0.1 + 50.0)
            .collect();
        let want = two_pass_skew(&xs);
        let mut whole = SkewMoments::default();
        xs.iter().for_each(|&x| whole.push(x));
        assert!((whole.skewness().unwrap() - want).abs() < 1e-10, "{want}");
        let (a, b) = xs.split_at(70);
        let (mut ma, mut mb) = (SkewMoments::default(), SkewMoments::default());
        a.iter().for_each(|&x| ma.push(x));
        b.iter().for_each(|&x| mb.push(x));
        ma.merge(&mb);
        assert!((ma.skewness().unwrap() - want).abs() < 1e-10);
        assert_eq!(ma.moments.count, 203);
        // scipy.stats.skew([1, 2, 3, 10]) = 1.0182337649086284
        let mut s = SkewMoments::default();
        [1.0, 2.0, 3.0, 10.0].iter().for_each(|&x| s.push(x));
        assert!((s.skewness().unwrap() - 1.018_233_764_908_628_4).abs() < 1e-12);
    }

    #[test]
    fn binary_sample_skewness_tends_to_bernoulli() {
        // 2 % ones exactly: the sample skewness equals the Bernoulli value.
        let mut s = SkewMoments::default();
        (0..1000).for_each(|i| s.push(if i % 50 == 0 { 1.0 } else { 0.0 }));
        let b = bernoulli_skewness(0.02).unwrap();
        assert!((s.skewness().unwrap() - b).abs() < 1e-9);
        assert!((b - 0.96 / 0.0196f64.sqrt()).abs() < 1e-12);
        assert!(bernoulli_skewness(0.0).is_err());
    }

    #[test]
    fn rule_values() {
        assert_eq!(skew_adjusted(355, 0.5).unwrap(), 355);
        assert_eq!(skew_adjusted(355, -3.0).unwrap(), 3195);
        assert_eq!(skew_adjusted(355, 1e200).unwrap(), u64::MAX);
        assert!(skew_adjusted(355, f64::NAN).is_err());
        let b = bernoulli_skewness(0.02).unwrap();
        // 355 * 0.96^2 / 0.0196 = 16,692.2...
        assert_eq!(skew_adjusted(355, b).unwrap(), 16_693);
        let r = MinSamplesRule::SkewAdjusted;
        assert_eq!(r.required(355, [Some(0.2), Some(-2.0)]).unwrap(), 1420);
        assert_eq!(r.required(355, [None, None]).unwrap(), 355);
        assert_eq!(
            MinSamplesRule::Fixed
                .required(355, [Some(9.0), None])
                .unwrap(),
            355
        );
        assert!(r.required(355, [Some(f64::INFINITY), None]).is_err());
        assert_eq!(
            serde_json::to_string(&MinSamplesRule::SkewAdjusted).unwrap(),
            "\"skew_adjusted\""
        );
        assert_eq!(MinSamplesRule::default(), MinSamplesRule::Fixed);
    }
}
