//! Per-user metric values: one pass over the events, accumulating every metric at once.

use foldhash::HashMap as FastMap;
use serde_json::{Map, Value};

use super::attribution::{CLOCK_SKEW_BUFFER_MS, Sample};
use super::metric::{MetricKind, MetricSpec};
use super::source::{EventRecord, Props};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Numerator,
    Denominator,
}

/// Running totals of one user for one metric. All metrics of a user sit side by side, so an
/// event touches one or two cache lines however many metrics read it.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    /// Sum of values (sum, average, ratio with a value property).
    num: f64,
    /// Matching events (count, percent_users, ratio numerator) or valued events (average).
    cnt: u32,
    /// Denominator events (ratio).
    den: u32,
}

/// Accumulates per-user totals of several metrics over a stream of events.
pub struct Accumulator<'a> {
    sample: &'a Sample,
    metrics: &'a [MetricSpec],
    at_ms: i64,
    routes: FastMap<&'a str, Vec<(usize, Role)>>,
    /// `slots[user * metrics.len() + metric]`.
    slots: Vec<Slot>,
    /// Events inside some user's window that reached at least one metric.
    pub events_used: u64,
}

impl<'a> Accumulator<'a> {
    /// An empty accumulator for `metrics` over `sample` at analysis time `at_ms`.
    pub fn new(sample: &'a Sample, metrics: &'a [MetricSpec], at_ms: i64) -> Self {
        let mut routes: FastMap<&str, Vec<(usize, Role)>> = FastMap::default();
        for (i, m) in metrics.iter().enumerate() {
            routes
                .entry(m.event_type.as_str())
                .or_default()
                .push((i, Role::Numerator));
            if let Some(d) = &m.denominator_event_type {
                routes
                    .entry(d.as_str())
                    .or_default()
                    .push((i, Role::Denominator));
            }
        }
        Accumulator {
            sample,
            metrics,
            at_ms,
            routes,
            slots: vec![Slot::default(); sample.users.len() * metrics.len()],
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
        let Some(found) = self.sample.find(e.key) else {
            return;
        };
        if e.ts < found.entry_ms.saturating_sub(CLOCK_SKEW_BUFFER_MS) || e.ts > self.at_ms {
            return;
        }
        let base = found.user as usize * self.metrics.len();
        let mut parsed: Option<Map<String, Value>> = None;
        let mut used = false;
        for &(i, role) in routes {
            let m = &self.metrics[i];
            let t = &mut self.slots[base + i];
            if role == Role::Denominator {
                t.den += 1;
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
                MetricKind::Count | MetricKind::PercentUsers => t.cnt += 1,
                MetricKind::Sum | MetricKind::Average => {
                    if let Some(v) = m.value_of(e.value, props) {
                        t.num += v;
                        t.cnt += 1;
                    }
                }
                MetricKind::Ratio => {
                    if m.value_property.is_some()
                        && let Some(v) = m.value_of(e.value, props)
                    {
                        t.num += v;
                    }
                    t.cnt += 1;
                }
            }
        }
        self.events_used += u64::from(used);
    }

    /// Adds another accumulator's totals over the same sample and metrics (parallel passes).
    pub fn merge(&mut self, other: &Accumulator<'_>) {
        for (a, b) in self.slots.iter_mut().zip(&other.slots) {
            a.num += b.num;
            a.cnt += b.cnt;
            a.den += b.den;
        }
        self.events_used += other.events_used;
    }

    /// The value of user `u` for metric `i`, or None when the metric skips the user.
    pub fn value(&self, i: usize, u: usize) -> Option<f64> {
        let m = &self.metrics[i];
        let t = &self.slots[u * self.metrics.len() + i];
        let v = match m.kind {
            MetricKind::Count => t.cnt as f64,
            MetricKind::Sum => t.num,
            MetricKind::Average => {
                if t.cnt == 0 {
                    return None;
                }
                t.num / t.cnt as f64
            }
            MetricKind::Ratio => {
                if t.den == 0 {
                    return None;
                }
                let num = if m.value_property.is_some() {
                    t.num
                } else {
                    t.cnt as f64
                };
                num / t.den as f64
            }
            MetricKind::PercentUsers => return Some(if t.cnt > 0 { 1.0 } else { 0.0 }),
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
