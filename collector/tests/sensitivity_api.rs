//! The sensitivity calculator over HTTP and on the command line agrees with the `stats` library,
//! and bad input is answered with a 400 naming the field.

mod common;

use std::process::Command;

use common::*;
use serde_json::{Value, json};
use stats::sensitivity::{SensitivityRequest, SensitivityResponse, calculate};

const BIN: &str = env!("CARGO_BIN_EXE_collector");

/// Requests covering both kinds, both directions, both threshold forms and two windows.
fn cases() -> Vec<Value> {
    vec![
        json!({"kind": "proportion", "total_sample_size": 20000, "baseline_share": 0.5,
               "baseline_value": 0.1, "threshold": {"relative": 0.1}, "desired_direction": "decrease",
               "alpha": 0.05, "power": 0.8, "window_minutes": 1440}),
        json!({"kind": "proportion", "total_sample_size": 50000, "baseline_share": 0.1,
               "baseline_value": 0.3, "threshold": {"absolute": 0.01}, "desired_direction": "increase",
               "alpha": 0.05, "power": 0.9, "window_minutes": 30}),
        json!({"kind": "mean", "total_sample_size": 8000, "baseline_share": 0.5,
               "baseline_value": 250.0, "baseline_stdev": 120.0, "threshold": {"relative": 0.0},
               "desired_direction": "decrease"}),
        json!({"kind": "mean", "total_sample_size": 100000, "baseline_share": 0.8,
               "baseline_value": 3.5, "baseline_stdev": 2.0, "threshold": {"absolute": 0.05},
               "desired_direction": "increase", "alpha": 0.1, "power": 0.8, "window_minutes": 10080}),
    ]
}

fn library(case: &Value) -> SensitivityResponse {
    let req: SensitivityRequest = serde_json::from_value(case.clone()).expect("valid case");
    calculate(&req).expect("library answers")
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(1.0)
}

fn assert_same(got: &Value, want: &SensitivityResponse, what: &str) {
    let got: SensitivityResponse = serde_json::from_value(got.clone()).expect("answer shape");
    assert_eq!(got.checks, want.checks, "{what}");
    for (name, g, w) in [
        (
            "comparison_value",
            got.comparison_value,
            want.comparison_value,
        ),
        (
            "min_detectable_relative",
            got.min_detectable_relative,
            want.min_detectable_relative,
        ),
        ("alpha_per_check", got.alpha_per_check, want.alpha_per_check),
        ("critical_value", got.critical_value, want.critical_value),
    ] {
        assert!(close(g, w), "{what}: {name} {g} != {w}");
    }
}

#[test]
fn http_answers_match_the_library() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = TestCollector::start(dir.path());
    let mut seen = Vec::new();
    for case in cases() {
        let want = library(&case);
        let r = c.admin_post("/api/v1/admin/sensitivity", case.clone());
        assert_eq!(r.status(), 200, "{case}");
        let got: Value = r.json().expect("json");
        assert_same(&got, &want, &case.to_string());
        seen.push(want.checks);
    }
    // The windows give different numbers of checks (30 min: 6, 24 h: 52).
    assert!(seen.contains(&6) && seen.contains(&52), "{seen:?}");
    // Without a key: 401.
    let r = c
        .client
        .post(c.url("/api/v1/admin/sensitivity"))
        .json(&cases()[0])
        .send()
        .expect("sent");
    assert_eq!(r.status(), 401);
}

#[test]
fn bad_input_names_the_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = TestCollector::start(dir.path());
    let base = cases()[0].clone();
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let without = |k: &str| {
        let mut b = base.clone();
        b.as_object_mut().expect("object").remove(k);
        b
    };
    let mut mean_no_sd = cases()[2].clone();
    mean_no_sd
        .as_object_mut()
        .expect("object")
        .remove("baseline_stdev");
    let bad = [
        (with("kind", json!("median")), "kind"),
        (with("alpha", json!(1.5)), "alpha"),
        (with("power", json!(0.0)), "power"),
        (with("baseline_share", json!(1.0)), "baseline_share"),
        (with("baseline_value", json!(1.2)), "baseline_value"),
        (with("total_sample_size", json!(-5)), "total_sample_size"),
        (with("total_sample_size", json!(1)), "total_sample_size"),
        (with("window_minutes", json!(10)), "window_minutes"),
        (
            with("threshold", json!({"relative": -0.1})),
            "threshold.relative",
        ),
        (with("threshold", json!({"percent": 3})), "threshold"),
        (with("desired_direction", json!("up")), "desired_direction"),
        (with("extra", json!(1)), "extra"),
        (without("baseline_value"), "baseline_value"),
        (mean_no_sd.clone(), "baseline_stdev"),
        (
            {
                let mut m = mean_no_sd;
                m["baseline_stdev"] = json!(0.0);
                m
            },
            "baseline_stdev",
        ),
    ];
    for (body, field) in bad {
        let r = c.admin_post("/api/v1/admin/sensitivity", body.clone());
        assert_eq!(r.status(), 400, "{body}");
        let msg = r.json::<Value>().expect("json")["error"]
            .as_str()
            .expect("message")
            .to_string();
        assert!(msg.contains(field), "{body}: {msg} does not name {field}");
    }
    // Well-formed but hopeless: 422, naming the sample size.
    let r = c.admin_post(
        "/api/v1/admin/sensitivity",
        with("total_sample_size", json!(40))
            .as_object()
            .map(|o| {
                let mut o = o.clone();
                o.insert("desired_direction".into(), json!("increase"));
                o.insert("window_minutes".into(), json!(30));
                Value::Object(o)
            })
            .expect("object"),
    );
    assert_eq!(r.status(), 422);
    assert!(r.text().expect("text").contains("total_sample_size"));
}

fn cli_args(case: &Value) -> Vec<String> {
    let mut a = vec!["sensitivity".to_string()];
    let mut push = |flag: &str, v: String| {
        a.push(format!("--{flag}"));
        a.push(v);
    };
    let obj = case.as_object().expect("object");
    for (k, v) in obj {
        let flag = k.replace('_', "-");
        match k.as_str() {
            "threshold" => {
                let (form, x) = v
                    .as_object()
                    .and_then(|t| t.iter().next())
                    .expect("threshold");
                push(&format!("threshold-{form}"), x.to_string());
            }
            _ => push(
                &flag,
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string()),
            ),
        }
    }
    a
}

#[test]
fn cli_answers_match_the_library() {
    for case in cases() {
        let want = library(&case);
        let out = Command::new(BIN)
            .args(cli_args(&case))
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{case}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got: Value = serde_json::from_slice(&out.stdout).expect("prints JSON");
        assert_same(&got, &want, &case.to_string());
    }
    // Bad input: a non-zero exit naming the field.
    let out = Command::new(BIN)
        .args([
            "sensitivity",
            "--kind",
            "mean",
            "--total-sample-size",
            "1000",
            "--baseline-value",
            "3",
            "--desired-direction",
            "decrease",
        ])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("baseline_stdev"));
}
