//! The engine over in-memory data: attribution rules and every metric type on hand-built data.

mod engine_data;

use agent_core::wire::{Event, FlagDefinition, Impression};
use collector::engine::recalc::per_user_values;
use collector::engine::source::partition_range;
use collector::engine::{
    CLOCK_SKEW_BUFFER_MS, DataSource, EngineError, EventRecord, ImpressionRecord, MemorySource,
    MetricSpec, RecalcOptions, Verdict, recalculate,
};
use engine_data::*;
use serde_json::{Value, json};

fn source(imps: Vec<Value>, evs: Vec<Value>) -> MemorySource {
    MemorySource {
        impressions: imps
            .into_iter()
            .map(|v| serde_json::from_value::<Impression>(v).expect("impression"))
            .collect(),
        events: evs
            .into_iter()
            .map(|v| serde_json::from_value::<Event>(v).expect("event"))
            .collect(),
    }
}

fn specs(v: &[Value]) -> Vec<MetricSpec> {
    v.iter()
        .map(|m| MetricSpec::from_json(m).expect("metric"))
        .collect()
}

fn def(version: u64) -> FlagDefinition {
    serde_json::from_value(flag(version)).expect("flag")
}

#[test]
fn attribution_windows_conflicts_and_versions() {
    let at = T0 + 120 * MIN;
    let click = |u: &str, ts: i64| event(u, "click", None, json!({}), ts);
    let imps = vec![
        impression("a", "on", RULE, 1, T0 + 10 * MIN),
        impression("a", "on", RULE, 1, T0), // first impression: entry at T0
        impression("b", "off", RULE, 1, T0),
        impression("c", "on", RULE, 1, T0),
        impression("c", "off", RULE, 1, T0 + MIN), // two treatments: excluded
        impression("d", "on", "allow", 1, T0),     // allow-list: outside the rollout rule
        impression("e", "on", RULE, 1, at + 1),    // after the analysis time
        impression("a", "off", RULE, 2, T0 + 60 * MIN), // a new version: a new analysis
    ];
    let buffer = CLOCK_SKEW_BUFFER_MS;
    assert_eq!(buffer, 15 * MIN);
    let evs = vec![
        click("a", T0 - buffer + 1000), // inside the clock-skew buffer: counts
        click("a", T0 - buffer - 1000), // before it: ignored
        click("a", T0 + 5 * MIN),
        click("a", T0 + 30 * MIN), // v1 only (before v2 entry - buffer)
        click("a", T0 + 50 * MIN), // v1 and v2 (inside v2's buffer)
        click("a", at + 1),        // after the analysis time
        click("c", T0 + 2 * MIN),  // excluded user
        click("e", T0 + 2 * MIN),  // not in the sample
        click("zz", T0),           // never exposed
    ];
    let src = source(imps, evs);
    let count = specs(&[json!({"name": "clicks", "event_type": "click",
        "metric_type": "count", "direction": "increase"})]);

    let v1 = recalculate(&src, "f", 1, Some(&def(1)), &count, &RecalcOptions::at(at)).expect("v1");
    assert_eq!(v1.excluded.multiple_treatments, 1);
    assert_eq!(v1.excluded.outside_rule, 1);
    assert_eq!(v1.rollout_rule.as_deref(), Some(RULE));
    let users: Vec<(String, u64)> = v1
        .arms
        .iter()
        .map(|a| (a.treatment.clone(), a.users))
        .collect();
    assert_eq!(users, vec![("off".into(), 1), ("on".into(), 1)]);
    let m = &v1.metrics[0];
    assert_eq!(m.treatments[0].treatment, "off");
    assert!(m.treatments[0].baseline);
    assert_eq!(m.treatments[0].summary.expect("off").mean, 0.0); // b: no event counts as 0
    assert_eq!(m.treatments[1].summary.expect("on").mean, 4.0);
    assert_eq!(v1.events_used, 4);

    let v2 = recalculate(&src, "f", 2, Some(&def(2)), &count, &RecalcOptions::at(at)).expect("v2");
    assert_eq!(v2.arms.iter().map(|a| a.users).sum::<u64>(), 1);
    let off = &v2.metrics[0].treatments[0];
    assert_eq!((off.treatment.as_str(), off.users), ("off", 1));
    assert_eq!(off.summary.expect("off").mean, 1.0);
    assert_eq!(v2.excluded.multiple_treatments, 0);

    // Earlier analysis time: only what had happened by then.
    let early = recalculate(
        &src,
        "f",
        1,
        Some(&def(1)),
        &count,
        &RecalcOptions::at(T0 + 10 * MIN),
    )
    .expect("early");
    assert_eq!(
        early.metrics[0].treatments[1].summary.expect("on").mean,
        2.0
    );
}

#[test]
fn every_metric_type_with_filter_and_cap() {
    let (imps, evs) = metric_data(1);
    let src = source(imps, evs);
    let metrics = specs(&metrics());
    let at = T0 + 60 * MIN;
    let values = per_user_values(&src, "f", 1, Some(RULE), &metrics, at).expect("values");
    assert_eq!(values.treatments, vec!["off", "on"]);
    assert_eq!(values.counts, vec![4, 4]);
    assert_eq!(values.exclusions.outside_rule, 1);
    for (i, (want, got)) in expected().iter().zip(&values.metrics).enumerate() {
        assert_eq!(&got[0], &want.0, "{} off", metrics[i].name);
        assert_eq!(&got[1], &want.1, "{} on", metrics[i].name);
    }

    let report = recalculate(
        &src,
        "f",
        1,
        Some(&def(1)),
        &metrics,
        &RecalcOptions::at(at),
    )
    .expect("report");
    for (m, want) in report.metrics.iter().zip(expected()) {
        let (off, on) = (&m.treatments[0], &m.treatments[1]);
        assert_eq!(off.users, 4);
        assert_eq!(off.sample_size as usize, want.0.len(), "{}", m.name);
        assert_eq!(on.sample_size as usize, want.1.len(), "{}", m.name);
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let s = on.summary.expect("summary");
        assert!((s.mean - mean(&want.1)).abs() < 1e-12, "{}", m.name);
        assert_eq!((s.min, s.max), (want.1[0], want.1[want.1.len() - 1]));
        let c = on.comparison.as_ref().expect("comparison");
        assert!((c.absolute - (mean(&want.1) - mean(&want.0))).abs() < 1e-12);
        assert!(c.absolute_ci.lower < c.absolute && c.absolute < c.absolute_ci.upper);
        assert!(c.p_value > 0.0 && c.p_value <= 1.0);
        // Every metric here has the desired direction "increase".
        let want_verdict = match (c.p_value < 0.05, c.absolute > 0.0) {
            (false, _) => Verdict::Inconclusive,
            (true, true) => Verdict::Improved,
            (true, false) => Verdict::Degraded,
        };
        assert_eq!(on.verdict, Some(want_verdict), "{}", m.name);
    }
    // percent_users uses the two-proportion (normal) test, the others Welch.
    assert!(
        report.metrics[4].treatments[1]
            .comparison
            .as_ref()
            .unwrap()
            .df
            .is_none()
    );
    assert!(
        report.metrics[0].treatments[1]
            .comparison
            .as_ref()
            .unwrap()
            .df
            .is_some()
    );
    // average amount: off [2, 2] vs on [4, 5, 6] is significant even with 2 vs 3 users.
    assert_eq!(
        report.metrics[2].treatments[1].verdict,
        Some(Verdict::Improved)
    );
    // 4 vs 4 users against 50/50 weights: the SRM check needs 8 per arm, so it did not run.
    let srm = report.srm.expect("srm");
    assert!(!srm.checked && !report.srm_mismatch);
}

#[test]
fn sample_ratio_mismatch_marks_every_metric() {
    let mut imps = Vec::new();
    let mut evs = Vec::new();
    for i in 0..300 {
        let t = if i % 3 == 0 { "off" } else { "on" }; // 1/3 vs 2/3 against 50/50
        let u = format!("u{i}");
        imps.push(impression(&u, t, RULE, 1, T0));
        if i % 2 == 0 {
            evs.push(event(
                &u,
                "purchase",
                Some(i as f64),
                json!({"amount": 1, "page": "/"}),
                T0,
            ));
        }
    }
    let src = source(imps, evs);
    let metrics = specs(&metrics());
    let r = recalculate(
        &src,
        "f",
        1,
        Some(&def(1)),
        &metrics,
        &RecalcOptions::at(T0 + MIN),
    )
    .expect("report");
    let srm = r.srm.expect("srm");
    assert!(srm.checked && srm.p_value < 0.001, "{srm:?}");
    assert!(r.srm_mismatch && r.metrics.iter().all(|m| m.srm_mismatch));
}

#[test]
fn baseline_is_required_without_a_definition() {
    let (imps, evs) = metric_data(1);
    let src = source(imps, evs);
    let metrics = specs(&metrics());
    let err = recalculate(&src, "f", 1, None, &metrics, &RecalcOptions::at(T0 + MIN))
        .expect_err("no baseline");
    assert!(err.to_string().contains("baseline"), "{err}");
    let mut opts = RecalcOptions::at(T0 + 60 * MIN);
    opts.baseline = Some("off".into());
    let r = recalculate(&src, "f", 1, None, &metrics, &opts).expect("report");
    // Without the rollout rule every impression counts, the allow-listed user too.
    assert_eq!(r.excluded.outside_rule, 0);
    assert_eq!(r.arms.iter().map(|a| a.users).sum::<u64>(), 9);
    assert!(r.srm.is_none());
}

/// Reads a memory source's events in `parts` partitions (1: one sequential pass).
struct Parts<'a>(&'a MemorySource, usize);

impl DataSource for Parts<'_> {
    fn impressions(
        &self,
        flag: &str,
        version: u64,
        f: &mut dyn FnMut(&ImpressionRecord<'_>),
    ) -> Result<(), EngineError> {
        self.0.impressions(flag, version, f)
    }

    fn events(
        &self,
        types: &[String],
        from_ms: i64,
        until_ms: i64,
        f: &mut dyn FnMut(&EventRecord<'_>),
    ) -> Result<(), EngineError> {
        for p in 0..self.1 {
            self.events_in_partition(p, types, from_ms, until_ms, &mut |e| f(e))?;
        }
        Ok(())
    }

    fn event_partitions(&self) -> usize {
        self.1
    }

    fn events_in_partition(
        &self,
        part: usize,
        types: &[String],
        from_ms: i64,
        until_ms: i64,
        f: &mut dyn FnMut(&EventRecord<'_>),
    ) -> Result<(), EngineError> {
        let range = partition_range(self.0.events.len(), self.1, part);
        let slice = MemorySource {
            impressions: Vec::new(),
            events: self.0.events[range].to_vec(),
        };
        slice.events(types, from_ms, until_ms, f)
    }
}

#[test]
fn partitioned_accumulation_equals_one_pass() {
    let mut imps = Vec::new();
    let mut evs = Vec::new();
    for i in 0..2_000u32 {
        let u = format!("u{i}");
        let t = ["off", "on"][(i % 2) as usize];
        imps.push(impression(&u, t, RULE, 1, T0 + i as i64));
        for j in 0..(i % 7) {
            let page = if j % 2 == 0 { "/checkout" } else { "/home" };
            let props = json!({"amount": (i % 5) as f64, "page": page});
            evs.push(event(
                &u,
                "purchase",
                Some((j * 3) as f64),
                props,
                T0 + 10 * MIN,
            ));
            evs.push(event(&u, "view", None, json!({}), T0 + 10 * MIN));
        }
    }
    let src = source(imps, evs);
    let metrics = specs(&metrics());
    let opts = RecalcOptions::at(T0 + 60 * MIN);
    let one = recalculate(&Parts(&src, 1), "f", 1, Some(&def(1)), &metrics, &opts).expect("one");
    for parts in [2, 3, 8] {
        let many =
            recalculate(&Parts(&src, parts), "f", 1, Some(&def(1)), &metrics, &opts).expect("many");
        assert_eq!(
            serde_json::to_value(&many).expect("json"),
            serde_json::to_value(&one).expect("json"),
            "{parts} partitions"
        );
    }
    assert!(one.events_used > 10_000);
}
