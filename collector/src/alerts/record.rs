//! A stored alert: everything needed to read it later, and its lifecycle state.

use serde::{Deserialize, Serialize};
use stats::boundary::Mode;

use super::monitor::{CheckResult, FireReason, Interval};
use stats::welch::Comparison;

/// Lifecycle of an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// Fired and open.
    Fired,
    /// Dismissed by a person.
    Dismissed,
    /// Closed by the system (e.g. the version was replaced).
    AutoResolved,
}

impl AlertState {
    /// The name stored in the table and used in filters.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Fired => "fired",
            AlertState::Dismissed => "dismissed",
            AlertState::AutoResolved => "auto_resolved",
        }
    }

    /// Parses a stored or query name.
    pub fn parse(s: &str) -> Option<AlertState> {
        match s {
            "fired" => Some(AlertState::Fired),
            "dismissed" => Some(AlertState::Dismissed),
            "auto_resolved" => Some(AlertState::AutoResolved),
            _ => None,
        }
    }
}

/// One alert per (flag, version, metric, policy, treatment), as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Id.
    pub id: i64,
    /// Flag key.
    pub flag: String,
    /// Flag version of the window.
    pub version: u64,
    /// Metric id.
    pub metric_id: i64,
    /// Policy id.
    pub policy_id: i64,
    /// Treatment compared.
    pub treatment: String,
    /// Baseline treatment.
    pub baseline_treatment: String,
    /// Baseline mean at the firing look.
    pub baseline_value: f64,
    /// Treatment mean at the firing look.
    pub treatment_value: f64,
    /// Baseline users.
    pub n_baseline: u64,
    /// Treatment users.
    pub n_treatment: u64,
    /// Absolute impact m1 - m0.
    pub impact_abs: f64,
    /// Relative impact; `None` when the baseline mean is 0.
    pub impact_rel: Option<f64>,
    /// One-sided confidence interval of the absolute impact.
    pub interval_abs: Interval,
    /// The same, relative to the baseline mean.
    pub interval_rel: Interval,
    /// Threshold in metric units (after noise floors).
    pub threshold_abs: f64,
    /// Critical value of the firing look (`None` for a fail-fast before any test).
    pub critical: Option<f64>,
    /// Scheduled check index (`None`: unscheduled look).
    pub check_index: Option<usize>,
    /// Time of the firing look, Unix milliseconds.
    pub check_time_ms: i64,
    /// Boundary mode.
    pub mode: Mode,
    /// Why it fired first.
    pub reason: FireReason,
    /// Sample-ratio mismatch: the numbers may be untrustworthy.
    pub srm: bool,
    /// Lifecycle state.
    pub state: AlertState,
    /// A notification was sent.
    pub notified: bool,
    /// The flag was killed because of it.
    pub flag_killed: bool,
    /// The full latest firing look.
    pub detail: CheckResult,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub updated_at: i64,
}

/// What raised an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// An alert policy: a one-sided degradation beyond its threshold.
    Policy,
    /// A key metric of the flag: a two-sided significant change, BH across the key metrics.
    KeyMetric,
}

impl AlertKind {
    /// The name stored in the table and used in filters.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Policy => "policy",
            AlertKind::KeyMetric => "key_metric",
        }
    }

    /// Parses a stored or query name.
    pub fn parse(s: &str) -> Option<AlertKind> {
        match s {
            "policy" => Some(AlertKind::Policy),
            "key_metric" => Some(AlertKind::KeyMetric),
            _ => None,
        }
    }
}

/// Which way a key metric moved in the treatment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Movement {
    /// The treatment's mean is higher than the baseline's.
    Increase,
    /// The treatment's mean is lower.
    Decrease,
}

impl Movement {
    /// True when moving this way goes against `desired` (`increase` or `decrease`).
    pub fn degrades(self, desired: &str) -> bool {
        matches!(
            (desired, self),
            ("increase", Movement::Decrease) | ("decrease", Movement::Increase)
        )
    }
}

/// What a key-metric alert keeps beyond the shared columns (stored as JSON in `detail`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyMetricDetail {
    /// Metric name at the firing look.
    pub metric: String,
    /// The metric's desired direction: `increase` or `decrease`.
    pub desired_direction: String,
    /// Which way the metric moved.
    pub direction: Movement,
    /// The two-sided test (Welch, or two proportions for percent-of-users metrics) with
    /// intervals at the look's per-check level.
    pub comparison: Comparison,
    /// Benjamini–Hochberg adjusted p-value across the flag's key metrics x treatments.
    pub adjusted_p: f64,
    /// The look's per-check two-sided level the adjusted p-value passed.
    pub level: f64,
}

/// A key-metric alert, one per (flag, version, metric, treatment), as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyMetricAlert {
    /// Id (shared with policy alerts).
    pub id: i64,
    /// Flag key.
    pub flag: String,
    /// Flag version of the window.
    pub version: u64,
    /// Metric id.
    pub metric_id: i64,
    /// Metric name.
    pub metric: String,
    /// The metric's desired direction: `increase` or `decrease`.
    pub desired_direction: String,
    /// Treatment compared.
    pub treatment: String,
    /// Baseline treatment.
    pub baseline_treatment: String,
    /// Baseline mean at the firing look.
    pub baseline_value: f64,
    /// Treatment mean at the firing look.
    pub treatment_value: f64,
    /// Baseline users.
    pub n_baseline: u64,
    /// Treatment users.
    pub n_treatment: u64,
    /// Absolute impact m1 - m0.
    pub impact_abs: f64,
    /// Relative impact; `None` when the baseline mean is 0.
    pub impact_rel: Option<f64>,
    /// Two-sided confidence interval of the absolute impact at `confidence`.
    pub interval_abs: Interval,
    /// The same for the relative impact (delta method); unbounded when the baseline is 0.
    pub interval_rel: Interval,
    /// Confidence of the intervals: 1 - `level`.
    pub confidence: f64,
    /// Which way the metric moved.
    pub direction: Movement,
    /// It moved against the desired direction.
    pub degraded: bool,
    /// Unadjusted two-sided p-value.
    pub p_value: f64,
    /// Benjamini–Hochberg adjusted p-value across the flag's key metrics x treatments.
    pub adjusted_p: f64,
    /// Per-check two-sided level of the firing look (alpha / K, the sequential boundary's, or
    /// the always-valid one's after the window).
    pub level: f64,
    /// Boundary mode of the account when the window started.
    pub mode: Mode,
    /// `significant` (scheduled check) or `recalculation` (unscheduled look after the window).
    pub reason: FireReason,
    /// Scheduled check index (`None`: unscheduled look).
    pub check_index: Option<usize>,
    /// Time of the firing look, Unix milliseconds.
    pub check_time_ms: i64,
    /// Sample-ratio mismatch: the numbers may be untrustworthy.
    pub srm: bool,
    /// Lifecycle state.
    pub state: AlertState,
    /// Its notification was queued (durably).
    pub notified: bool,
    /// The full two-sided test.
    pub comparison: Comparison,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub updated_at: i64,
}

/// Any alert, tagged by `kind`: what `GET /api/v1/admin/alerts` lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AlertItem {
    /// Raised by an alert policy.
    Policy(Alert),
    /// Raised by a key metric of the flag.
    KeyMetric(KeyMetricAlert),
}

impl AlertItem {
    /// The flag the alert is about.
    pub fn flag(&self) -> &str {
        match self {
            AlertItem::Policy(a) => &a.flag,
            AlertItem::KeyMetric(a) => &a.flag,
        }
    }

    /// The alert's id.
    pub fn id(&self) -> i64 {
        match self {
            AlertItem::Policy(a) => a.id,
            AlertItem::KeyMetric(a) => a.id,
        }
    }
}

/// Filter of `GET /api/v1/admin/alerts`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertFilter {
    /// Only this kind ([`crate::alerts::store::AlertStore::alerts`] lists policy alerts only).
    #[serde(default)]
    pub kind: Option<AlertKind>,
    /// Only this flag.
    pub flag: Option<String>,
    /// Only this state.
    pub state: Option<AlertState>,
    /// At most this many (newest first); default 100, at most 1000.
    pub limit: Option<u32>,
}
