//! A stored alert: everything needed to read it later, and its lifecycle state.

use serde::{Deserialize, Serialize};
use stats::boundary::Mode;

use super::monitor::{CheckResult, FireReason, Interval};

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

/// Filter of `GET /api/v1/admin/alerts`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertFilter {
    /// Only this flag.
    pub flag: Option<String>,
    /// Only this state.
    pub state: Option<AlertState>,
    /// At most this many (newest first); default 100, at most 1000.
    pub limit: Option<u32>,
}
