//! The ordinary analysis of one metric: per-treatment summaries and the two-sided comparison of
//! every treatment with the baseline (Welch; two proportions for percent of users).
//!
//! Key metrics' Benjamini–Hochberg correction and the one-sided monitoring checks over windows
//! build on these results later (`stats::bh`, `stats::degradation`).

use serde::{Deserialize, Serialize};
use stats::srm::SrmResult;
use stats::summary::{ArmStats, Summary, summarize};
use stats::welch::{Comparison, Proportion, two_proportions, welch};

use super::attribution::Exclusions;
use super::metric::{Desired, MetricKind, MetricSpec};

/// Default two-sided level of the ordinary analysis.
pub const DEFAULT_ALPHA: f64 = 0.05;

/// What a significant difference means for the team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Significant, in the desired direction.
    Improved,
    /// Significant, against the desired direction.
    Degraded,
    /// Not significant at the report's level.
    Inconclusive,
}

/// One treatment's numbers for one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TreatmentImpact {
    /// Treatment name.
    pub treatment: String,
    /// True for the baseline treatment.
    pub baseline: bool,
    /// Users of the treatment in the sample.
    pub users: u64,
    /// Users with a value (average and ratio skip users without a denominator).
    pub sample_size: u64,
    /// n, mean, stdev, min, median, p95, max of the per-user values; None without values.
    pub summary: Option<Summary>,
    /// Against the baseline (None for the baseline itself or when not computable).
    pub comparison: Option<Comparison>,
    /// Why the comparison is missing (e.g. too few users, zero variance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison_error: Option<String>,
    /// Reading of the comparison at the report's level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
}

/// One metric's results over every treatment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricImpact {
    /// Store id of the metric, if known.
    pub metric_id: Option<i64>,
    /// Metric name.
    pub name: String,
    /// Numerator event type.
    pub event_type: String,
    /// Aggregation.
    pub metric_type: MetricKind,
    /// Desired direction.
    pub desired_direction: Desired,
    /// The version failed the sample-ratio check: results are untrustworthy.
    pub srm_mismatch: bool,
    /// Baseline first, then the other treatments by name.
    pub treatments: Vec<TreatmentImpact>,
}

/// Users of one treatment and its rollout weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmCount {
    /// Treatment name.
    pub treatment: String,
    /// Users in the sample.
    pub users: u64,
    /// Rollout weight (percent) of the analysed rule, if known.
    pub weight: Option<u32>,
}

/// The impact of every metric for one flag version at one time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImpactReport {
    /// Flag key.
    pub flag: String,
    /// Flag version analysed.
    pub version: u64,
    /// Analysis time, Unix milliseconds: impressions and events after it are ignored.
    pub at_ms: i64,
    /// Events count from this long before a user's entry.
    pub clock_skew_buffer_ms: i64,
    /// Two-sided level of the intervals and verdicts.
    pub alpha: f64,
    /// The treatment every other one is compared with.
    pub baseline: String,
    /// The rollout rule whose users are analysed (None: every impression of the version).
    pub rollout_rule: Option<String>,
    /// Users per treatment.
    pub arms: Vec<ArmCount>,
    /// Users left out.
    pub excluded: Exclusions,
    /// Chi-square sample-ratio check against the rollout weights (None without weights).
    pub srm: Option<SrmResult>,
    /// True when the sample-ratio check failed; repeated on every metric result.
    pub srm_mismatch: bool,
    /// Events that counted for at least one metric.
    pub events_used: u64,
    /// One entry per metric.
    pub metrics: Vec<MetricImpact>,
}

fn verdict(c: &Comparison, alpha: f64, desired: Desired) -> Verdict {
    if c.p_value >= alpha || c.absolute == 0.0 {
        return Verdict::Inconclusive;
    }
    match (c.absolute > 0.0, desired) {
        (true, Desired::Increase) | (false, Desired::Decrease) => Verdict::Improved,
        _ => Verdict::Degraded,
    }
}

fn compare(
    kind: MetricKind,
    base: &[f64],
    treat: &[f64],
    alpha: f64,
) -> Result<Comparison, String> {
    if kind == MetricKind::PercentUsers {
        let prop = |v: &[f64]| Proportion {
            successes: v.iter().filter(|&&x| x > 0.0).count() as u64,
            n: v.len() as u64,
        };
        return two_proportions(&prop(base), &prop(treat), alpha).map_err(|e| e.to_string());
    }
    let b = ArmStats::from_values(base).map_err(|e| format!("baseline: {e}"))?;
    let t = ArmStats::from_values(treat).map_err(|e| format!("treatment: {e}"))?;
    welch(&b, &t, alpha).map_err(|e| e.to_string())
}

/// Analyses one metric from its per-user values by treatment (`users[i]` = arm sizes).
pub fn analyse_metric(
    spec: &MetricSpec,
    treatments: &[String],
    users: &[u64],
    values: &[Vec<f64>],
    baseline: &str,
    alpha: f64,
    srm_mismatch: bool,
) -> MetricImpact {
    let base_idx = treatments.iter().position(|t| t == baseline);
    let mut order: Vec<usize> = (0..treatments.len()).collect();
    order.sort_by_key(|&i| Some(i) != base_idx);
    let rows = order
        .into_iter()
        .map(|i| {
            let is_base = Some(i) == base_idx;
            let (comparison, comparison_error) = match (is_base, base_idx) {
                (true, _) => (None, None),
                (false, None) => (None, Some(format!("baseline {baseline:?} has no users"))),
                (false, Some(b)) => match compare(spec.kind, &values[b], &values[i], alpha) {
                    Ok(c) => (Some(c), None),
                    Err(e) => (None, Some(e)),
                },
            };
            TreatmentImpact {
                treatment: treatments[i].clone(),
                baseline: is_base,
                users: users[i],
                sample_size: values[i].len() as u64,
                summary: summarize(&values[i]).ok(),
                verdict: comparison.as_ref().map(|c| verdict(c, alpha, spec.desired)),
                comparison,
                comparison_error,
            }
        })
        .collect();
    MetricImpact {
        metric_id: spec.id,
        name: spec.name.clone(),
        event_type: spec.event_type.clone(),
        metric_type: spec.kind,
        desired_direction: spec.desired,
        srm_mismatch,
        treatments: rows,
    }
}
