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
    for f in &fired {
        summary.alerts_fired += 1;
        summary.alert_ids.push(f.alert.id);
    }
    act_on(state, fired, summary).await;
}

/// Kills, notifies and records, for each alert (new, or stored earlier and not acted on).
pub async fn act_on(state: &AppState, fired: Vec<Fired>, summary: &mut RunSummary) {
    for f in fired {
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
        // The outbox rows and the alert's `notified` / `flag_killed` marks commit together.
        let id = f.alert.id;
        let ids = f.policy.spec.channels.clone();
        let n = Notification::alert(&flag, f.alert.version, details(&f, killed), now_ms());
        match state.notifier.queue(ids, n, Some((id, killed))).await {
            Ok(0) => {}
            Ok(_) => summary.notifications += 1,
            Err(e) => summary.errors.push(format!("notify alert {id}: {e}")),
        }
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
    // Key-metric alerts were queued in the outbox with the alert itself.
    for f in out.fired {
        summary.key_metric_alert_ids.push(f.alert.id);
        if f.queued > 0 {
            summary.notifications += 1;
        }
    }
    if summary.notifications > 0 {
        state.notifier.wake();
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
        if let Err(e) = state.notifier.enqueue_all(chs, n).await {
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
