//! Acting on new alerts: kill the flag (when the policy says so), queue the notification to the
//! policy's channels, record both on the alert.

use stats::boundary::Mode;

use super::RunSummary;
use super::run::Fired;
use crate::alerts::monitor::Interval as CheckInterval;
use crate::notify::payload::{AlertDetails, AlertState, Impact, Interval, Notification};
use crate::server::{AppState, blocking};
use crate::store::sqlite::now_ms;

fn interval(i: CheckInterval) -> Interval {
    Interval {
        lower: i.low,
        upper: i.high,
    }
}

/// The notification's details of a new alert.
pub fn details(f: &Fired, flag_killed: bool) -> AlertDetails {
    let a = &f.alert;
    // One-sided confidence of the firing look: the normal level of its critical value (the
    // exact per-check level for the sequential boundary, close to it for the Welch t quantile).
    let confidence = a.critical.map_or_else(
        || 1.0 - f.alpha / f.checks.max(1) as f64,
        stats::normal::cdf,
    );
    AlertDetails {
        alert_id: Some(a.id),
        policy_id: Some(a.policy_id),
        metric_id: a.metric_id,
        metric: f.metric.name.clone(),
        treatment: a.treatment.clone(),
        baseline: a.baseline_treatment.clone(),
        baseline_value: a.baseline_value,
        treatment_value: a.treatment_value,
        baseline_users: a.n_baseline,
        treatment_users: a.n_treatment,
        impact: Impact {
            absolute: a.impact_abs,
            relative: a.impact_rel,
            absolute_interval: interval(a.interval_abs),
            relative_interval: a.impact_rel.map(|_| interval(a.interval_rel)),
            confidence,
        },
        threshold: f.policy.spec.threshold,
        desired_direction: f.metric.direction.clone(),
        check_time: a.check_time_ms,
        check_index: a.check_index.and_then(|k| u32::try_from(k).ok()),
        state: AlertState::Fired,
        mode: Some(
            match a.mode {
                Mode::Bonferroni => "bonferroni",
                Mode::Sequential => "sequential",
            }
            .to_string(),
        ),
        srm_warning: a.srm,
        flag_killed,
    }
}

/// Kills, notifies and records, for each new alert; failures go to `summary.errors`.
pub async fn act(state: &AppState, fired: Vec<Fired>, summary: &mut RunSummary) {
    for f in fired {
        summary.alerts_fired += 1;
        summary.alert_ids.push(f.alert.id);
        let flag = f.alert.flag.clone();
        let mut killed = false;
        if f.policy.spec.kill_flag {
            let current = state.flags.current().flag(&flag).cloned();
            match current {
                // Kill only the version the alert is about; a newer version is a new analysis.
                Some(def) if def.version == f.alert.version && !def.killed => {
                    match crate::admin::flags::kill_by_key(state, &flag).await {
                        Ok(_) => {
                            killed = true;
                            summary.flags_killed.push(flag.clone());
                        }
                        Err(e) => summary.errors.push(format!("kill {flag:?}: {e:?}")),
                    }
                }
                Some(def) if def.killed => killed = true,
                _ => {}
            }
        }
        let store = state.store.clone();
        let ids = f.policy.spec.channels.clone();
        let channels = blocking(move || {
            ids.iter()
                .map(|id| store.channel(*id))
                .collect::<Result<Vec<_>, _>>()
        })
        .await;
        let mut notified = false;
        match channels {
            Ok(chs) if chs.is_empty() => {}
            Ok(chs) => {
                let n = Notification::alert(&flag, f.alert.version, details(&f, killed), now_ms());
                match state.notifier.enqueue_all(chs, n) {
                    Ok(()) => {
                        notified = true;
                        summary.notifications += 1;
                    }
                    Err(e) => summary
                        .errors
                        .push(format!("notify alert {}: {e}", f.alert.id)),
                }
            }
            Err(e) => summary
                .errors
                .push(format!("channels of policy {}: {e:?}", f.policy.id)),
        }
        let store = state.store.clone();
        let id = f.alert.id;
        if let Err(e) = blocking(move || store.record_alert_actions(id, notified, killed)).await {
            summary.errors.push(format!("record alert {id}: {e:?}"));
        }
    }
}

/// The notification's details of a new key-metric alert (no policy, no threshold: significance
/// in either direction is what fired it).
pub fn key_details(a: &super::keys::KeyMetricAlert) -> AlertDetails {
    let r = &a.result;
    let c = &r.comparison;
    AlertDetails {
        alert_id: Some(a.id),
        policy_id: None,
        metric_id: r.metric_id,
        metric: format!("{} (key metric)", r.metric),
        treatment: r.treatment.clone(),
        baseline: r.baseline_treatment.clone(),
        baseline_value: r.baseline_value,
        treatment_value: r.treatment_value,
        baseline_users: r.n_baseline,
        treatment_users: r.n_treatment,
        impact: Impact {
            absolute: c.absolute,
            relative: c.relative,
            absolute_interval: Interval {
                lower: Some(c.absolute_ci.lower),
                upper: Some(c.absolute_ci.upper),
            },
            relative_interval: c.relative_ci.map(|i| Interval {
                lower: Some(i.lower),
                upper: Some(i.upper),
            }),
            confidence: c.confidence,
        },
        threshold: stats::degradation::Threshold::Relative(0.0),
        desired_direction: r.direction.clone(),
        check_time: r.check_time_ms,
        check_index: u32::try_from(r.check_index).ok(),
        state: AlertState::Fired,
        mode: None,
        srm_warning: r.srm,
        flag_killed: false,
    }
}

async fn channels_of(
    state: &AppState,
    ids: Vec<i64>,
) -> Result<Vec<crate::notify::Channel>, String> {
    let store = state.store.clone();
    blocking(move || {
        ids.iter()
            .map(|id| store.channel(*id))
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|e| format!("{e:?}"))
}

/// Notifies new key-metric alerts and first SRM mismatches once each, and records it.
pub async fn act_keys(state: &AppState, out: super::keys::KeysOutcome, summary: &mut RunSummary) {
    summary.auto_resolved += out.auto_resolved;
    for f in out.fired {
        let id = f.alert.id;
        summary.key_metric_alert_ids.push(id);
        let chs = match channels_of(state, f.channels).await {
            Ok(c) if c.is_empty() => continue,
            Ok(c) => c,
            Err(e) => {
                summary
                    .errors
                    .push(format!("channels of key alert {id}: {e}"));
                continue;
            }
        };
        let n = Notification::alert(
            &f.alert.flag,
            f.alert.version,
            key_details(&f.alert),
            now_ms(),
        );
        if let Err(e) = state.notifier.enqueue_all(chs, n) {
            summary.errors.push(format!("notify key alert {id}: {e}"));
            continue;
        }
        summary.notifications += 1;
        let store = state.store.clone();
        if let Err(e) = blocking(move || store.mark_key_alert_notified(id)).await {
            summary.errors.push(format!("record key alert {id}: {e:?}"));
        }
    }
    for s in out.srm {
        summary.srm_mismatches.push(s.flag.clone());
        let chs = match channels_of(state, s.channels).await {
            Ok(c) if c.is_empty() => continue,
            Ok(c) => c,
            Err(e) => {
                summary
                    .errors
                    .push(format!("channels of srm {:?}: {e}", s.flag));
                continue;
            }
        };
        let n = Notification::srm(&s.flag, s.version, s.p_value, now_ms());
        if let Err(e) = state.notifier.enqueue_all(chs, n) {
            summary.errors.push(format!("notify srm {:?}: {e}", s.flag));
            continue;
        }
        summary.notifications += 1;
        let store = state.store.clone();
        let (flag, version) = (s.flag, s.version);
        if let Err(e) = blocking(move || store.mark_srm_notified(&flag, version)).await {
            summary.errors.push(format!("record srm: {e:?}"));
        }
    }
}
