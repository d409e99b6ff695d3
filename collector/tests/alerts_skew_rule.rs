//! The opt-in skew-adjusted minimum sample rule (`min_samples_rule: "skew_adjusted"`): a policy
//! carries it into the monitor, which then waits for min_samples * max(1, s^2) users per arm.

use collector::alerts::monitor::{
    ArmSummary, CheckInput, Monitor, MonitorConfig, MonitorError, MonitorKey, NotEligible,
};
use collector::alerts::policy::{AccountSettings, AlertPolicy, PolicySpec};
use stats::boundary::Mode;
use stats::degradation::{Direction, Threshold};
use stats::min_samples::{MinSamplesRule, bernoulli_skewness};

const T0: i64 = 1_700_000_000_000;

fn key() -> MonitorKey {
    MonitorKey {
        flag: "signup".into(),
        version: 2,
        metric_id: 9,
        policy_id: 4,
        treatment: "on".into(),
    }
}

fn config(rule: MinSamplesRule) -> MonitorConfig {
    MonitorConfig {
        mode: Mode::Bonferroni,
        alpha: 0.05,
        direction: Direction::HigherIsBad,
        threshold: Threshold::Relative(0.0),
        floor: None,
        fail_fast: None,
        min_samples: 355,
        min_samples_rule: rule,
        window_minutes: 1440,
        baseline_treatment: "off".into(),
    }
}

/// A binary metric's arm: n users, share p converted, with its sample skewness.
fn binary(n: u64, p: f64) -> ArmSummary {
    ArmSummary {
        n,
        mean: p,
        variance: p * (1.0 - p) * n as f64 / (n - 1) as f64,
        skewness: Some(bernoulli_skewness(p).unwrap()),
    }
}

fn check(
    rule: MinSamplesRule,
    k: usize,
    n: u64,
) -> Result<(bool, Option<NotEligible>), MonitorError> {
    let mut m = Monitor::new(key(), config(rule), T0)?;
    // A rare error rate that quadruples: significant at n = 2,000 per arm.
    let o = m.check(&CheckInput {
        k,
        baseline: binary(n, 0.02),
        treatment: binary(n, 0.08),
        rho: None,
        srm: false,
    })?;
    Ok((o.result.fired, o.result.why_not))
}

#[test]
fn skew_adjusted_rule_waits_for_many_more_users() {
    // Fixed: 2,000 >= 355 tests and fires.
    assert_eq!(
        check(MinSamplesRule::Fixed, 30, 2_000).unwrap(),
        (true, None)
    );
    // Skew-adjusted: s = 6.86 at p = 0.02 (larger of the arms), so 355 s^2 = 16,693 users needed.
    assert_eq!(
        check(MinSamplesRule::SkewAdjusted, 30, 2_000).unwrap(),
        (false, Some(NotEligible::TooFewUsers))
    );
    assert_eq!(
        check(MinSamplesRule::SkewAdjusted, 30, 16_692).unwrap().1,
        Some(NotEligible::TooFewUsers)
    );
    assert_eq!(
        check(MinSamplesRule::SkewAdjusted, 30, 16_693).unwrap(),
        (true, None)
    );
}

#[test]
fn unknown_skewness_keeps_the_base_minimum_and_bad_skewness_is_typed() {
    let mut m = Monitor::new(key(), config(MinSamplesRule::SkewAdjusted), T0).unwrap();
    let plain = |n: u64, mean: f64, skewness: Option<f64>| ArmSummary {
        n,
        mean,
        variance: 1.0,
        skewness,
    };
    let o = m
        .check(&CheckInput {
            k: 1,
            baseline: plain(400, 1.0, None),
            treatment: plain(400, 2.0, None),
            rho: None,
            srm: false,
        })
        .unwrap();
    assert!(o.result.eligible && o.result.fired, "{:?}", o.result);
    let err = m
        .check(&CheckInput {
            k: 2,
            baseline: plain(400, 1.0, Some(f64::NAN)),
            treatment: plain(400, 2.0, None),
            rho: None,
            srm: false,
        })
        .unwrap_err();
    assert!(err.to_string().contains("skewness"), "{err}");
}

#[test]
fn policy_carries_the_rule_into_the_window() {
    let spec: PolicySpec = serde_json::from_value(serde_json::json!(
        {"name": "signup errors", "metric_id": 9, "min_samples_rule": "skew_adjusted"}
    ))
    .unwrap();
    let p = AlertPolicy {
        id: 4,
        spec,
        created_at: 0,
        updated_at: 0,
    };
    let cfg = p
        .resolve("decrease", &AccountSettings::default(), 1440, "off")
        .unwrap();
    assert_eq!(cfg.min_samples_rule, MinSamplesRule::SkewAdjusted);
    let text = serde_json::to_string(&p).unwrap();
    assert!(
        text.contains(r#""min_samples_rule":"skew_adjusted""#),
        "{text}"
    );
    // A state stored before the option existed still loads, with the fixed rule.
    let mut old = serde_json::to_value(config(MinSamplesRule::Fixed)).unwrap();
    old.as_object_mut().unwrap().remove("min_samples_rule");
    let back: MonitorConfig = serde_json::from_value(old).unwrap();
    assert_eq!(back.min_samples_rule, MinSamplesRule::Fixed);
}
