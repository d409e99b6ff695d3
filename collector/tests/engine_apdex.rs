//! Apdex metrics: per-user scores on hand-built timings (boundaries at exactly T and 4 T, users
//! without timings skipped), validation over HTTP, and the impact route and `collector analyze`
//! agreeing on an apdex metric.

mod common;
mod engine_data;

use std::io::Write;
use std::path::Path;
use std::process::Command;

use agent_core::wire::{Event, Impression};
use collector::engine::recalc::per_user_values;
use collector::engine::{MemorySource, MetricSpec};
use common::{TestCollector, batch};
use engine_data::*;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_collector");
const TIMING: &str = "timing.checkout";
const TARGET: f64 = 100.0;

fn apdex_metric(name: &str, extra: Value) -> Value {
    let mut v = json!({"name": name, "event_type": TIMING, "metric_type": "apdex",
        "direction": "increase", "apdex_target_ms": TARGET});
    for (k, x) in extra.as_object().expect("object") {
        v[k] = x.clone();
    }
    v
}

/// Four users per arm; u3 (off) and u7 (on) have no valued timing and must be skipped.
fn timing_data(version: u64) -> (Vec<Value>, Vec<Value>) {
    let users = [
        ("u1", "off"),
        ("u2", "off"),
        ("u3", "off"),
        ("u4", "off"),
        ("u5", "on"),
        ("u6", "on"),
        ("u7", "on"),
        ("u8", "on"),
    ];
    let imps = users
        .iter()
        .map(|(u, t)| impression(u, t, RULE, version, T0))
        .collect();
    let at = T0 + MIN;
    let timing = |u: &str, ms: f64| event(u, TIMING, Some(ms), json!({"ms": ms}), at);
    let evs = vec![
        timing("u1", TARGET),       // exactly T: satisfied
        timing("u1", 4.0 * TARGET), // exactly 4 T: tolerating -> u1 = 0.75
        timing("u2", 4.0 * TARGET + 1.0),
        timing("u2", 50.0),                                // u2 = 0.5
        timing("u4", TARGET + 0.001),                      // u4 = 0.5
        event("u3", "purchase", Some(5.0), json!({}), at), // not a timing
        timing("u5", 10.0),
        timing("u5", 20.0),
        timing("u5", 30.0),                       // u5 = 1
        timing("u6", 1000.0),                     // u6 = 0
        event("u7", TIMING, None, json!({}), at), // no value: not a duration
        timing("u8", 400.0),
        timing("u8", 401.0),
        timing("u8", 100.0),
        timing("u8", 99.0), // u8 = (0.5 + 0 + 1 + 1) / 4
        timing("vip", 1.0), // allow-list rule: outside the rollout
    ];
    (imps, evs)
}

fn expected() -> (Vec<f64>, Vec<f64>) {
    (vec![0.5, 0.5, 0.75], vec![0.0, 0.625, 1.0])
}

#[test]
fn per_user_apdex_counts_boundaries_and_skips_users_without_timings() {
    let (imps, evs) = timing_data(1);
    let src = MemorySource {
        impressions: imps
            .into_iter()
            .map(|v| serde_json::from_value::<Impression>(v).expect("impression"))
            .collect(),
        events: evs
            .into_iter()
            .map(|v| serde_json::from_value::<Event>(v).expect("event"))
            .collect(),
    };
    // The event value, and the same durations read from a property (the parsing path).
    let metrics: Vec<MetricSpec> = [
        apdex_metric("apdex", json!({})),
        apdex_metric("apdex of ms", json!({"value_property": "ms"})),
    ]
    .iter()
    .map(|m| MetricSpec::from_json(m).expect("metric"))
    .collect();
    let values =
        per_user_values(&src, "f", 1, Some(RULE), &metrics, T0 + 60 * MIN).expect("values");
    assert_eq!(values.treatments, vec!["off", "on"]);
    assert_eq!(values.counts, vec![4, 4]);
    let (off, on) = expected();
    for (m, got) in metrics.iter().zip(&values.metrics) {
        assert_eq!(got[0], off, "{} off", m.name);
        assert_eq!(got[1], on, "{} on", m.name);
    }
}

#[test]
fn apdex_metric_without_a_positive_target_is_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = TestCollector::start(&dir.path().join("data"));
    for target in [Value::Null, json!(0), json!(-1.5)] {
        let mut m = apdex_metric("apdex", json!({}));
        match target.clone() {
            Value::Null => {
                m.as_object_mut().expect("object").remove("apdex_target_ms");
            }
            t => m["apdex_target_ms"] = t,
        }
        let r = c.admin_post("/api/v1/admin/metrics", m);
        assert_eq!(r.status(), 400, "{target}");
        let msg: Value = r.json().expect("json");
        assert!(
            msg["error"]
                .as_str()
                .expect("error")
                .contains("apdex_target_ms"),
            "{msg}"
        );
    }
    let mut avg = json!({"name": "avg", "event_type": TIMING, "metric_type": "average",
        "direction": "decrease", "apdex_target_ms": 100});
    let r = c.admin_post("/api/v1/admin/metrics", avg.clone());
    assert_eq!(r.status(), 400);
    avg.as_object_mut()
        .expect("object")
        .remove("apdex_target_ms");
    assert_eq!(c.admin_post("/api/v1/admin/metrics", avg).status(), 201);
    let stored = c.admin_get("/api/v1/admin/metrics");
    assert_eq!(stored.as_array().expect("metrics").len(), 1);
    assert_eq!(stored[0]["apdex_target_ms"], Value::Null);
    c.stop();
}

fn write_ndjson(path: &Path, items: &[Value]) {
    let mut f = std::fs::File::create(path).expect("create");
    for v in items {
        writeln!(f, "{}", serde_json::to_string(v).expect("json")).expect("write");
    }
}

#[test]
fn impact_route_and_analyze_agree_on_an_apdex_metric() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = TestCollector::start(&dir.path().join("data"));
    let created = c.admin_post("/api/v1/admin/flags", flag(0));
    assert_eq!(created.status(), 201);
    let version = created.json::<Value>().expect("flag")["version"]
        .as_u64()
        .expect("version");
    let r = c.admin_post("/api/v1/admin/metrics", apdex_metric("apdex", json!({})));
    assert_eq!(r.status(), 201);
    let (imps, evs) = timing_data(version);
    assert_eq!(
        c.post_batch(&batch(imps.clone(), evs.clone())).status(),
        202
    );

    let at = T0 + 60 * MIN;
    let report = c.admin_get(&format!("/api/v1/admin/flags/f/impact?at={at}"));
    let got = report["metrics"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["name"] == "apdex")
        .expect("apdex result")
        .clone();
    assert_eq!(got["metric_type"], "apdex");
    assert_eq!(got["desired_direction"], "increase");
    let (off, on) = expected();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    for (t, want) in got["treatments"]
        .as_array()
        .expect("arms")
        .iter()
        .zip([off, on])
    {
        assert_eq!(t["users"], 4, "{t}");
        assert_eq!(t["sample_size"], want.len(), "{t}");
        let m = t["summary"]["mean"].as_f64().expect("mean");
        assert!((m - mean(&want)).abs() < 1e-12, "{t}");
    }

    let stored = c.admin_get("/api/v1/admin/metrics");
    let apdex = stored
        .as_array()
        .expect("metrics")
        .iter()
        .find(|m| m["name"] == "apdex")
        .expect("stored apdex");
    assert_eq!(apdex["apdex_target_ms"], TARGET);

    let out = dir.path();
    write_ndjson(&out.join("impressions.ndjson"), &imps);
    write_ndjson(&out.join("events.ndjson"), &evs);
    write_ndjson(
        &out.join("metrics.ndjson"),
        stored.as_array().expect("metrics"),
    );
    write_ndjson(
        &out.join("flags.ndjson"),
        &[c.admin_get("/api/v1/admin/flags/f")],
    );
    let run = Command::new(BIN)
        .arg("analyze")
        .arg("--impressions")
        .arg(out.join("impressions.ndjson"))
        .arg("--events")
        .arg(out.join("events.ndjson"))
        .arg("--metrics")
        .arg(out.join("metrics.ndjson"))
        .arg("--flags")
        .arg(out.join("flags.ndjson"))
        .args(["--at", &at.to_string()])
        .output()
        .expect("analyze runs");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let offline: Value = serde_json::from_slice(&run.stdout).expect("json");
    assert_eq!(offline[0], report);
    c.stop();
}
