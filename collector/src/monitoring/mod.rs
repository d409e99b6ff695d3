//! The monitoring glue: runs the alert monitors of every flag version with a percentage rollout
//! on the engine's per-user values, and acts on the alerts they fire (notify, kill).
//!
//! * [`run::run_checks`] runs every scheduled check that is due and not yet run, each at its own
//!   scheduled time (start of the version + offset), so a late run replays missed checks in
//!   order. The per-user values come from the incremental engine state of the version
//!   (`crate::engine::incremental_set`, fed by ingest after every commit, held in
//!   `AppState::incremental`): exactly what a full recalculation at the check time gives, without
//!   reading the store. Where a state cannot be sure (first run after a restart, changed metrics
//!   or schedule, a partly repeated batch, an entry reaching before dropped orphans) the run does
//!   the full recalculation and seeds the state from it. Key metrics read the same way. State lives in `monitor_states` (and, for the sequential mode's adjacent
//!   correlation, the per-user values of each monitor's last eligible check in
//!   `monitor_prev_values`), so running twice never repeats a check.
//! * [`run::recalculate_blocking`] is an unscheduled look (always-valid boundary) at any time: a full
//!   recalculation, as are the looks taken when late data lands after a window ([`late`]).
//! * [`actions::act`] kills the flag first when the policy says so (through the admin kill path:
//!   new version, history, SSE broadcast), then queues the notification, then records both.
//! * [`spawn_scheduler`] calls [`run_checks`] every `Config::monitor_interval`.

pub mod actions;
pub mod check_log;
pub mod context;
pub mod http;
pub mod keys;
pub mod keys_http;
pub mod late;
pub mod openapi;
pub mod recover;
pub mod run;
pub mod store;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::server::AppState;
use crate::store::sqlite::now_ms;

/// Serialises monitoring runs within the process (the background task and the admin routes),
/// so no check is run twice concurrently.
static RUN_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Why a monitoring run failed as a whole (per-monitor problems go to [`RunSummary::errors`]).
#[derive(Debug, thiserror::Error)]
pub enum MonitoringError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The engine refused its input.
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    /// A blocking task failed.
    #[error("task failed: {0}")]
    Task(String),
}

/// What a run of the scheduled checks did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// The time checks were run up to, Unix milliseconds.
    pub at_ms: i64,
    /// Flag versions with a percentage rollout and at least one policy.
    pub flags_monitored: u64,
    /// Monitors (policy x compared treatment) looked at.
    pub monitors: u64,
    /// Scheduled checks run.
    pub checks_run: u64,
    /// Alerts created by this run.
    pub alerts_fired: u64,
    /// Ids of the alerts created.
    pub alert_ids: Vec<i64>,
    /// Flags killed by this run.
    pub flags_killed: Vec<String>,
    /// Notifications queued (one per alert with channels).
    pub notifications: u64,
    /// Key-metric alerts created by this run.
    #[serde(default)]
    pub key_metric_alert_ids: Vec<i64>,
    /// Flags whose current version turned sample-ratio mismatched in this run (notified once).
    #[serde(default)]
    pub srm_mismatches: Vec<String>,
    /// Alerts of replaced versions moved from `fired` to `auto_resolved`.
    #[serde(default)]
    pub auto_resolved: u64,
    /// Unscheduled looks taken because late data landed for a version (one per version).
    #[serde(default)]
    pub late_data_looks: u64,
    /// Checks and key-metric passes answered by the incremental engine state (no store read).
    #[serde(default)]
    pub incremental_reads: u64,
    /// Incremental states rebuilt by a full recalculation in this run (first run after a
    /// restart, changed metrics, or a fallback).
    #[serde(default)]
    pub state_rebuilds: u64,
    /// Alerts stored by an earlier run that was interrupted before acting on them (kill,
    /// notification), acted on by this run.
    #[serde(default)]
    pub recovered_alerts: u64,
    /// Problems with single monitors or actions (the others still ran).
    pub errors: Vec<String>,
}

/// Runs every due check up to `now_ms` and acts on new alerts.
pub async fn run_checks(state: &AppState, now_ms: i64) -> Result<RunSummary, MonitoringError> {
    let _guard = RUN_LOCK.lock().await;
    let store = state.store.clone();
    let flags = state.flags.current().flags.clone();
    let tracker = state.late.clone();
    let inc = state.incremental.clone();
    let (mut summary, fired, keys, recovered) = tokio::task::spawn_blocking(move || {
        let mut recover_errors = Vec::new();
        let recovered = recover::pending(store.as_ref(), &mut recover_errors)?;
        let before = inc.stats();
        let (mut summary, mut fired, checked) =
            run::run_checks_blocking(store.as_ref(), &flags, now_ms, &inc)?;
        for (flag, version, t) in &checked {
            tracker.set_checked(flag, *version, *t);
        }
        let mut keys =
            keys::run_keys_blocking(store.as_ref(), &flags, now_ms, &mut summary.errors, &inc)?;
        // Before the late-data pass clears the marks.
        keys::late_looks_blocking(
            store.as_ref(),
            &flags,
            now_ms,
            &mut keys,
            &mut summary.errors,
        )?;
        late::look_at_dirty(store.as_ref(), &flags, now_ms, &mut summary, &mut fired)?;
        let after = inc.stats();
        summary.incremental_reads = after.incremental_reads - before.incremental_reads;
        summary.state_rebuilds = after.rebuilds - before.rebuilds;
        summary.errors.extend(recover_errors);
        Ok::<_, MonitoringError>((summary, fired, keys, recovered))
    })
    .await
    .map_err(|e| MonitoringError::Task(e.to_string()))??;
    summary.recovered_alerts = recovered.len() as u64;
    actions::act_on(state, recovered, &mut summary).await;
    actions::act(state, fired, &mut summary).await;
    actions::act_keys(state, keys, &mut summary).await;
    Ok(summary)
}

/// Starts the background task running [`run_checks`] every `interval` on the wall clock (none
/// when `interval` is zero); it ends when the collector shuts down.
pub fn spawn_scheduler(state: AppState, interval: Duration) {
    if interval.is_zero() {
        return;
    }
    let mut stop = state.shutdown.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|s| *s) => break,
            }
            match run_checks(&state, now_ms()).await {
                Ok(s) if !s.errors.is_empty() => {
                    tracing::warn!(errors = ?s.errors, "monitoring run had errors");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "monitoring run failed"),
            }
        }
    });
}
