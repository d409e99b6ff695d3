//! Per-user metric values: one pass over the events, accumulating every metric at once.

use rustc_hash::FxHashMap;
use serde_json::{Map, Value};

use super::attribution::{CLOCK_SKEW_BUFFER_MS, Sample};
use super::metric::{MetricKind, MetricSpec};
use super::source::{EventRecord, Props};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Numerator,
    Denominator,
}

/// Running per-user totals of one metric.
#[derive(Debug, Clone, Default)]
struct Totals {
    /// Sum of values (sum, average, ratio with a value property).
    num: Vec<f64>,
    /// Matching events (count, percent_users, ratio numerator) or valued events (average).
    cnt: Vec<u32>,
    /// Denominator events (ratio).
    den: Vec<u32>,
}

/// Accumulates per-user totals of several metrics over a stream of events.
pub struct Accumulator<'a> {
    sample: &'a Sample,
    metrics: &'a [MetricSpec],
    at_ms: i64,
    routes: FxHashMap<&'a str, Vec<(usize, Role)>>,
    totals: Vec<Totals>,
    /// Events inside some user's window that reached at least one metric.
    pub events_used: u64,
}

fn uses_num(m: &MetricSpec) -> bool {
    match m.kind {
        MetricKind::Sum | MetricKind::Average => true,
        MetricKind::Ratio => m.value_property.is_some(),
        MetricKind::Count | MetricKind::PercentUsers => false,
    }
}

impl<'a> Accumulator<'a> {
    /// An empty accumulator for `metrics` over `sample` at analysis time `at_ms`.
    pub fn new(sample: &'a Sample, metrics: &'a [MetricSpec], at_ms: i64) -> Self {
        let n = sample.users.len();
        let mut routes: FxHashMap<&str, Vec<(usize, Role)>> = FxHashMap::default();
        let totals = metrics
            .iter()
            .enumerate()
            .map(|(i, m)| {
                routes
                    .entry(m.event_type.as_str())
                    .or_default()
                    .push((i, Role::Numerator));
                let mut t = Totals {
                    cnt: vec![0; n],
                    ..Totals::default()
                };
                if uses_num(m) {
                    t.num = vec![0.0; n];
                }
                if let Some(d) = &m.denominator_event_type {
                    routes
                        .entry(d.as_str())
                        .or_default()
                        .push((i, Role::Denominator));
                    t.den = vec![0; n];
                }
                t
            })
            .collect();
        Accumulator {
            sample,
            metrics,
            at_ms,
            routes,
            totals,
            events_used: 0,
        }
    }

    /// Every event type the metrics read (numerators and denominators), sorted.
    pub fn event_types(&self) -> Vec<String> {
        let mut v: Vec<String> = self.routes.keys().map(|s| s.to_string()).collect();
        v.sort();
        v
    }

    /// Adds one event (ignored unless its user is in the sample and it is in the user's window).
    pub fn push(&mut self, e: &EventRecord<'_>) {
        let Some(routes) = self.routes.get(e.event_type) else {
            return;
        };
        let Some(u) = self.sample.user(e.key) else {
            return;
        };
        let u = u as usize;
        let entry = self.sample.users[u].entry_ms;
        if e.ts < entry.saturating_sub(CLOCK_SKEW_BUFFER_MS) || e.ts > self.at_ms {
            return;
        }
        let mut parsed: Option<Map<String, Value>> = None;
        let mut used = false;
        for &(i, role) in routes {
            let m = &self.metrics[i];
            let t = &mut self.totals[i];
            if role == Role::Denominator {
                t.den[u] += 1;
                used = true;
                continue;
            }
            let props = if m.needs_properties() {
                Some(match e.props {
                    Props::Map(p) => p,
                    Props::Json(s) => {
                        &*parsed.get_or_insert_with(|| serde_json::from_str(s).unwrap_or_default())
                    }
                })
            } else {
                None
            };
            if let Some(p) = props
                && !m.matches(p)
            {
                continue;
            }
            used = true;
            match m.kind {
                MetricKind::Count | MetricKind::PercentUsers => t.cnt[u] += 1,
                MetricKind::Sum | MetricKind::Average => {
                    if let Some(v) = m.value_of(e.value, props) {
                        t.num[u] += v;
                        t.cnt[u] += 1;
                    }
                }
                MetricKind::Ratio => {
                    if m.value_property.is_some() {
                        if let Some(v) = m.value_of(e.value, props) {
                            t.num[u] += v;
                        }
                    }
                    t.cnt[u] += 1;
                }
            }
        }
        self.events_used += u64::from(used);
    }

    /// Adds another accumulator's totals over the same sample and metrics (parallel passes).
    pub fn merge(&mut self, other: &Accumulator<'_>) {
        for (a, b) in self.totals.iter_mut().zip(&other.totals) {
            a.num.iter_mut().zip(&b.num).for_each(|(x, y)| *x += y);
            a.cnt.iter_mut().zip(&b.cnt).for_each(|(x, y)| *x += y);
            a.den.iter_mut().zip(&b.den).for_each(|(x, y)| *x += y);
        }
        self.events_used += other.events_used;
    }

    /// The value of user `u` for metric `i`, or None when the metric skips the user.
    pub fn value(&self, i: usize, u: usize) -> Option<f64> {
        let m = &self.metrics[i];
        let t = &self.totals[i];
        let v = match m.kind {
            MetricKind::Count => t.cnt[u] as f64,
            MetricKind::Sum => t.num[u],
            MetricKind::Average => {
                if t.cnt[u] == 0 {
                    return None;
                }
                t.num[u] / t.cnt[u] as f64
            }
            MetricKind::Ratio => {
                if t.den[u] == 0 {
                    return None;
                }
                let num = if m.value_property.is_some() {
                    t.num[u]
                } else {
                    t.cnt[u] as f64
                };
                num / t.den[u] as f64
            }
            MetricKind::PercentUsers => return Some(if t.cnt[u] > 0 { 1.0 } else { 0.0 }),
        };
        Some(match m.cap {
            Some(c) => v.min(c),
            None => v,
        })
    }

    /// Per-user values of metric `i`, one vector per treatment (sample order), each sorted
    /// ascending so every later statistic is independent of the order data arrived in.
    pub fn values_by_treatment(&self, i: usize) -> Vec<Vec<f64>> {
        let mut out = vec![Vec::new(); self.sample.treatments.len()];
        for (u, x) in self.sample.users.iter().enumerate() {
            if let Some(v) = self.value(i, u) {
                out[x.treatment as usize].push(v);
            }
        }
        for v in &mut out {
            v.sort_unstable_by(f64::total_cmp);
        }
        out
    }
}
