//! Sensitivity calculators (notes, "Calculators"): the smallest degradation an alert can catch
//! with the given power, for proportions and means, by inverting the one-sided test at alpha / K.

use crate::degradation::Threshold;
use crate::error::{StatsError, finite, open_unit};
use crate::normal;
use crate::schedule::Schedule;
use serde::{Deserialize, Serialize};

/// Metric kind of the calculator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Percent of users (binomial variance).
    Proportion,
    /// Mean per user (standard deviation given).
    Mean,
}

/// Which movement the team wants; the opposite one is the degradation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DesiredDirection {
    /// Higher is good, so a decrease degrades.
    Increase,
    /// Lower is good, so an increase degrades.
    Decrease,
}

fn default_alpha() -> f64 {
    0.05
}
fn default_power() -> f64 {
    0.8
}
fn default_window() -> u32 {
    crate::schedule::DEFAULT_WINDOW_MINUTES
}

/// Calculator request (`POST /api/v1/admin/sensitivity`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensitivityRequest {
    /// Proportion or mean.
    pub kind: Kind,
    /// Expected users in both arms over the window.
    pub total_sample_size: u64,
    /// Share of the users in the baseline arm, in (0, 1).
    pub baseline_share: f64,
    /// Baseline proportion (in (0, 1)) or mean.
    pub baseline_value: f64,
    /// Baseline standard deviation (means only; assumed equal in the comparison arm).
    #[serde(default)]
    pub baseline_stdev: Option<f64>,
    /// Degradation threshold, relative to the baseline value or absolute.
    #[serde(default)]
    pub threshold: Threshold,
    /// The direction the team wants the metric to move.
    pub desired_direction: DesiredDirection,
    /// Window-wide significance level (default 0.05).
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// Power (default 0.8).
    #[serde(default = "default_power")]
    pub power: f64,
    /// Monitoring window in minutes (default 1440).
    #[serde(default = "default_window")]
    pub window_minutes: u32,
}

/// Calculator answer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SensitivityResponse {
    /// Comparison-arm value at which an alert fires with the requested power.
    pub comparison_value: f64,
    /// Smallest detectable change, comparison - baseline (signed: negative for decreases).
    pub min_detectable_absolute: f64,
    /// Smallest detectable change relative to the baseline, |comparison - baseline| / |baseline|.
    pub min_detectable_relative: f64,
    /// One-sided level of each check, alpha / K.
    pub alpha_per_check: f64,
    /// K, the number of scheduled checks in the window.
    pub checks: usize,
    /// One-sided critical value z_{1 - alpha/K}.
    pub critical_value: f64,
    /// Users in the baseline arm.
    pub baseline_sample_size: f64,
    /// Users in the comparison arm.
    pub comparison_sample_size: f64,
}

/// Answers a calculator request with the default check schedule.
pub fn calculate(req: &SensitivityRequest) -> Result<SensitivityResponse, StatsError> {
    calculate_with(req, &Schedule::default())
}

/// Largest magnitude of a baseline or standard deviation: squares of larger ones (near f64's
/// limit of 1.8e308) overflow the bound, which would come back as nulls.
const MAX_MAGNITUDE: f64 = 1e150;

/// A finite input within ±[`MAX_MAGNITUDE`].
fn bounded(field: &'static str, x: f64) -> Result<f64, StatsError> {
    if finite(field, x)?.abs() <= MAX_MAGNITUDE {
        Ok(x)
    } else {
        Err(StatsError::OutOfRange {
            field,
            value: x,
            range: "[-1e150, 1e150]",
        })
    }
}

/// Answers a calculator request with a given check schedule.
pub fn calculate_with(
    req: &SensitivityRequest,
    schedule: &Schedule,
) -> Result<SensitivityResponse, StatsError> {
    let alpha = open_unit("alpha", req.alpha)?;
    let power = open_unit("power", req.power)?;
    let share = open_unit("baseline_share", req.baseline_share)?;
    let base = bounded("baseline_value", req.baseline_value)?;
    let checks = schedule.checks_in(req.window_minutes)?;
    let n0 = req.total_sample_size as f64 * share;
    let n1 = req.total_sample_size as f64 - n0;
    let need = (2.0 / share.min(1.0 - share)).ceil();
    if need > u64::MAX as f64 {
        // No sample size helps: the share itself is at fault.
        return Err(StatsError::OutOfRange {
            field: "baseline_share",
            value: share,
            range: "(0, 1) leaving each arm 2 users of at most 2^64",
        });
    }
    if n0 < 2.0 || n1 < 2.0 {
        return Err(StatsError::TooFew {
            field: "total_sample_size",
            min: need as u64,
            got: req.total_sample_size,
        });
    }
    let alpha_per_check = alpha / checks as f64;
    let critical_value = normal::upper_quantile(alpha_per_check);
    let z = critical_value + normal::quantile(power);
    let thr = req.threshold.absolute(base)?;
    // d: sign of a degradation in metric units.
    let d = match req.desired_direction {
        DesiredDirection::Increase => -1.0,
        DesiredDirection::Decrease => 1.0,
    };
    let comparison_value = match req.kind {
        Kind::Proportion => proportion(base, n0, n1, d, thr, z)?,
        Kind::Mean => {
            let s = req.baseline_stdev.ok_or(StatsError::NotFinite {
                field: "baseline_stdev",
            })?;
            if bounded("baseline_stdev", s)? <= 0.0 {
                return Err(StatsError::OutOfRange {
                    field: "baseline_stdev",
                    value: s,
                    range: "(0, inf)",
                });
            }
            base + d * (thr + z * (s * s / n0 + s * s / n1).sqrt())
        }
    };
    let diff = comparison_value - base;
    Ok(SensitivityResponse {
        comparison_value,
        min_detectable_absolute: diff,
        min_detectable_relative: if base != 0.0 {
            diff.abs() / base.abs()
        } else {
            f64::INFINITY
        },
        alpha_per_check,
        checks,
        critical_value,
        baseline_sample_size: n0,
        comparison_sample_size: n1,
    })
}

/// Solves d (p1 - u) = z sqrt(p0 (1 - p0)/n0 + p1 (1 - p1)/n1), u = p0 + d thr, for p1 in [0, 1].
fn proportion(p0: f64, n0: f64, n1: f64, d: f64, thr: f64, z: f64) -> Result<f64, StatsError> {
    if !(p0 > 0.0 && p0 < 1.0) {
        return Err(StatsError::OutOfRange {
            field: "baseline_value",
            value: p0,
            range: "(0, 1) for a proportion",
        });
    }
    let u = p0 + d * thr;
    let a0 = p0 * (1.0 - p0) / n0;
    let z2 = z * z;
    // Squared: p1^2 (1 + z^2/n1) - p1 (2u + z^2/n1) + u^2 - z^2 a0 = 0.
    let qa = 1.0 + z2 / n1;
    let qb = -(2.0 * u + z2 / n1);
    let qc = u * u - z2 * a0;
    let disc = qb * qb - 4.0 * qa * qc;
    if disc < 0.0 {
        return Err(StatsError::Undetectable(
            "no proportion satisfies the power equation",
        ));
    }
    // The root on the degradation side of u (d (p1 - u) >= 0).
    let p1 = (-qb + d * disc.sqrt()) / (2.0 * qa);
    if !(0.0..=1.0).contains(&p1) || d * (p1 - u) < 0.0 {
        return Err(StatsError::Undetectable(
            "the sample is too small for any proportion in [0, 1] to be caught",
        ));
    }
    Ok(p1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(kind: Kind, dir: DesiredDirection, thr: Threshold) -> SensitivityRequest {
        SensitivityRequest {
            kind,
            total_sample_size: 20_000,
            baseline_share: 0.5,
            baseline_value: 0.1,
            baseline_stdev: Some(2.0),
            threshold: thr,
            desired_direction: dir,
            alpha: 0.05,
            power: 0.8,
            window_minutes: 1440,
        }
    }

    /// Power of the one-sided test at the answer, recomputed from scratch.
    fn power_at(p0: f64, p1: f64, n: f64, thr: f64, d: f64, alpha_k: f64) -> f64 {
        let se = (p0 * (1.0 - p0) / n + p1 * (1.0 - p1) / n).sqrt();
        normal::cdf((d * (p1 - p0) - thr) / se - normal::upper_quantile(alpha_k))
    }

    #[test]
    fn proportion_answer_has_the_requested_power() {
        for (dir, d) in [
            (DesiredDirection::Decrease, 1.0),
            (DesiredDirection::Increase, -1.0),
        ] {
            for thr in [
                Threshold::Relative(0.0),
                Threshold::Relative(0.1),
                Threshold::Absolute(0.02),
            ] {
                let r = calculate(&req(Kind::Proportion, dir, thr)).unwrap();
                assert_eq!(r.checks, 52);
                assert!((r.alpha_per_check - 0.05 / 52.0).abs() < 1e-15);
                let t = thr.absolute(0.1).unwrap();
                let pw = power_at(0.1, r.comparison_value, 10_000.0, t, d, r.alpha_per_check);
                assert!((pw - 0.8).abs() < 1e-9, "{dir:?} {thr:?}: power {pw}");
                assert!(d * (r.comparison_value - 0.1) > t);
            }
        }
    }

    #[test]
    fn proportion_hand_figure() {
        // 30-min window (K = 6), 10k per arm, p0 = 10 %, thr 0, higher is bad:
        // z = z_{1-.05/6} + z_.8 = 3.2356010; scipy brentq on the same equation gives 0.1141450149260801.
        let mut q = req(
            Kind::Proportion,
            DesiredDirection::Decrease,
            Threshold::Relative(0.0),
        );
        q.window_minutes = 30;
        let r = calculate(&q).unwrap();
        assert_eq!(r.checks, 6);
        assert!(
            (r.comparison_value - 0.1141450149260801).abs() < 1e-9,
            "{}",
            r.comparison_value
        );
        assert!((r.min_detectable_relative - 0.141450149260801).abs() < 1e-8);
    }

    #[test]
    fn mean_formula_and_monotonicity() {
        let q = req(
            Kind::Mean,
            DesiredDirection::Decrease,
            Threshold::Relative(0.1),
        );
        let r = calculate(&q).unwrap();
        let z = normal::upper_quantile(0.05 / 52.0) + normal::quantile(0.8);
        let want = 0.1 * 1.1 + z * (8.0f64 / 10_000.0).sqrt();
        assert!((r.comparison_value - want).abs() < 1e-12);
        let mut bigger = q;
        bigger.total_sample_size *= 4;
        assert!(calculate(&bigger).unwrap().min_detectable_relative < r.min_detectable_relative);
        let up = req(
            Kind::Mean,
            DesiredDirection::Increase,
            Threshold::Relative(0.1),
        );
        assert!(
            (calculate(&up).unwrap().comparison_value - (0.09 - z * 0.08f64.sqrt() / 10.0)).abs()
                < 1e-12
        );
    }

    #[test]
    fn bad_requests_are_typed() {
        let mut q = req(Kind::Mean, DesiredDirection::Decrease, Threshold::default());
        q.baseline_stdev = None;
        assert!(calculate(&q).is_err());
        let mut q = req(
            Kind::Proportion,
            DesiredDirection::Decrease,
            Threshold::default(),
        );
        q.alpha = 1.0;
        assert!(matches!(
            calculate(&q),
            Err(StatsError::OutOfRange { field: "alpha", .. })
        ));
        q.alpha = 0.05;
        q.window_minutes = 10;
        assert!(calculate(&q).is_err());
        q.window_minutes = 30;
        q.baseline_value = 1.5;
        assert!(calculate(&q).is_err());
        q.baseline_value = 0.1;
        q.total_sample_size = 40;
        q.desired_direction = DesiredDirection::Increase;
        assert!(matches!(calculate(&q), Err(StatsError::Undetectable(_))));
        // A share no sample size can split is the share's fault, not the sample size's.
        q.total_sample_size = 20_000;
        q.baseline_share = 1e-300;
        assert!(matches!(
            calculate(&q),
            Err(StatsError::OutOfRange {
                field: "baseline_share",
                ..
            })
        ));
        // Magnitudes whose bound would overflow are refused, naming the input, not answered
        // as nulls.
        let mut q = req(Kind::Mean, DesiredDirection::Decrease, Threshold::default());
        q.baseline_value = 1e308;
        assert!(matches!(
            calculate(&q),
            Err(StatsError::OutOfRange {
                field: "baseline_value",
                ..
            })
        ));
        q.baseline_value = 10.0;
        q.baseline_stdev = Some(1e300);
        assert!(matches!(
            calculate(&q),
            Err(StatsError::OutOfRange {
                field: "baseline_stdev",
                ..
            })
        ));
    }

    #[test]
    fn wire_names() {
        let json = r#"{"kind":"proportion","total_sample_size":20000,"baseline_share":0.5,
            "baseline_value":0.1,"threshold":{"relative":0.1},"desired_direction":"increase",
            "alpha":0.05,"power":0.8,"window_minutes":1440}"#;
        let q: SensitivityRequest = serde_json::from_str(json).unwrap();
        assert_eq!(q.threshold, Threshold::Relative(0.1));
        let v = serde_json::to_value(calculate(&q).unwrap()).unwrap();
        for k in [
            "comparison_value",
            "min_detectable_relative",
            "alpha_per_check",
            "checks",
        ] {
            assert!(v.get(k).is_some(), "{k}");
        }
        let abs: SensitivityRequest =
            serde_json::from_str(&json.replace(r#"{"relative":0.1}"#, r#"{"absolute":0.01}"#))
                .unwrap();
        assert_eq!(abs.threshold, Threshold::Absolute(0.01));
    }
}
