//! Alerting core: policies and account settings, the per-check monitor state machine, stored
//! alerts, and their admin API. The scheduler that feeds monitors from the engine and hands
//! fired alerts to the notifier is separate glue.

pub mod api;
pub mod monitor;
pub mod openapi;
pub mod policy;
pub mod record;
pub mod store;
