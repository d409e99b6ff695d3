//! Alerts stored but not acted on: a run stores a new policy alert, then (after the blocking
//! part) kills the flag and queues its notification in the outbox, which marks the alert
//! `acted`. A collector killed between the two would otherwise never notify; the next run picks
//! such alerts up here, before it runs any check (runs are serialised by `RUN_LOCK`, so nothing
//! found here belongs to a run still in progress).

use super::MonitoringError;
use super::run::Fired;
use crate::store::Store;

/// The fired, not yet acted-on policy alerts with what acting on them needs.
pub fn pending(store: &dyn Store, errors: &mut Vec<String>) -> Result<Vec<Fired>, MonitoringError> {
    let alerts = store.unacted_alerts()?;
    if alerts.is_empty() {
        return Ok(Vec::new());
    }
    let settings = store.alert_settings()?;
    let metrics = store.metrics()?;
    let schedule = stats::schedule::Schedule::default();
    let mut out = Vec::with_capacity(alerts.len());
    for alert in alerts {
        let policy = match store.alert_policy(alert.policy_id) {
            Ok(p) => p,
            Err(e) => {
                errors.push(format!("alert {} not acted on: policy: {e}", alert.id));
                continue;
            }
        };
        let Some(metric) = metrics.iter().find(|m| m.id == alert.metric_id).cloned() else {
            errors.push(format!("alert {} not acted on: metric deleted", alert.id));
            continue;
        };
        let window = store
            .flag_window(&alert.flag)?
            .unwrap_or(settings.window_minutes);
        let checks = schedule.offsets_in(window).map_or(1, <[u32]>::len);
        out.push(Fired {
            alert,
            policy,
            metric,
            alpha: settings.significance,
            checks,
        });
    }
    Ok(out)
}
