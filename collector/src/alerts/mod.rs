//! Alerting core: policies and account settings, the per-check monitor state machine, stored
//! alerts, and their admin API. The scheduler that feeds monitors from the engine and hands
//! fired alerts to the notifier is separate glue; per version change it should:
//!
//! 1. For each policy that [`policy::AlertPolicy::applies_to`] the flag and each non-baseline
//!    treatment, resolve the window (`flag_window` override, else the account default) and the
//!    config ([`policy::AlertPolicy::resolve`] with the metric's desired direction), and create a
//!    [`monitor::Monitor`] at the version change time (or load it with `monitor_state`).
//! 2. At each due check k (`Monitor::checks_due`, after `Monitor::last_check`), pass per-arm
//!    summaries (n, mean, sample variance) of the baseline and the treatment, the version's SRM
//!    flag and, in sequential mode, `rho` from [`monitor::adjacent_rho`] on the per-user values
//!    kept from the previous *eligible* check and now. Persist with `save_monitor_state`.
//! 3. On [`monitor::AlertChange`], `upsert_alert`; when the store reports it created the row,
//!    notify the policy's channels, kill the flag if `kill_flag`, and `record_alert_actions`.
//! 4. On a manual recalculation or late data, call `Monitor::recalculate` (always-valid boundary).

pub mod api;
pub mod monitor;
pub mod openapi;
pub mod policy;
pub mod record;
pub mod store;
