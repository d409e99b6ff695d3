//! What the demo prints about the collector's state: alerts, metrics and raw counts.

use serde_json::Value;

/// The fired alerts, one line each.
pub fn print_alerts(alerts: &Value) {
    let pct = |v: &Value| match v.as_f64() {
        Some(x) => format!("{:+.1}%", 100.0 * x),
        None => "unbounded".to_owned(),
    };
    println!("\nalerts:");
    for a in alerts.as_array().into_iter().flatten() {
        println!(
            "  {} v{} metric {} treatment {} vs {}: {:.4} vs {:.4}, relative impact {} [{}, {}], \
             state {}, flag killed: {}",
            a["flag"].as_str().unwrap_or("?"),
            a["version"],
            a["metric_id"],
            a["treatment"].as_str().unwrap_or("?"),
            a["baseline_treatment"].as_str().unwrap_or("?"),
            a["treatment_value"].as_f64().unwrap_or(f64::NAN),
            a["baseline_value"].as_f64().unwrap_or(f64::NAN),
            pct(&a["impact_rel"]),
            pct(&a["interval_rel"]["low"]),
            pct(&a["interval_rel"]["high"]),
            a["state"].as_str().unwrap_or("?"),
            a["flag_killed"]
        );
    }
}

/// Every metric with its type and whether it was auto-created.
pub fn print_metrics(metrics: &Value) {
    println!("\nmetrics the collector created when it first saw each event type:");
    println!(
        "  {:<38} {:<16} {:<14} {:<10} auto",
        "name", "event type", "type", "direction"
    );
    for m in metrics.as_array().into_iter().flatten() {
        println!(
            "  {:<38} {:<16} {:<14} {:<10} {}",
            m["name"].as_str().unwrap_or("?"),
            m["event_type"].as_str().unwrap_or("?"),
            m["metric_type"].as_str().unwrap_or("?"),
            m["direction"].as_str().unwrap_or("?"),
            if m["auto_created"].as_bool() == Some(true) {
                "yes"
            } else {
                "no"
            },
        );
    }
}

/// The raw per-treatment counts of impressions and events.
pub fn print_stats(stats: &Value, flag: &str) {
    println!(
        "\nraw per-treatment counts ({} batches stored):",
        stats["batches"]
    );
    println!("  {:<14} {:<10} {:>7}", "flag", "treatment", "users");
    for i in stats["impressions"].as_array().into_iter().flatten() {
        println!(
            "  {:<14} {:<10} {:>7}",
            i["flag"].as_str().unwrap_or("?"),
            i["treatment"].as_str().unwrap_or("?"),
            i["users"].as_u64().unwrap_or(0)
        );
    }
    println!(
        "\n  {:<10} {:<16} {:>7} {:>13} {:>14}",
        "treatment", "event type", "events", "users with it", "mean value"
    );
    for t in stats["by_treatment"].as_array().into_iter().flatten() {
        let events = t["events"].as_f64().unwrap_or(0.0);
        let mean = if events > 0.0 {
            t["value_sum"].as_f64().unwrap_or(0.0) / events
        } else {
            0.0
        };
        println!(
            "  {:<10} {:<16} {:>7} {:>13} {:>14.1}",
            t["treatment"].as_str().unwrap_or("?"),
            t["event_type"].as_str().unwrap_or("?"),
            t["events"].as_u64().unwrap_or(0),
            t["users"].as_u64().unwrap_or(0),
            mean
        );
    }
    println!(
        "\nThe impact of every metric, per treatment with intervals: GET /api/v1/admin/flags/{flag}/impact"
    );
}
