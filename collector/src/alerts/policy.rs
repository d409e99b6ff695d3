//! Alert policies (what to watch, how strict, what to do) and the account's monitoring settings.
//!
//! A policy is stored as given; [`AlertPolicy::resolve`] turns it, the metric's desired direction
//! and the account settings into the [`MonitorConfig`] frozen for one monitoring window.

use serde::{Deserialize, Serialize};
use stats::boundary::Mode;
use stats::degradation::{DEFAULT_MIN_SAMPLES, Direction, NoiseFloor, Threshold};
use stats::min_samples::MinSamplesRule;
use stats::schedule::{DEFAULT_WINDOW_MINUTES, validate_window};

use super::monitor::MonitorConfig;

/// Fewest users per arm a fail-fast rule waits for unless told otherwise (noise protection).
pub const DEFAULT_FAIL_FAST_MIN_SAMPLES: u64 = 30;

/// An invalid policy or setting, naming the field (`threshold.relative`, `kind.target_ms`, ...).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PolicyError {
    /// Path of the offending field.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> PolicyError {
    PolicyError {
        field: field.into(),
        message: message.into(),
    }
}

/// Deployment-verification metric kinds: templates of direction and noise floor.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum MetricKind {
    /// Error rate: higher is bad, no floor.
    ErrorRate,
    /// Response time: higher is bad, floor 20 ms / 20 %.
    ResponseTime,
    /// Throughput: lower is bad, floor 20 / 20 %.
    Throughput,
    /// Infrastructure CPU or memory: both directions bad, floor 20 / 20 %.
    Infra,
    /// Apdex (satisfied + tolerating / 2) / total at target T: lower is bad, floor 0 / 20 %.
    Apdex {
        /// The target response time T in milliseconds (tolerating up to 4 T); must equal the
        /// watched metric's `apdex_target_ms`, which computes the per-user scores.
        target_ms: f64,
    },
}

impl MetricKind {
    /// The template's direction.
    pub fn direction(self) -> Direction {
        match self {
            MetricKind::ErrorRate | MetricKind::ResponseTime => Direction::HigherIsBad,
            MetricKind::Throughput | MetricKind::Apdex { .. } => Direction::LowerIsBad,
            MetricKind::Infra => Direction::BothBad,
        }
    }

    /// The template's noise floor: a change below max(delta, ratio |baseline|) may not alert.
    pub fn floor(self) -> NoiseFloor {
        let (delta, ratio) = match self {
            MetricKind::ErrorRate => (0.0, 0.0),
            MetricKind::ResponseTime | MetricKind::Throughput | MetricKind::Infra => (20.0, 0.2),
            MetricKind::Apdex { .. } => (0.0, 0.2),
        };
        NoiseFloor { delta, ratio }
    }
}

impl MetricKind {
    /// The template's name, as in the `type` field.
    pub fn name(self) -> &'static str {
        match self {
            MetricKind::ErrorRate => "error_rate",
            MetricKind::ResponseTime => "response_time",
            MetricKind::Throughput => "throughput",
            MetricKind::Infra => "infra",
            MetricKind::Apdex { .. } => "apdex",
        }
    }

    /// The metric types (`metric_type`) the template can watch: error rate a count, percent of
    /// users, ratio or rate of error events; response time and infrastructure gauges an average
    /// of values (durations, CPU or memory samples); throughput a rate; Apdex an apdex metric.
    pub fn metric_types(self) -> &'static [&'static str] {
        match self {
            MetricKind::ErrorRate => &["count", "percent_users", "ratio", "rate"],
            MetricKind::ResponseTime | MetricKind::Infra => &["average"],
            MetricKind::Throughput => &["rate"],
            MetricKind::Apdex { .. } => &["apdex"],
        }
    }

    /// Checks that the template fits a metric of `metric_type` (with Apdex target
    /// `apdex_target_ms`), naming the field on mismatch: `kind.type` or `kind.target_ms`.
    pub fn check_metric(
        self,
        metric_type: &str,
        apdex_target_ms: Option<f64>,
    ) -> Result<(), PolicyError> {
        let types = self.metric_types();
        if !types.contains(&metric_type) {
            return Err(invalid(
                "kind.type",
                format!(
                    "a {} policy watches a metric of type {}; the metric is {metric_type:?}",
                    self.name(),
                    types.join(" or ")
                ),
            ));
        }
        if let MetricKind::Apdex { target_ms } = self
            && apdex_target_ms != Some(target_ms)
        {
            return Err(invalid(
                "kind.target_ms",
                format!(
                    "{target_ms} differs from the metric's apdex_target_ms {}",
                    apdex_target_ms.map_or("(none)".to_string(), |t| t.to_string())
                ),
            ));
        }
        Ok(())
    }
}

/// Apdex of response times at target `target_ms`: (satisfied + tolerating / 2) / total, where
/// satisfied is <= T and tolerating is <= 4 T; `None` without samples.
pub fn apdex(durations_ms: impl IntoIterator<Item = f64>, target_ms: f64) -> Option<f64> {
    let (mut total, mut score) = (0u64, 0.0);
    for d in durations_ms {
        total += 1;
        if d <= target_ms {
            score += 1.0;
        } else if d <= 4.0 * target_ms {
            score += 0.5;
        }
    }
    (total > 0).then(|| score / total as f64)
}

/// Fire at once, whatever the significance, when the observed degradation crosses a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailFast {
    /// Degradation (relative to the baseline or absolute) that fires at once.
    pub threshold: Threshold,
    /// Users each arm needs before the rule applies (default 30), so two users cannot fire it.
    #[serde(default = "default_fail_fast_min")]
    pub min_samples: u64,
}

fn default_fail_fast_min() -> u64 {
    DEFAULT_FAIL_FAST_MIN_SAMPLES
}

fn default_min_samples() -> u64 {
    DEFAULT_MIN_SAMPLES
}

/// What a team asks for: the body of `POST /api/v1/admin/policies` and `PUT .../{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    /// Human name.
    pub name: String,
    /// The metric watched.
    pub metric_id: i64,
    /// The flag watched; `None`: every flag.
    #[serde(default)]
    pub flag: Option<String>,
    /// Degradation threshold, `{"relative": 0.1}` or `{"absolute": x}`; default relative 0.
    #[serde(default)]
    pub threshold: Threshold,
    /// Which movement is bad; default: the kind's, else the metric's desired direction.
    #[serde(default)]
    pub direction: Option<Direction>,
    /// Notification channel ids.
    #[serde(default)]
    pub channels: Vec<i64>,
    /// Kill the flag when this policy fires.
    #[serde(default)]
    pub kill_flag: bool,
    /// Metric-kind template giving direction and noise floor.
    #[serde(default)]
    pub kind: Option<MetricKind>,
    /// Custom noise floor, replacing the kind's.
    #[serde(default)]
    pub floor: Option<NoiseFloor>,
    /// Optional fail-fast rule.
    #[serde(default)]
    pub fail_fast: Option<FailFast>,
    /// Users each arm needs before a check may test (default 355).
    #[serde(default = "default_min_samples")]
    pub min_samples: u64,
    /// `fixed` (default): `min_samples` as is; `skew_adjusted` (opt-in, for rare or skewed
    /// metrics): `min_samples * max(1, s^2)`, s = the larger per-user sample skewness of the arms.
    #[serde(default)]
    pub min_samples_rule: MinSamplesRule,
}

/// A stored policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertPolicy {
    /// Id.
    pub id: i64,
    /// The policy as given.
    #[serde(flatten)]
    pub spec: PolicySpec,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub updated_at: i64,
}

fn non_negative(field: &str, v: f64) -> Result<(), PolicyError> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(invalid(field, format!("{v} must be a finite number >= 0")))
    }
}

fn check_threshold(field: &str, t: Threshold) -> Result<(), PolicyError> {
    match t {
        Threshold::Relative(r) => non_negative(&format!("{field}.relative"), r),
        Threshold::Absolute(a) => non_negative(&format!("{field}.absolute"), a),
    }
}

impl PolicySpec {
    /// Checks every field, naming the first bad one.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.name.trim().is_empty() {
            return Err(invalid("name", "must not be empty"));
        }
        if self.metric_id <= 0 {
            return Err(invalid("metric_id", "must be a positive metric id"));
        }
        if let Some(f) = &self.flag
            && f.trim().is_empty()
        {
            return Err(invalid(
                "flag",
                "must not be empty (omit it for every flag)",
            ));
        }
        check_threshold("threshold", self.threshold)?;
        for (i, c) in self.channels.iter().enumerate() {
            if *c <= 0 {
                return Err(invalid(format!("channels[{i}]"), "must be a positive id"));
            }
        }
        if let Some(MetricKind::Apdex { target_ms }) = self.kind
            && !(target_ms.is_finite() && target_ms > 0.0)
        {
            return Err(invalid("kind.target_ms", "must be a positive number"));
        }
        if let Some(f) = self.floor {
            non_negative("floor.delta", f.delta)?;
            non_negative("floor.ratio", f.ratio)?;
        }
        if let Some(ff) = self.fail_fast {
            check_threshold("fail_fast.threshold", ff.threshold)?;
            if ff.min_samples < 2 {
                return Err(invalid("fail_fast.min_samples", "must be at least 2"));
            }
        }
        if self.min_samples < 2 {
            return Err(invalid("min_samples", "must be at least 2"));
        }
        Ok(())
    }

    /// Checks the policy against the metric it watches: the kind, if any, must fit the metric's
    /// type (and an Apdex target equal the metric's); names the field.
    pub fn check_metric(&self, metric: &crate::store::Metric) -> Result<(), PolicyError> {
        match self.kind {
            Some(k) => k.check_metric(&metric.metric_type, metric.apdex_target_ms),
            None => Ok(()),
        }
    }

    /// The direction the test runs in: the override, else the kind's, else from the metric's
    /// desired direction (`increase`: lower is bad; `decrease`: higher is bad).
    pub fn direction_for(&self, metric_desired: &str) -> Result<Direction, PolicyError> {
        if let Some(d) = self.direction.or(self.kind.map(MetricKind::direction)) {
            return Ok(d);
        }
        match metric_desired {
            "increase" => Ok(Direction::LowerIsBad),
            "decrease" => Ok(Direction::HigherIsBad),
            other => Err(invalid(
                "direction",
                format!("metric direction {other:?} is neither increase nor decrease"),
            )),
        }
    }

    /// The noise floor applied: the custom one, else the kind's, else none.
    pub fn effective_floor(&self) -> Option<NoiseFloor> {
        self.floor.or(self.kind.map(MetricKind::floor))
    }
}

impl AlertPolicy {
    /// The configuration of one monitoring window of this policy, frozen at the version change.
    pub fn resolve(
        &self,
        metric_desired: &str,
        settings: &AccountSettings,
        window_minutes: u32,
        baseline_treatment: &str,
    ) -> Result<MonitorConfig, PolicyError> {
        self.spec.validate()?;
        settings.validate()?;
        validate_window(window_minutes).map_err(|e| invalid("window_minutes", e.to_string()))?;
        Ok(MonitorConfig {
            mode: settings.mode,
            alpha: settings.significance,
            direction: self.spec.direction_for(metric_desired)?,
            threshold: self.spec.threshold,
            floor: self.spec.effective_floor(),
            fail_fast: self.spec.fail_fast,
            min_samples: self.spec.min_samples,
            min_samples_rule: self.spec.min_samples_rule,
            window_minutes,
            baseline_treatment: baseline_treatment.to_string(),
        })
    }

    /// True when the policy watches `flag`.
    pub fn applies_to(&self, flag: &str) -> bool {
        self.spec.flag.as_deref().is_none_or(|f| f == flag)
    }
}

/// Account-wide monitoring settings (`GET/PUT /api/v1/admin/settings`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSettings {
    /// Window-wide significance level (default 0.05).
    #[serde(default = "default_significance")]
    pub significance: f64,
    /// `sequential` (default for new accounts) or `bonferroni`.
    #[serde(default)]
    pub mode: Mode,
    /// Default monitoring window in minutes (30..=40320, default 1440).
    #[serde(default = "default_window")]
    pub window_minutes: u32,
}

fn default_significance() -> f64 {
    0.05
}

fn default_window() -> u32 {
    DEFAULT_WINDOW_MINUTES
}

impl Default for AccountSettings {
    fn default() -> Self {
        Self {
            significance: default_significance(),
            mode: Mode::Sequential,
            window_minutes: DEFAULT_WINDOW_MINUTES,
        }
    }
}

impl AccountSettings {
    /// Checks the level lies in (0, 0.5) and the window in 30..=40320 minutes.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let a = self.significance;
        if !(a.is_finite() && a > 0.0 && a < 0.5) {
            return Err(invalid("significance", format!("{a} must lie in (0, 0.5)")));
        }
        validate_window(self.window_minutes).map_err(|_| {
            invalid(
                "window_minutes",
                format!("{} must lie in 30..=40320", self.window_minutes),
            )
        })?;
        Ok(())
    }
}

/// A flag's monitoring window: its override, if any, and the window in effect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlagMonitoring {
    /// Flag key.
    pub flag: String,
    /// The per-flag override in minutes; `None`: the account default applies.
    pub window_minutes: Option<u32>,
    /// The window in effect.
    pub effective_window_minutes: u32,
}

/// Body of `PUT /api/v1/admin/flags/{key}/monitoring`: a window, or null to clear the override.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlagMonitoringUpdate {
    /// Minutes (30..=40320) or null.
    pub window_minutes: Option<u32>,
}

impl FlagMonitoringUpdate {
    /// Checks the window lies in 30..=40320 minutes.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if let Some(w) = self.window_minutes {
            validate_window(w)
                .map_err(|_| invalid("window_minutes", format!("{w} must lie in 30..=40320")))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> PolicySpec {
        serde_json::from_value(serde_json::json!({"name": "errors", "metric_id": 1})).unwrap()
    }

    #[test]
    fn defaults_and_validation_name_fields() {
        let s = spec();
        assert_eq!(s.threshold, Threshold::Relative(0.0));
        assert_eq!(s.min_samples, 355);
        assert_eq!(s.min_samples_rule, MinSamplesRule::Fixed);
        let skew: PolicySpec = serde_json::from_value(serde_json::json!(
            {"name": "rare", "metric_id": 1, "min_samples_rule": "skew_adjusted"}
        ))
        .unwrap();
        assert_eq!(skew.min_samples_rule, MinSamplesRule::SkewAdjusted);
        assert!(
            serde_json::from_value::<PolicySpec>(serde_json::json!(
                {"name": "x", "metric_id": 1, "min_samples_rule": "bogus"}
            ))
            .is_err()
        );
        assert!(s.validate().is_ok());
        let field = |f: &dyn Fn(&mut PolicySpec)| {
            let mut s = spec();
            f(&mut s);
            s.validate().map_err(|e| e.field)
        };
        assert_eq!(field(&|s| s.name = " ".into()), Err("name".into()));
        assert_eq!(field(&|s| s.metric_id = 0), Err("metric_id".into()));
        assert_eq!(
            field(&|s| s.threshold = Threshold::Relative(-0.1)),
            Err("threshold.relative".into())
        );
        assert_eq!(
            field(&|s| s.threshold = Threshold::Absolute(f64::NAN)),
            Err("threshold.absolute".into())
        );
        assert_eq!(
            field(&|s| s.channels = vec![3, -1]),
            Err("channels[1]".into())
        );
        assert_eq!(
            field(&|s| s.kind = Some(MetricKind::Apdex { target_ms: 0.0 })),
            Err("kind.target_ms".into())
        );
        assert_eq!(
            field(&|s| s.floor = Some(NoiseFloor {
                delta: 1.0,
                ratio: -1.0
            })),
            Err("floor.ratio".into())
        );
        assert_eq!(
            field(&|s| s.fail_fast = Some(FailFast {
                threshold: Threshold::Relative(0.5),
                min_samples: 1
            })),
            Err("fail_fast.min_samples".into())
        );
        assert_eq!(field(&|s| s.min_samples = 1), Err("min_samples".into()));
        assert_eq!(field(&|s| s.flag = Some(String::new())), Err("flag".into()));
    }

    #[test]
    fn direction_and_floor_precedence() {
        let mut s = spec();
        assert_eq!(s.direction_for("increase"), Ok(Direction::LowerIsBad));
        assert_eq!(s.direction_for("decrease"), Ok(Direction::HigherIsBad));
        assert!(s.direction_for("sideways").is_err());
        s.kind = Some(MetricKind::Infra);
        assert_eq!(s.direction_for("decrease"), Ok(Direction::BothBad));
        assert_eq!(
            s.effective_floor(),
            Some(NoiseFloor {
                delta: 20.0,
                ratio: 0.2
            })
        );
        s.direction = Some(Direction::HigherIsBad);
        s.floor = Some(NoiseFloor {
            delta: 1.0,
            ratio: 0.0,
        });
        assert_eq!(s.direction_for("increase"), Ok(Direction::HigherIsBad));
        assert_eq!(s.effective_floor().map(|f| f.delta), Some(1.0));
    }

    #[test]
    fn kinds_fit_metric_types() {
        let field = |k: MetricKind, t: &str, target: Option<f64>| {
            k.check_metric(t, target).map_err(|e| e.field)
        };
        assert_eq!(field(MetricKind::Throughput, "rate", None), Ok(()));
        assert_eq!(
            field(MetricKind::Throughput, "count", None),
            Err("kind.type".into())
        );
        assert_eq!(field(MetricKind::Infra, "average", None), Ok(()));
        assert_eq!(
            field(MetricKind::Infra, "sum", None),
            Err("kind.type".into())
        );
        assert_eq!(field(MetricKind::ErrorRate, "percent_users", None), Ok(()));
        assert_eq!(
            field(MetricKind::ResponseTime, "apdex", Some(300.0)),
            Err("kind.type".into())
        );
        let apdex = MetricKind::Apdex { target_ms: 300.0 };
        assert_eq!(field(apdex, "apdex", Some(300.0)), Ok(()));
        assert_eq!(
            field(apdex, "apdex", Some(500.0)),
            Err("kind.target_ms".into())
        );
        assert_eq!(field(apdex, "average", None), Err("kind.type".into()));
    }

    #[test]
    fn stored_policy_round_trips_through_json() {
        let p = AlertPolicy {
            id: 4,
            spec: PolicySpec {
                kind: Some(MetricKind::Apdex { target_ms: 300.0 }),
                threshold: Threshold::Absolute(0.02),
                ..spec()
            },
            created_at: 1,
            updated_at: 2,
        };
        let text = serde_json::to_string(&p).unwrap();
        assert!(
            text.contains(r#""kind":{"type":"apdex","target_ms":300.0}"#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<AlertPolicy>(&text).unwrap(), p);
    }

    #[test]
    fn apdex_counts_tolerating_as_half() {
        // 2 satisfied (<= 100), 2 tolerating (<= 400), 1 frustrated.
        let a = apdex([50.0, 100.0, 101.0, 400.0, 401.0], 100.0).unwrap();
        assert!((a - 3.0 / 5.0).abs() < 1e-12);
        assert_eq!(apdex([], 100.0), None);
    }

    #[test]
    fn settings_validation() {
        let ok = AccountSettings::default();
        assert_eq!(ok.mode, Mode::Sequential);
        assert!(ok.validate().is_ok());
        let bad = |s: AccountSettings| s.validate().map_err(|e| e.field);
        assert_eq!(
            bad(AccountSettings {
                significance: 0.0,
                ..ok
            }),
            Err("significance".into())
        );
        assert_eq!(
            bad(AccountSettings {
                window_minutes: 29,
                ..ok
            }),
            Err("window_minutes".into())
        );
        assert!(
            FlagMonitoringUpdate {
                window_minutes: Some(40_321)
            }
            .validate()
            .is_err()
        );
    }
}
