//! The monitoring part of the OpenAPI document, merged by `crate::openapi`.

use serde_json::{Value, json};

use crate::openapi::{key_param, ok, op, schema};

/// Adds the monitoring paths and schemas to `doc`.
pub fn extend(doc: &mut Value) {
    let admin = Some("admin");
    let int = json!({ "type": "integer" });
    let ints = json!({ "type": "array", "items": { "type": "integer" } });
    let strings = json!({ "type": "array", "items": { "type": "string" } });
    let paths = json!({
        super::http::RUN_PATH: {
            "post": op("Run every scheduled monitoring check due up to `at` (default now), each on the data at its own scheduled time, and act on new alerts (kill, notify). Checks already run are not repeated.", admin, Some("MonitoringAt"), ok("200", "What the run did", Some("RunSummary")))
        },
        super::http::RECALCULATE_PATH: {
            "parameters": key_param("key", "string"),
            "post": op("Unscheduled look (always-valid boundary) of every monitor of the flag's current version at `at` (default now); 409 when the flag is not monitored", admin, Some("MonitoringAt"), ok("200", "Every monitor's look", Some("RecalcSummary")))
        },
        super::keys_http::KEY_METRICS_PATH: {
            "parameters": key_param("key", "string"),
            "get": op("The flag's key metrics: at each scheduled check of the window (the policies' schedule), every key metric x non-baseline treatment is tested two-sided, with Benjamini-Hochberg across them at the check's per-check level (alpha/K, or the sequential boundary's; after the window only unscheduled looks at the always-valid level); a significant one (either direction) stores one key-metric alert per (version, metric, treatment), listed in GET /api/v1/admin/alerts (kind key_metric) and notified once to the channels of the flag's policies", admin, None, ok("200", "Key metrics", Some("KeyMetrics"))),
            "put": op("Replace the flag's key metrics (400 naming `metric_ids` when one does not exist)", admin, Some("KeyMetricsRequest"), ok("200", "Key metrics", Some("KeyMetrics")))
        },
        super::keys_http::KEY_ALERTS_PATH: {
            "parameters": key_param("key", "string"),
            "get": op("The flag's key-metric alerts, newest first (the same items as GET /api/v1/admin/alerts?kind=key_metric&flag={key})", admin, None, json!({ "200": { "description": "Key-metric alerts", "content": { "application/json": { "schema": { "type": "array", "items": schema("KeyMetricAlert") } } } } }))
        }
    });
    let run_summary = json!({ "type": "object", "properties": {
        "at_ms": int, "flags_monitored": int, "monitors": int, "checks_run": int,
        "alerts_fired": int, "alert_ids": ints, "flags_killed": strings, "notifications": int,
        "key_metric_alert_ids": ints, "srm_mismatches": strings, "auto_resolved": int,
        "late_data_looks": int, "incremental_reads": int, "state_rebuilds": int, "recovered_alerts": int,
        "errors": strings
    } });
    let schemas = json!({
        "MonitoringAt": { "type": "object", "additionalProperties": false, "description": "The body may be empty", "properties": {
            "at": { "type": ["integer", "null"], "minimum": 0, "description": "Unix milliseconds; default now" }
        } },
        "RunSummary": run_summary,
        "KeyMetricsRequest": { "type": "object", "additionalProperties": false, "required": ["metric_ids"], "properties": {
            "metric_ids": ints
        } },
        "KeyMetrics": { "type": "object", "properties": { "flag": { "type": "string" }, "metric_ids": ints } },
        "RecalcSummary": { "type": "object", "properties": {
            "flag": { "type": "string" }, "version": int, "at_ms": int,
            "looks": { "type": "array", "items": { "type": "object", "properties": {
                "policy_id": int, "metric_id": int, "treatment": { "type": "string" },
                "result": schema("CheckResult"),
                "alert_id": { "type": ["integer", "null"] }
            } } },
            "actions": schema("RunSummary")
        } }
    });
    for (into, from) in [(&mut doc["paths"], paths)] {
        if let (Some(a), Value::Object(b)) = (into.as_object_mut(), from) {
            a.extend(b);
        }
    }
    if let (Some(a), Value::Object(b)) = (doc["components"]["schemas"].as_object_mut(), schemas) {
        a.extend(b);
    }
}
