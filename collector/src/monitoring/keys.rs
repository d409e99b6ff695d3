//! Key metrics of a flag and sample-ratio-mismatch notices, evaluated at each monitoring run on
//! the values at the latest scheduled check due (so a run replays nothing and the answer for a
//! check time never changes):
//!
//! * every key metric x non-baseline treatment gets a two-sided test (Welch; two proportions
//!   for percent-of-users metrics), and Benjamini–Hochberg at the account's significance picks
//!   the significant ones across the whole family; each becomes one key-metric alert per
//!   (version, metric, treatment), in either direction, notified once;
//! * the version's first SRM mismatch (chi-square p < 0.001) is recorded and notified once;
//! * alerts of replaced versions still `fired` become `auto_resolved`.

use std::collections::HashMap;

use agent_core::wire::{FlagDefinition, Rule};
use serde::{Deserialize, Serialize};
use stats::schedule::Schedule;
use stats::srm::chi_square;
use stats::summary::ArmStats;
use stats::welch::{Comparison, Proportion, two_proportions, welch};

use super::MonitoringError;
use super::context::{KEYS, key_metrics_spec};
use super::context::{arm, is_percentage_rollout};
use crate::alerts::record::AlertState;
use crate::engine::MetricSpec;
use crate::engine::incremental_set::Incremental;
use crate::engine::recalc::rollout_rule;
use crate::engine::source::StoreSource;
use crate::store::Store;

/// Users each arm needs before a key metric is tested (the policies' default).
pub const KEY_METRIC_MIN_USERS: u64 = 355;

/// One key metric x treatment test at a check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyMetricResult {
    /// Metric id.
    pub metric_id: i64,
    /// Metric name.
    pub metric: String,
    /// Desired direction of the metric.
    pub direction: String,
    /// Compared treatment.
    pub treatment: String,
    /// Baseline treatment.
    pub baseline_treatment: String,
    /// Baseline users.
    pub n_baseline: u64,
    /// Treatment users.
    pub n_treatment: u64,
    /// Baseline mean per user.
    pub baseline_value: f64,
    /// Treatment mean per user.
    pub treatment_value: f64,
    /// The two-sided comparison (impact, intervals at the account level, p-value).
    pub comparison: Comparison,
    /// Benjamini–Hochberg adjusted p-value across the flag's key metrics x treatments.
    pub adjusted_p: f64,
    /// Rejected by BH at the account's significance.
    pub significant: bool,
    /// Scheduled check index (1-based) the values are taken at.
    pub check_index: usize,
    /// Scheduled time of that check, Unix milliseconds.
    pub check_time_ms: i64,
    /// The version's split does not match its weights: results are untrustworthy.
    pub srm: bool,
}

/// A stored key-metric alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyMetricAlert {
    /// Id.
    pub id: i64,
    /// Flag key.
    pub flag: String,
    /// Flag version.
    pub version: u64,
    /// The firing test.
    #[serde(flatten)]
    pub result: KeyMetricResult,
    /// Lifecycle state.
    pub state: AlertState,
    /// Its notification was queued.
    pub notified: bool,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub updated_at: i64,
}

/// Which of the family's p-values BH rejects at `q` (none for an empty family).
pub fn select(p_values: &[f64], q: f64) -> Result<Vec<bool>, MonitoringError> {
    if p_values.is_empty() {
        return Ok(Vec::new());
    }
    stats::bh::reject(p_values, q).map_err(|e| MonitoringError::Task(format!("bh: {e}")))
}

/// A first SRM mismatch to notify.
#[derive(Debug, Clone)]
pub struct SrmNotice {
    /// Flag key.
    pub flag: String,
    /// Version.
    pub version: u64,
    /// Chi-square p-value.
    pub p_value: f64,
    /// Channels of the flag's policies.
    pub channels: Vec<i64>,
}

/// New key-metric alerts to notify.
#[derive(Debug, Clone)]
pub struct KeyFired {
    /// The stored alert.
    pub alert: KeyMetricAlert,
    /// Channels of the flag's policies.
    pub channels: Vec<i64>,
}

/// What the key-metric / SRM pass of one run produced.
#[derive(Debug, Clone, Default)]
pub struct KeysOutcome {
    /// New key-metric alerts.
    pub fired: Vec<KeyFired>,
    /// First SRM mismatches.
    pub srm: Vec<SrmNotice>,
    /// Alerts moved to `auto_resolved`.
    pub auto_resolved: u64,
}

/// The scheduled check due last at `at_ms` for a version started at `start_ms`: (index, time).
fn latest_check(window: u32, start_ms: i64, at_ms: i64) -> Option<(usize, i64)> {
    let elapsed = u32::try_from((at_ms - start_ms).max(0) / 60_000).unwrap_or(u32::MAX);
    let schedule = Schedule::default();
    let offsets = schedule.offsets_in(window).ok()?;
    let k = offsets.partition_point(|&o| o <= elapsed);
    let offset = *offsets.get(k.checked_sub(1)?)?;
    Some((k, start_ms + i64::from(offset) * 60_000))
}

fn compare(percent: bool, b: &ArmStats, t: &ArmStats, q: f64) -> Option<Comparison> {
    if percent {
        let prop = |a: &ArmStats| Proportion {
            successes: (a.mean * a.n as f64).round() as u64,
            n: a.n,
        };
        two_proportions(&prop(b), &prop(t), q).ok()
    } else {
        welch(b, t, q).ok()
    }
}

/// Runs the pass over every current flag (see the module docs).
pub fn run_keys_blocking(
    store: &dyn Store,
    flags: &[FlagDefinition],
    at_ms: i64,
    errors: &mut Vec<String>,
    inc: &Incremental,
) -> Result<KeysOutcome, MonitoringError> {
    let mut out = KeysOutcome::default();
    for flag in flags {
        out.auto_resolved += store.auto_resolve_older(&flag.key, flag.version)?;
        if let Err(e) = run_flag(store, flag, at_ms, &mut out, inc) {
            errors.push(format!("key metrics of {:?}: {e}", flag.key));
        }
    }
    Ok(out)
}

fn run_flag(
    store: &dyn Store,
    flag: &FlagDefinition,
    at_ms: i64,
    out: &mut KeysOutcome,
    inc: &Incremental,
) -> Result<(), MonitoringError> {
    if flag.archived || flag.killed {
        return Ok(());
    }
    let Some(rule) = rollout_rule(flag)
        .filter(|r| is_percentage_rollout(r))
        .cloned()
    else {
        return Ok(());
    };
    let baseline = flag.baseline().to_string();
    let live: Vec<&str> = live_treatments(&rule);
    if !live.contains(&baseline.as_str()) {
        return Ok(());
    }
    let key_ids = store.key_metrics(&flag.key)?;
    let policies: Vec<_> = store
        .alert_policies()?
        .into_iter()
        .filter(|p| p.applies_to(&flag.key))
        .collect();
    if key_ids.is_empty() && policies.is_empty() {
        return Ok(());
    }
    let mut channels: Vec<i64> = policies
        .iter()
        .flat_map(|p| p.spec.channels.iter().copied())
        .collect();
    channels.sort_unstable();
    channels.dedup();
    let Some(start_ms) = store
        .flag_history(&flag.key)?
        .iter()
        .find(|h| h.version == flag.version)
        .map(|h| h.changed_at)
    else {
        return Ok(());
    };
    let settings = store.alert_settings()?;
    let window = store
        .flag_window(&flag.key)?
        .unwrap_or(settings.window_minutes);
    let Some((k, time)) = latest_check(window, start_ms, at_ms) else {
        return Ok(());
    };
    let all: HashMap<i64, crate::store::Metric> =
        store.metrics()?.into_iter().map(|m| (m.id, m)).collect();
    let metrics: Vec<_> = key_ids.iter().filter_map(|id| all.get(id)).collect();
    let specs = metrics
        .iter()
        .map(|m| MetricSpec::from_metric(m))
        .collect::<Result<Vec<_>, _>>()?;
    let spec = key_metrics_spec(flag, &rule, specs, window, start_ms);
    let kv = inc.keyed_values(&StoreSource(store), KEYS, &spec, time, at_ms)?;
    let srm = srm_check(&kv.treatments, &kv.counts, &rule);
    let mismatch = srm.is_some_and(|s| s.mismatch);
    if let Some(s) = srm.filter(|s| s.mismatch && !policies.is_empty())
        && store.record_srm(&flag.key, flag.version, s.p_value)?
    {
        out.srm.push(SrmNotice {
            flag: flag.key.clone(),
            version: flag.version,
            p_value: s.p_value,
            channels: channels.clone(),
        });
    }
    let mut tests: Vec<KeyMetricResult> = Vec::new();
    for (m, metric) in metrics.iter().enumerate() {
        let percent = metric.metric_type == "percent_users";
        for t in live.iter().filter(|t| **t != baseline) {
            let (b, _) = arm(&kv, m, &baseline);
            let (tt, _) = arm(&kv, m, t);
            if b.n < KEY_METRIC_MIN_USERS || tt.n < KEY_METRIC_MIN_USERS {
                continue;
            }
            let (Ok(bs), Ok(ts)) = (
                ArmStats::new(b.n, b.mean, b.variance),
                ArmStats::new(tt.n, tt.mean, tt.variance),
            ) else {
                continue;
            };
            // Untestable pairs (no variance in either arm) are not part of the family.
            let Some(comparison) = compare(percent, &bs, &ts, settings.significance) else {
                continue;
            };
            tests.push(KeyMetricResult {
                metric_id: metric.id,
                metric: metric.name.clone(),
                direction: metric.direction.clone(),
                treatment: (*t).to_string(),
                baseline_treatment: baseline.clone(),
                n_baseline: b.n,
                n_treatment: tt.n,
                baseline_value: b.mean,
                treatment_value: tt.mean,
                comparison,
                adjusted_p: 1.0,
                significant: false,
                check_index: k,
                check_time_ms: time,
                srm: mismatch,
            });
        }
    }
    let p: Vec<f64> = tests.iter().map(|r| r.comparison.p_value).collect();
    let adjusted = stats::bh::adjust(&p).map_err(|e| MonitoringError::Task(e.to_string()))?;
    let rejected = select(&p, settings.significance)?;
    for ((mut r, adj), rej) in tests.into_iter().zip(adjusted).zip(rejected) {
        r.adjusted_p = adj;
        r.significant = rej;
        if !rej {
            continue;
        }
        if let Some(alert) = store.insert_key_alert(&flag.key, flag.version, &r)? {
            out.fired.push(KeyFired {
                alert,
                channels: channels.clone(),
            });
        }
    }
    Ok(())
}

fn live_treatments(rule: &Rule) -> Vec<&str> {
    rule.rollout
        .iter()
        .filter(|w| w.weight > 0)
        .map(|w| w.treatment.as_str())
        .collect()
}

fn srm_check(treatments: &[String], counts: &[u64], rule: &Rule) -> Option<stats::srm::SrmResult> {
    let live: Vec<_> = rule.rollout.iter().filter(|w| w.weight > 0).collect();
    let observed: Vec<u64> = live
        .iter()
        .map(|w| {
            treatments
                .iter()
                .position(|t| *t == w.treatment)
                .map_or(0, |i| counts[i])
        })
        .collect();
    let weights: Vec<f64> = live.iter().map(|w| f64::from(w.weight)).collect();
    chi_square(&observed, &weights).ok().filter(|s| s.checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bh_keeps_a_borderline_p_alone_but_not_across_three_key_metrics() {
        // 0.03 passes at 0.05 alone; across three, its BH-adjusted p is 0.09.
        assert_eq!(select(&[0.03], 0.05).expect("bh"), vec![true]);
        assert_eq!(
            select(&[0.03, 0.5, 0.6], 0.05).expect("bh"),
            vec![false, false, false]
        );
        // A strong one passes and lifts a borderline one with it (step-up: 0.03 * 3 / 2 =
        // 0.045), but not a weaker one (0.04 * 3 / 2 = 0.06).
        assert_eq!(
            select(&[0.03, 0.001, 0.6], 0.05).expect("bh"),
            vec![true, true, false]
        );
        assert_eq!(
            select(&[0.04, 0.001, 0.6], 0.05).expect("bh"),
            vec![false, true, false]
        );
        assert!(select(&[], 0.05).expect("bh").is_empty());
        assert!(select(&[1.5], 0.05).is_err());
    }

    #[test]
    fn latest_check_is_the_last_offset_due() {
        let offsets = Schedule::default()
            .offsets_in(1440)
            .expect("window")
            .to_vec();
        let start = 1_000_000;
        assert!(offsets[0] > 0, "{offsets:?}");
        assert_eq!(latest_check(1440, start, start), None);
        let at = start + i64::from(offsets[2]) * 60_000 + 30_000;
        assert_eq!(
            latest_check(1440, start, at),
            Some((3, start + i64::from(offsets[2]) * 60_000))
        );
        // Past the window: the last check of the window.
        let late = start + 10 * 1440 * 60_000;
        let last = *offsets.last().expect("offsets");
        assert_eq!(
            latest_check(1440, start, late),
            Some((offsets.len(), start + i64::from(last) * 60_000))
        );
    }
}
