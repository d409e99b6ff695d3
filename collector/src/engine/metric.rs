//! A metric definition, validated into the form the engine computes with.
//!
//! Meaning of each type, per user in the sample, over the user's events in the attribution window:
//! - `count`: number of matching events (0 without events);
//! - `sum`: sum of the event values (0 without events; events without a value are skipped);
//! - `average`: mean of the event values; users without a valued event have no value and are skipped;
//! - `ratio`: numerator / denominator, where the numerator is the number of matching events of
//!   `event_type` (or the sum of `value_property` when set) and the denominator the number of
//!   `denominator_event_type` events; users without a denominator event are skipped;
//! - `percent_users`: 1 if the user has a matching event, else 0 (analysed as a proportion);
//! - `apdex`: over the user's valued events (durations in ms) at target T (`apdex_target_ms`),
//!   (satisfied + tolerating / 2) / total, satisfied being <= T and tolerating T < d <= 4 T;
//!   users without a valued event are skipped, as for `average`;
//! - `rate` (throughput): matching events per hour of exposure, where the exposure runs from the
//!   start of the user's window (entry − the clock-skew buffer) to the analysis time, the same
//!   interval the events are counted in. Every user has a value (0 without events).
//!
//! Why `rate` is unbiased across treatments: a user's entry time is the time of their first
//! qualifying impression, and the treatment is assigned by hashing the key independently of
//! when the user arrives, so the distribution of exposures is the same in every arm and any
//! difference in mean rate comes from the treatment. Dividing by each user's own exposure (not
//! the window length) keeps a user who arrived an hour ago comparable with one who arrived a
//! day ago; the 15-minute buffer in the exposure bounds it below, so a user who entered seconds
//! before the analysis cannot produce a huge rate from one event. A plain `count` would also be
//! unbiased but mixes arrival time into the value; the rate removes that variance.
//!
//! The value of an event is the property named by `value_property` (a JSON number) when set, else
//! the event's `value`. The filter is a JSON object of property equality conditions, all of which
//! must hold (`{"page": "/checkout", "retry": false}`; numbers compare numerically); it applies to
//! the numerator events only. A cap limits each user's final value (not applied to percent_users).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::EngineError;
use crate::store::{Metric, NewMetric};

/// How a metric aggregates a user's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// Number of events.
    Count,
    /// Sum of values.
    Sum,
    /// Mean of values.
    Average,
    /// Numerator per denominator event.
    Ratio,
    /// Did the user have the event (0/1).
    PercentUsers,
    /// Apdex of the user's durations at the metric's target T.
    Apdex,
    /// Events per hour of the user's exposure (throughput).
    Rate,
}

/// The desired direction of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Desired {
    /// Higher is better.
    Increase,
    /// Lower is better.
    Decrease,
}

/// One property equality condition of a filter.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// Property name.
    pub property: String,
    /// Required value (string, number or boolean).
    pub value: Value,
}

/// A validated metric definition.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSpec {
    /// Store id, when the metric comes from the store (or an export of it).
    pub id: Option<i64>,
    /// Human name.
    pub name: String,
    /// Numerator event type.
    pub event_type: String,
    /// Aggregation.
    pub kind: MetricKind,
    /// Desired direction.
    pub desired: Desired,
    /// Property holding the value (None: the event value).
    pub value_property: Option<String>,
    /// Denominator event type (ratio).
    pub denominator_event_type: Option<String>,
    /// Property conditions (all must hold).
    pub filter: Vec<Condition>,
    /// Cap on the per-user value.
    pub cap: Option<f64>,
    /// Target T in ms (apdex only; validated positive).
    pub apdex_target_ms: Option<f64>,
}

fn bad(metric: &str, field: &'static str, message: impl Into<String>) -> EngineError {
    EngineError::Metric {
        metric: metric.to_string(),
        field,
        message: message.into(),
    }
}

/// Parses a filter object into conditions, naming the offending property on error.
pub fn parse_filter(filter: Option<&Value>) -> Result<Vec<Condition>, String> {
    let Some(f) = filter else {
        return Ok(Vec::new());
    };
    let obj = match f {
        Value::Null => return Ok(Vec::new()),
        Value::Object(o) => o,
        _ => return Err("must be a JSON object of property: value conditions".into()),
    };
    let mut out = Vec::with_capacity(obj.len());
    for (k, v) in obj {
        match v {
            Value::String(_) | Value::Bool(_) => {}
            Value::Number(n) if n.as_f64().is_some() => {}
            _ => {
                return Err(format!(
                    "{k:?}: condition value must be a string, number or boolean"
                ));
            }
        }
        out.push(Condition {
            property: k.clone(),
            value: v.clone(),
        });
    }
    Ok(out)
}

impl MetricSpec {
    /// Validates a stored metric.
    pub fn from_metric(m: &Metric) -> Result<Self, EngineError> {
        Self::build(
            Some(m.id),
            NewMetric {
                name: m.name.clone(),
                event_type: m.event_type.clone(),
                metric_type: m.metric_type.clone(),
                direction: m.direction.clone(),
                value_property: m.value_property.clone(),
                denominator_event_type: m.denominator_event_type.clone(),
                filter: m.filter.clone(),
                cap: m.cap,
                apdex_target_ms: m.apdex_target_ms,
            },
        )
    }

    /// Validates a definition (`id` optional, as in an export of `GET /api/v1/admin/metrics`).
    pub fn build(id: Option<i64>, m: NewMetric) -> Result<Self, EngineError> {
        crate::metrics::validate_metric(&m).map_err(|e| bad(&m.name, e.field, e.message))?;
        let kind = match m.metric_type.as_str() {
            "count" => MetricKind::Count,
            "sum" => MetricKind::Sum,
            "average" => MetricKind::Average,
            "ratio" => MetricKind::Ratio,
            "percent_users" => MetricKind::PercentUsers,
            "apdex" => MetricKind::Apdex,
            "rate" => MetricKind::Rate,
            other => return Err(bad(&m.name, "metric_type", format!("unknown {other:?}"))),
        };
        let desired = match m.direction.as_str() {
            "increase" => Desired::Increase,
            "decrease" => Desired::Decrease,
            other => return Err(bad(&m.name, "direction", format!("unknown {other:?}"))),
        };
        let filter = parse_filter(m.filter.as_ref()).map_err(|e| bad(&m.name, "filter", e))?;
        Ok(MetricSpec {
            id,
            name: m.name,
            event_type: m.event_type,
            kind,
            desired,
            value_property: m.value_property,
            denominator_event_type: m.denominator_event_type,
            filter,
            cap: m.cap,
            apdex_target_ms: m.apdex_target_ms,
        })
    }

    /// Parses one line of a metrics export (a `Metric` or `NewMetric` JSON object).
    pub fn from_json(v: &Value) -> Result<Self, EngineError> {
        let id = v.get("id").and_then(Value::as_i64);
        let m: NewMetric = serde_json::from_value(v.clone())
            .map_err(|e| EngineError::input("metrics", e.to_string()))?;
        Self::build(id, m)
    }

    /// True when the numerator needs event properties (filter or value property).
    pub fn needs_properties(&self) -> bool {
        !self.filter.is_empty() || self.value_property.is_some()
    }

    /// True when every filter condition holds on `props`.
    pub fn matches(&self, props: &Map<String, Value>) -> bool {
        self.filter
            .iter()
            .all(|c| match (props.get(&c.property), &c.value) {
                (Some(Value::Number(a)), Value::Number(b)) => a.as_f64() == b.as_f64(),
                (Some(a), b) => a == b,
                (None, _) => false,
            })
    }

    /// The numeric value of an event for this metric (property or event value).
    pub fn value_of(
        &self,
        event_value: Option<f64>,
        props: Option<&Map<String, Value>>,
    ) -> Option<f64> {
        let v = match &self.value_property {
            Some(p) => props.and_then(|m| m.get(p)).and_then(Value::as_f64),
            None => event_value,
        };
        v.filter(|x| x.is_finite())
    }

    /// The Apdex score of one duration: 1 satisfied (<= T), 0.5 tolerating (<= 4 T), else 0.
    pub fn apdex_score(&self, duration_ms: f64) -> f64 {
        let t = self.apdex_target_ms.unwrap_or(0.0);
        if duration_ms <= t {
            1.0
        } else if duration_ms <= 4.0 * t {
            0.5
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: Value) -> Result<MetricSpec, EngineError> {
        MetricSpec::from_json(&v)
    }

    #[test]
    fn filter_is_validated_and_matched() {
        let m = spec(
            json!({"name": "n", "event_type": "checkout", "metric_type": "count",
            "direction": "increase", "filter": {"page": "/checkout", "step": 2, "ok": true}}),
        )
        .unwrap();
        let props = |v: Value| v.as_object().unwrap().clone();
        assert!(m.matches(&props(
            json!({"page": "/checkout", "step": 2.0, "ok": true, "x": 1})
        )));
        assert!(!m.matches(&props(json!({"page": "/checkout", "step": 3, "ok": true}))));
        assert!(!m.matches(&props(json!({"page": "/checkout", "ok": true}))));
        let err = spec(
            json!({"name": "n", "event_type": "e", "metric_type": "count",
            "direction": "increase", "filter": {"page": ["a"]}}),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("filter") && err.contains("page"), "{err}");
        let err = spec(
            json!({"name": "n", "event_type": "e", "metric_type": "ratio",
            "direction": "increase"}),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("denominator_event_type"), "{err}");
    }

    #[test]
    fn value_comes_from_property_or_event() {
        let m = spec(
            json!({"name": "n", "event_type": "buy", "metric_type": "sum",
            "direction": "increase", "value_property": "amount", "id": 7}),
        )
        .unwrap();
        assert_eq!(m.id, Some(7));
        let p = json!({"amount": 2.5, "s": "x"});
        assert_eq!(m.value_of(Some(9.0), p.as_object()), Some(2.5));
        assert_eq!(m.value_of(Some(9.0), None), None);
        let e = spec(
            json!({"name": "n", "event_type": "buy", "metric_type": "sum",
            "direction": "increase"}),
        )
        .unwrap();
        assert_eq!(e.value_of(Some(9.0), None), Some(9.0));
        assert_eq!(e.value_of(Some(f64::NAN), None), None);
    }
}
