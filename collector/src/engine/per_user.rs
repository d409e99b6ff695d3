//! Per-user metric values: one pass over the events, accumulating every metric at once.

use std::collections::VecDeque;

use foldhash::HashMap as FastMap;
use serde_json::{Map, Value};

use super::attribution::{CLOCK_SKEW_BUFFER_MS, Sample};
use super::fingerprint::fingerprint;
use super::metric::{MetricKind, MetricSpec};
use super::source::{EventRecord, Props};
use super::table::prefetch;

/// Whether a metric reads an event as its numerator or (ratio) its denominator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The metric's own event type.
    Numerator,
    /// A ratio's denominator event type.
    Denominator,
}

/// Running totals of one user for one metric. All metrics of a user sit side by side, so an
/// event touches one or two cache lines however many metrics read it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Slot {
    /// Sum of values (sum, average, ratio with a value property) or of Apdex scores (apdex).
    pub(crate) num: f64,
    /// Matching events (count, percent_users, ratio numerator) or valued events (average, apdex).
    pub(crate) cnt: u32,
    /// Denominator events (ratio).
    pub(crate) den: u32,
}

impl Slot {
    /// Adds another partial total of the same user and metric.
    pub(crate) fn add(&mut self, o: &Slot) {
        self.num += o.num;
        self.cnt += o.cnt;
        self.den += o.den;
    }
}

/// What one event adds to one metric of its user.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Contribution {
    /// Index of the metric.
    pub(crate) metric: u32,
    pub(crate) cnt: u32,
    pub(crate) den: u32,
    pub(crate) num: f64,
}

/// An event waiting for its user's table slot to arrive in cache.
#[derive(Debug, Clone, Copy)]
struct Pending {
    fp: u128,
    ts: i64,
    n: u32,
}

/// An event waiting for its user's totals to arrive in cache (`base == NONE`: dropped).
#[derive(Debug, Clone, Copy)]
struct Ready {
    base: usize,
    n: u32,
}

const NONE: usize = usize::MAX;
/// Events in flight per stage: enough to overlap ~10 cache misses, few enough to stay in L1.
const DEPTH: usize = 16;

/// Accumulates per-user totals of several metrics over a stream of events.
///
/// Events go through a short software pipeline: the user's table slot is prefetched when the
/// event arrives, looked up [`DEPTH`] events later (and the user's totals prefetched), and the
/// totals updated [`DEPTH`] events after that. Lookups of random users then overlap instead of
/// each waiting ~100 ns for memory. Call [`Accumulator::flush`] after the last event.
pub struct Accumulator<'a> {
    sample: &'a Sample,
    metrics: &'a [MetricSpec],
    at_ms: i64,
    routes: FastMap<&'a str, Vec<(usize, Role)>>,
    /// `slots[user * metrics.len() + metric]`.
    slots: Vec<Slot>,
    pending: VecDeque<Pending>,
    ready: VecDeque<Ready>,
    contribs: VecDeque<Contribution>,
    scratch: Vec<Contribution>,
    /// Events inside some user's window that changed at least one total.
    pub events_used: u64,
}

/// Appends what `e` adds to each metric routed to its type; returns how many were appended.
pub(crate) fn contributions(
    metrics: &[MetricSpec],
    routes: &[(usize, Role)],
    e: &EventRecord<'_>,
    out: &mut impl Extend<Contribution>,
) -> u32 {
    let mut parsed: Option<Map<String, Value>> = None;
    let mut n = 0;
    for &(i, role) in routes {
        let m = &metrics[i];
        let mut c = Contribution {
            metric: i as u32,
            cnt: 0,
            den: 0,
            num: 0.0,
        };
        if role == Role::Denominator {
            c.den = 1;
        } else {
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
            match m.kind {
                MetricKind::Count | MetricKind::PercentUsers | MetricKind::Rate => c.cnt = 1,
                MetricKind::Sum | MetricKind::Average => match m.value_of(e.value, props) {
                    Some(v) => {
                        c.num = v;
                        c.cnt = 1;
                    }
                    None => continue,
                },
                MetricKind::Apdex => match m.value_of(e.value, props) {
                    Some(v) => {
                        c.num = m.apdex_score(v);
                        c.cnt = 1;
                    }
                    None => continue,
                },
                MetricKind::Ratio => {
                    c.cnt = 1;
                    if m.value_property.is_some() {
                        c.num = m.value_of(e.value, props).unwrap_or(0.0);
                    }
                }
            }
        }
        out.extend(std::iter::once(c));
        n += 1;
    }
    n
}

/// Adds one contribution to the slots of the user starting at `base`.
pub(crate) fn apply(slots: &mut [Slot], base: usize, c: &Contribution) {
    let t = &mut slots[base + c.metric as usize];
    t.num += c.num;
    t.cnt += c.cnt;
    t.den += c.den;
}

/// Hours from the start of a user's window (entry − the clock-skew buffer) to `at_ms`: the
/// denominator of a `rate` metric, at least the buffer (15 minutes).
pub fn exposure_hours(entry_ms: i64, at_ms: i64) -> f64 {
    let start = entry_ms.saturating_sub(CLOCK_SKEW_BUFFER_MS);
    let ms = at_ms.saturating_sub(start).max(CLOCK_SKEW_BUFFER_MS);
    ms as f64 / 3_600_000.0
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
            pending: VecDeque::with_capacity(DEPTH + 1),
            ready: VecDeque::with_capacity(DEPTH + 1),
            contribs: VecDeque::new(),
            scratch: Vec::new(),
            events_used: 0,
        }
    }

    /// True when some metric reads event properties (filter or value property).
    pub fn needs_properties(&self) -> bool {
        self.metrics.iter().any(MetricSpec::needs_properties)
    }

    /// Every event type the metrics read (numerators and denominators), sorted.
    pub fn event_types(&self) -> Vec<String> {
        let mut v: Vec<String> = self.routes.keys().map(|s| s.to_string()).collect();
        v.sort();
        v
    }

    fn in_window(&self, entry_ms: i64, ts: i64) -> bool {
        ts >= entry_ms.saturating_sub(CLOCK_SKEW_BUFFER_MS) && ts <= self.at_ms
    }

    /// Adds one event (ignored unless its user is in the sample and it is in the user's window).
    pub fn push(&mut self, e: &EventRecord<'_>) {
        let Some(routes) = self.routes.get(e.event_type) else {
            return;
        };
        let metrics = self.metrics;
        let needs_props = routes
            .iter()
            .any(|&(i, r)| r == Role::Numerator && metrics[i].needs_properties());
        if needs_props {
            // Properties are borrowed from the source: look the user up at once, so they are
            // parsed only for events of users in the sample.
            let Some(found) = self.sample.find(e.key) else {
                return;
            };
            if !self.in_window(found.entry_ms, e.ts) {
                return;
            }
            self.scratch.clear();
            let n = contributions(metrics, routes, e, &mut self.scratch);
            let base = found.user as usize * metrics.len();
            for c in &self.scratch {
                apply(&mut self.slots, base, c);
            }
            self.events_used += u64::from(n > 0);
            return;
        }
        let n = contributions(metrics, routes, e, &mut self.contribs);
        if n == 0 {
            return;
        }
        let fp = fingerprint(e.key);
        self.sample.prefetch(fp);
        self.pending.push_back(Pending { fp, ts: e.ts, n });
        if self.pending.len() > DEPTH {
            self.lookup_one();
        }
    }

    fn lookup_one(&mut self) {
        let Some(p) = self.pending.pop_front() else {
            return;
        };
        let base = match self.sample.find_fingerprint(p.fp) {
            Some(f) if self.in_window(f.entry_ms, p.ts) => {
                let base = f.user as usize * self.metrics.len();
                prefetch(self.slots.as_ptr().wrapping_add(base));
                base
            }
            _ => NONE,
        };
        self.ready.push_back(Ready { base, n: p.n });
        if self.ready.len() > DEPTH {
            self.apply_one();
        }
    }

    fn apply_one(&mut self) {
        let Some(r) = self.ready.pop_front() else {
            return;
        };
        for _ in 0..r.n {
            if let Some(c) = self.contribs.pop_front()
                && r.base != NONE
            {
                apply(&mut self.slots, r.base, &c);
            }
        }
        self.events_used += u64::from(r.base != NONE);
    }

    /// Finishes the events still in the pipeline; call after the last [`Accumulator::push`].
    pub fn flush(&mut self) {
        while !self.pending.is_empty() {
            self.lookup_one();
        }
        while !self.ready.is_empty() {
            self.apply_one();
        }
    }

    /// Adds another accumulator's totals over the same sample and metrics (parallel passes).
    pub fn merge(&mut self, other: &Accumulator<'_>) {
        debug_assert!(
            other.pending.is_empty() && other.ready.is_empty(),
            "flush first"
        );
        for (a, b) in self.slots.iter_mut().zip(&other.slots) {
            a.num += b.num;
            a.cnt += b.cnt;
            a.den += b.den;
        }
        self.events_used += other.events_used;
    }

    /// The value of user `u` for metric `i`, or None when the metric skips the user.
    pub fn value(&self, i: usize, u: usize) -> Option<f64> {
        let entry = self.sample.users.get(u).map_or(self.at_ms, |x| x.entry_ms);
        slot_value(
            &self.metrics[i],
            &self.slots[u * self.metrics.len() + i],
            entry,
            self.at_ms,
        )
    }

    /// Per-user values of metric `i` with each user's key fingerprint, one vector per treatment
    /// (users the metric skips are left out); `fps` from [`Sample::fingerprints`].
    pub fn keyed_values_by_treatment(&self, i: usize, fps: &[u128]) -> Vec<Vec<(u128, f64)>> {
        let mut out = vec![Vec::new(); self.sample.treatments.len()];
        for (u, x) in self.sample.users.iter().enumerate() {
            if let (Some(v), Some(fp)) = (self.value(i, u), fps.get(u)) {
                out[x.treatment as usize].push((*fp, v));
            }
        }
        out
    }

    /// Per-user values of metric `i`, one vector per treatment (sample order), each sorted
    /// ascending so every later statistic is independent of the order data arrived in.
    pub fn values_by_treatment(&self, i: usize) -> Vec<Vec<f64>> {
        debug_assert!(
            self.pending.is_empty() && self.ready.is_empty(),
            "flush first"
        );
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

/// The value of one user's totals for metric `m` at analysis time `at_ms` (the user entered at
/// `entry_ms`), or None when the metric skips the user: the one rule shared by
/// [`Accumulator::value`] and the incremental state.
pub(crate) fn slot_value(m: &MetricSpec, t: &Slot, entry_ms: i64, at_ms: i64) -> Option<f64> {
    let v = match m.kind {
        MetricKind::Count => t.cnt as f64,
        MetricKind::Sum => t.num,
        MetricKind::Average | MetricKind::Apdex => {
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
        MetricKind::Rate => t.cnt as f64 / exposure_hours(entry_ms, at_ms),
    };
    Some(match m.cap {
        Some(c) => v.min(c),
        None => v,
    })
}

/// Which metrics read each event type, and in which role (as [`Accumulator::new`] routes them).
pub(crate) fn routes(metrics: &[MetricSpec]) -> FastMap<String, Vec<(usize, Role)>> {
    let mut routes: FastMap<String, Vec<(usize, Role)>> = FastMap::default();
    for (i, m) in metrics.iter().enumerate() {
        routes
            .entry(m.event_type.clone())
            .or_default()
            .push((i, Role::Numerator));
        if let Some(d) = &m.denominator_event_type {
            routes
                .entry(d.clone())
                .or_default()
                .push((i, Role::Denominator));
        }
    }
    routes
}
