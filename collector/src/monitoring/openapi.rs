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
        }
    });
    let run_summary = json!({ "type": "object", "properties": {
        "at_ms": int, "flags_monitored": int, "monitors": int, "checks_run": int,
        "alerts_fired": int, "alert_ids": ints, "flags_killed": strings, "notifications": int,
        "errors": strings
    } });
    let schemas = json!({
        "MonitoringAt": { "type": "object", "additionalProperties": false, "description": "The body may be empty", "properties": {
            "at": { "type": ["integer", "null"], "minimum": 0, "description": "Unix milliseconds; default now" }
        } },
        "RunSummary": run_summary,
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
