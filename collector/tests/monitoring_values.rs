//! The keyed per-user values the monitors pair users with are the engine's values, keyed by the
//! right users, and the arm summaries are the usual n, mean and sample variance.

mod engine_data;

use agent_core::wire::{Event, Impression};
use collector::engine::fingerprint::fingerprint;
use collector::engine::recalc::{keyed_values, per_user_values};
use collector::engine::{MemorySource, MetricSpec};
use collector::monitoring::context::arm;
use engine_data::*;

#[test]
fn keyed_values_match_the_engine_and_pair_by_user() {
    let (imps, evs) = metric_data(1);
    let source = MemorySource {
        impressions: imps
            .into_iter()
            .map(|v| serde_json::from_value::<Impression>(v).expect("impression"))
            .collect(),
        events: evs
            .into_iter()
            .map(|v| serde_json::from_value::<Event>(v).expect("event"))
            .collect(),
    };
    let specs: Vec<MetricSpec> = metrics()
        .iter()
        .map(|m| MetricSpec::from_json(m).expect("metric"))
        .collect();
    let at = T0 + 10 * MIN;
    let plain = per_user_values(&source, "f", 1, Some(RULE), &specs, at).expect("values");
    let keyed = keyed_values(&source, "f", 1, Some(RULE), &specs, at).expect("keyed");
    assert_eq!(keyed.treatments, plain.treatments);
    assert_eq!(keyed.counts, plain.counts);
    let off: Vec<u128> = ["u1", "u2", "u3", "u4"].map(fingerprint).to_vec();
    let on: Vec<u128> = ["u5", "u6", "u7", "u8"].map(fingerprint).to_vec();
    for (m, by_t) in keyed.metrics.iter().enumerate() {
        for (t, values) in by_t.iter().enumerate() {
            let mut sorted: Vec<f64> = values.iter().map(|(_, v)| *v).collect();
            sorted.sort_by(f64::total_cmp);
            assert_eq!(sorted, plain.metrics[m][t], "metric {m} treatment {t}");
            let users = if keyed.treatments[t] == "off" {
                &off
            } else {
                &on
            };
            assert!(
                values.iter().all(|(fp, _)| users.contains(fp)),
                "metric {m}"
            );
        }
        let (summary, map) = arm(&keyed, m, "off");
        let v = &plain.metrics[m][keyed
            .treatments
            .iter()
            .position(|t| t == "off")
            .expect("off")];
        assert_eq!(summary.n as usize, v.len());
        assert_eq!(map.len(), v.len());
        if v.len() >= 2 {
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (v.len() - 1) as f64;
            assert!((summary.mean - mean).abs() < 1e-12);
            assert!((summary.variance - var).abs() < 1e-12);
        }
    }
    // The first metric (count of purchases) of u1 is 2 (two purchases in the window).
    let u1 = keyed.metrics[0]
        .iter()
        .flatten()
        .find(|(fp, _)| *fp == fingerprint("u1"))
        .map(|(_, v)| *v);
    assert_eq!(u1, Some(2.0));
}
