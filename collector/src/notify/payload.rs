//! The notification payload: what an alert (or an SRM warning, or a test) tells a channel.
//!
//! Webhooks receive it as the JSON body; emails carry [`Notification::text`] and the JSON.

use serde::{Deserialize, Serialize};
use stats::degradation::Threshold;
use uuid::Uuid;

/// Why a notification was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// An alert policy fired: a metric degraded beyond its threshold.
    AlertFired,
    /// A fired alert ended on its own (later data no longer shows the degradation).
    AlertResolved,
    /// The observed split of a flag version does not match its rollout weights.
    Srm,
    /// Sent by `POST /api/v1/admin/channels/{id}/test`.
    Test,
}

impl NotificationKind {
    /// The snake_case name, as in JSON and the delivery log.
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::AlertFired => "alert_fired",
            NotificationKind::AlertResolved => "alert_resolved",
            NotificationKind::Srm => "srm",
            NotificationKind::Test => "test",
        }
    }
}

/// The lifecycle state of an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// Fired and open.
    Fired,
    /// Closed by a person.
    Dismissed,
    /// Closed by the engine.
    AutoResolved,
}

/// A confidence interval; a missing bound is unbounded (one-sided intervals).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Lower bound, or None for minus infinity.
    pub lower: Option<f64>,
    /// Upper bound, or None for plus infinity.
    pub upper: Option<f64>,
}

/// Impact of the treatment against the baseline, with intervals.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Impact {
    /// treatment value - baseline value.
    pub absolute: f64,
    /// (treatment - baseline) / |baseline|; None when the baseline is 0.
    pub relative: Option<f64>,
    /// Interval of the absolute impact.
    pub absolute_interval: Interval,
    /// Interval of the relative impact.
    pub relative_interval: Option<Interval>,
    /// Confidence level of the intervals, e.g. 0.999 (1 - alpha per check).
    pub confidence: f64,
}

/// Everything needed to read an alert later.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertDetails {
    /// The stored alert's id, when it has one.
    pub alert_id: Option<i64>,
    /// The alert policy that fired, when known.
    pub policy_id: Option<i64>,
    /// Metric id.
    pub metric_id: i64,
    /// Metric name.
    pub metric: String,
    /// The compared treatment.
    pub treatment: String,
    /// The baseline treatment.
    pub baseline: String,
    /// Metric value (mean per user) in the baseline.
    pub baseline_value: f64,
    /// Metric value in the treatment.
    pub treatment_value: f64,
    /// Users in the baseline.
    pub baseline_users: u64,
    /// Users in the treatment.
    pub treatment_users: u64,
    /// Impact with its interval.
    pub impact: Impact,
    /// The policy's degradation threshold.
    pub threshold: Threshold,
    /// The direction the team wants the metric to move: `increase` or `decrease`.
    pub desired_direction: String,
    /// When the check ran, Unix milliseconds.
    pub check_time: i64,
    /// Index of the scheduled check in the window (1-based); None for unscheduled looks.
    pub check_index: Option<u32>,
    /// Alert state.
    pub state: AlertState,
    /// Boundary mode: `bonferroni` or `sequential`.
    pub mode: Option<String>,
    /// The version's sample ratio is off: results are untrustworthy.
    pub srm_warning: bool,
    /// The policy killed the flag.
    pub flag_killed: bool,
}

/// A notification sent to channels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Unique id (also sent as `X-Rum-Notification-Id`, so receivers can drop repeats).
    pub id: Uuid,
    /// Why it was sent.
    pub kind: NotificationKind,
    /// When it was created, Unix milliseconds.
    pub created_at: i64,
    /// Flag key, when about a flag.
    pub flag: Option<String>,
    /// Flag version, when about a flag.
    pub version: Option<u64>,
    /// Alert details (alert_fired, alert_resolved).
    pub alert: Option<AlertDetails>,
    /// SRM p-value (srm).
    pub srm_p_value: Option<f64>,
    /// A human-readable summary (the email body starts with it).
    pub text: String,
}

impl Notification {
    /// A test notification for channel `channel`.
    pub fn test(channel: &str, now_ms: i64) -> Notification {
        Notification {
            id: Uuid::new_v4(),
            kind: NotificationKind::Test,
            created_at: now_ms,
            flag: None,
            version: None,
            alert: None,
            srm_p_value: None,
            text: format!("Test notification for channel \"{channel}\"."),
        }
    }

    /// An alert notification (kind from the state: fired, or resolved otherwise).
    pub fn alert(flag: &str, version: u64, details: AlertDetails, now_ms: i64) -> Notification {
        let kind = match details.state {
            AlertState::Fired => NotificationKind::AlertFired,
            AlertState::Dismissed | AlertState::AutoResolved => NotificationKind::AlertResolved,
        };
        let text = alert_text(flag, version, &details);
        Notification {
            id: Uuid::new_v4(),
            kind,
            created_at: now_ms,
            flag: Some(flag.to_string()),
            version: Some(version),
            alert: Some(details),
            srm_p_value: None,
            text,
        }
    }

    /// A sample-ratio-mismatch warning for a flag version.
    pub fn srm(flag: &str, version: u64, p_value: f64, now_ms: i64) -> Notification {
        Notification {
            id: Uuid::new_v4(),
            kind: NotificationKind::Srm,
            created_at: now_ms,
            flag: Some(flag.to_string()),
            version: Some(version),
            alert: None,
            srm_p_value: Some(p_value),
            text: format!(
                "Sample ratio mismatch on flag {flag} version {version} (p = {p_value:.2e}): \
                 the observed split does not match the rollout weights; results are untrustworthy."
            ),
        }
    }

    /// Email subject line.
    pub fn subject(&self) -> String {
        let about = match (&self.flag, &self.alert) {
            (Some(f), Some(a)) => format!(" {f}: {}", a.metric),
            (Some(f), None) => format!(" {f}"),
            _ => String::new(),
        };
        format!("[rum] {}{about}", self.kind.as_str())
    }
}

fn bound(x: Option<f64>, unbounded: &str) -> String {
    x.map_or_else(|| unbounded.to_string(), |v| format!("{v:.6}"))
}

fn alert_text(flag: &str, version: u64, d: &AlertDetails) -> String {
    let what = match d.state {
        AlertState::Fired => "degraded",
        AlertState::Dismissed => "alert dismissed",
        AlertState::AutoResolved => "alert auto-resolved",
    };
    let rel = d
        .impact
        .relative
        .map(|r| format!(" ({:+.2} %)", r * 100.0))
        .unwrap_or_default();
    let thr = match d.threshold {
        Threshold::Relative(r) => format!("{} % relative", r * 100.0),
        Threshold::Absolute(a) => format!("{a} absolute"),
    };
    let mut t = format!(
        "Flag {flag} version {version}: metric \"{}\" {what} in treatment {} vs baseline {}.\n\
         Baseline {:.6} ({} users), treatment {:.6} ({} users); impact {:+.6}{rel}, \
         {:.1} % interval [{}, {}]; threshold {thr}.",
        d.metric,
        d.treatment,
        d.baseline,
        d.baseline_value,
        d.baseline_users,
        d.treatment_value,
        d.treatment_users,
        d.impact.absolute,
        d.impact.confidence * 100.0,
        bound(d.impact.absolute_interval.lower, "-inf"),
        bound(d.impact.absolute_interval.upper, "inf"),
    );
    if d.srm_warning {
        t.push_str("\nWarning: sample ratio mismatch, results are untrustworthy.");
    }
    if d.flag_killed {
        t.push_str("\nThe flag was killed by the alert policy.");
    }
    t
}
