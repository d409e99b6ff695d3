//! Hand-built data shared by the engine tests: impressions, events, metrics and a flag.
#![allow(dead_code)]

use serde_json::{Value, json};

pub const T0: i64 = 1_700_000_000_000;
pub const MIN: i64 = 60_000;
pub const RULE: &str = "everyone";

pub fn impression(key: &str, treatment: &str, label: &str, version: u64, ts: i64) -> Value {
    json!({
        "id": uuid::Uuid::new_v4(), "key": key, "flag": "f", "treatment": treatment,
        "version": version, "label": label, "ts": ts
    })
}

pub fn event(key: &str, event_type: &str, value: Option<f64>, props: Value, ts: i64) -> Value {
    json!({
        "id": uuid::Uuid::new_v4(), "key": key, "traffic_type": "user", "type": event_type,
        "value": value, "ts": ts, "properties": props
    })
}

pub fn flag(version: u64) -> Value {
    json!({
        "key": "f", "version": version, "traffic_type": "user",
        "treatments": [{"name": "on"}, {"name": "off"}],
        "default_treatment": "off", "baseline_treatment": "off", "seed": 12345,
        "rules": [
            {"name": "allow", "matchers": [{"type": "key_in_list", "values": ["vip"]}], "treatment": "on"},
            {"name": RULE, "matchers": [], "rollout": [
                {"treatment": "on", "weight": 50}, {"treatment": "off", "weight": 50}
            ]}
        ]
    })
}

/// The metric of every type (and a filtered and a capped one), in this order.
pub fn metrics() -> Vec<Value> {
    let m = |name: &str, ty: &str, extra: Value| {
        let mut v = json!({"name": name, "event_type": "purchase", "metric_type": ty,
            "direction": "increase"});
        for (k, x) in extra.as_object().expect("object") {
            v[k] = x.clone();
        }
        v
    };
    vec![
        m("count", "count", json!({})),
        m("sum", "sum", json!({})),
        m(
            "average amount",
            "average",
            json!({"value_property": "amount"}),
        ),
        m(
            "per view",
            "ratio",
            json!({"denominator_event_type": "view"}),
        ),
        m("buyers", "percent_users", json!({})),
        m(
            "checkout count",
            "count",
            json!({"filter": {"page": "/checkout"}}),
        ),
        m("sum capped", "sum", json!({"cap": 10.0})),
    ]
}

/// Per-user expectations of [`metrics`] for [`metric_data`], sorted: (off, on).
pub fn expected() -> Vec<(Vec<f64>, Vec<f64>)> {
    vec![
        (vec![0., 0., 1., 2.], vec![0., 1., 1., 3.]),
        (vec![0., 0., 12., 20.], vec![0., 2., 3., 30.]),
        (vec![2., 2.], vec![4., 5., 6.]),
        (vec![0., 1.], vec![0.25, 1., 1.]),
        (vec![0., 0., 1., 1.], vec![0., 1., 1., 1.]),
        (vec![0., 0., 1., 1.], vec![0., 0., 1., 3.]),
        (vec![0., 0., 10., 10.], vec![0., 2., 3., 10.]),
    ]
}

/// Four users per arm of flag `f` at `version`, with purchases and views an hour after T0.
pub fn metric_data(version: u64) -> (Vec<Value>, Vec<Value>) {
    let mut imps = Vec::new();
    for (u, t) in [
        ("u1", "off"),
        ("u2", "off"),
        ("u3", "off"),
        ("u4", "off"),
        ("u5", "on"),
        ("u6", "on"),
        ("u7", "on"),
        ("u8", "on"),
    ] {
        imps.push(impression(u, t, RULE, version, T0));
    }
    // Served by the allow-list rule: not randomised, left out (outside_rule).
    imps.push(impression("vip", "on", "allow", version, T0));
    let at = T0 + MIN;
    let buy = |u: &str, value: f64, amount: f64, page: &str| {
        event(
            u,
            "purchase",
            Some(value),
            json!({"amount": amount, "page": page}),
            at,
        )
    };
    let view = |u: &str| event(u, "view", None, json!({}), at);
    let mut evs = vec![
        buy("u1", 5., 1., "/checkout"),
        buy("u1", 7., 3., "/home"),
        view("u1"),
        view("u1"),
        view("u2"),
        buy("u3", 20., 2., "/checkout"),
        buy("u6", 2., 6., "/home"),
        view("u6"),
        view("u6"),
        view("u6"),
        view("u6"),
        buy("u8", 30., 5., "/checkout"),
        view("u8"),
        buy("vip", 100., 100., "/checkout"),
    ];
    for _ in 0..3 {
        evs.push(buy("u5", 1., 4., "/checkout"));
        evs.push(view("u5"));
    }
    (imps, evs)
}
