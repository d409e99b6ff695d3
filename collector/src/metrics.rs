//! Metric definitions: the defaults created for a new event type, and validation of custom ones.

use agent_core::wire::{EventClass, is_valid_event_type};

use crate::store::NewMetric;

/// Metric types: aggregations per user.
pub const METRIC_TYPES: &[&str] = &[
    "count",
    "sum",
    "average",
    "ratio",
    "percent_users",
    "apdex",
    "rate",
];
/// Prefix of infrastructure gauge event types (`infra.cpu`, `infra.memory`): each event's value
/// is one sample of the gauge.
pub const INFRA_PREFIX: &str = "infra.";
/// Desired directions.
pub const DIRECTIONS: &[&str] = &["increase", "decrease"];

fn metric(event_type: &str, what: &str, metric_type: &str, direction: &str) -> NewMetric {
    NewMetric {
        name: format!("{event_type}: {what}"),
        event_type: event_type.to_string(),
        metric_type: metric_type.to_string(),
        direction: direction.to_string(),
        value_property: None,
        denominator_event_type: None,
        filter: None,
        cap: None,
        apdex_target_ms: None,
    }
}

/// The metrics created the first time `event_type` arrives; `has_value` tells whether its
/// first events carried a value (custom events then also get an average value).
///
/// Infrastructure gauges (`infra.*`, see [`INFRA_PREFIX`]) get only the average of their samples
/// per user, lower desired: a count of samples measures the sampling period, not the load.
pub fn default_metrics(event_type: &str, has_value: bool) -> Vec<NewMetric> {
    if event_type.starts_with(INFRA_PREFIX) {
        return vec![metric(
            event_type,
            "average per user",
            "average",
            "decrease",
        )];
    }
    match EventClass::of(event_type) {
        EventClass::Error | EventClass::Crash => vec![
            metric(event_type, "count per user", "count", "decrease"),
            metric(event_type, "percent of users", "percent_users", "decrease"),
        ],
        EventClass::Timing => vec![metric(
            event_type,
            "average per user",
            "average",
            "decrease",
        )],
        EventClass::Custom => {
            let mut v = vec![metric(event_type, "count per user", "count", "increase")];
            if has_value {
                v.push(metric(event_type, "average value", "average", "increase"));
            }
            v
        }
    }
}

/// An invalid custom metric, naming the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct MetricError {
    /// Field name.
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> MetricError {
    MetricError {
        field,
        message: message.into(),
    }
}

/// Checks a custom metric before it is stored.
pub fn validate_metric(m: &NewMetric) -> Result<(), MetricError> {
    if m.name.trim().is_empty() {
        return Err(invalid("name", "must not be empty"));
    }
    if !is_valid_event_type(&m.event_type) {
        return Err(invalid(
            "event_type",
            format!(
                "{:?} must match {}",
                m.event_type,
                agent_core::wire::EVENT_TYPE_PATTERN
            ),
        ));
    }
    if !METRIC_TYPES.contains(&m.metric_type.as_str()) {
        return Err(invalid(
            "metric_type",
            format!(
                "{:?} must be one of {}",
                m.metric_type,
                METRIC_TYPES.join(", ")
            ),
        ));
    }
    if !DIRECTIONS.contains(&m.direction.as_str()) {
        return Err(invalid(
            "direction",
            format!("{:?} must be one of {}", m.direction, DIRECTIONS.join(", ")),
        ));
    }
    match (&m.metric_type[..], &m.denominator_event_type) {
        ("ratio", None) => {
            return Err(invalid(
                "denominator_event_type",
                "required for a ratio metric",
            ));
        }
        ("ratio", Some(d)) if !is_valid_event_type(d) => {
            return Err(invalid(
                "denominator_event_type",
                format!("{d:?} is not a valid event type"),
            ));
        }
        (t, Some(_)) if t != "ratio" => {
            return Err(invalid(
                "denominator_event_type",
                "only allowed for a ratio metric",
            ));
        }
        _ => {}
    }
    if let Some(p) = &m.value_property
        && p.is_empty()
    {
        return Err(invalid("value_property", "must not be empty"));
    }
    if let Err(e) = crate::engine::metric::parse_filter(m.filter.as_ref()) {
        return Err(invalid("filter", e));
    }
    if let Some(c) = m.cap
        && !(c.is_finite() && c > 0.0)
    {
        return Err(invalid("cap", "must be a positive finite number"));
    }
    validate_apdex(m)
}

/// An Apdex metric needs its target T, and only an increase is desired (lower is bad).
fn validate_apdex(m: &NewMetric) -> Result<(), MetricError> {
    match (m.metric_type.as_str(), m.apdex_target_ms) {
        ("apdex", None) => Err(invalid(
            "apdex_target_ms",
            "required for an apdex metric (target response time T in ms)",
        )),
        ("apdex", Some(t)) if !(t.is_finite() && t > 0.0) => Err(invalid(
            "apdex_target_ms",
            "must be a positive finite number of milliseconds",
        )),
        ("apdex", Some(_)) if m.direction != "increase" => Err(invalid(
            "direction",
            "an apdex metric must have direction \"increase\" (lower is bad)",
        )),
        (t, Some(_)) if t != "apdex" => Err(invalid(
            "apdex_target_ms",
            "only allowed for an apdex metric",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_by_class() {
        let names = |t: &str, v: bool| -> Vec<(String, String, String)> {
            default_metrics(t, v)
                .into_iter()
                .map(|m| (m.name, m.metric_type, m.direction))
                .collect()
        };
        assert_eq!(
            names("error", false),
            vec![
                (
                    "error: count per user".into(),
                    "count".into(),
                    "decrease".into()
                ),
                (
                    "error: percent of users".into(),
                    "percent_users".into(),
                    "decrease".into()
                ),
            ]
        );
        assert_eq!(names("app.crash", true).len(), 2);
        // A run that ended without a clean shutdown is a crash the agent could not record: fewer
        // is better (as a custom event it was counted higher-is-better).
        assert_eq!(
            names("app.unclean_shutdown", false),
            vec![
                (
                    "app.unclean_shutdown: count per user".into(),
                    "count".into(),
                    "decrease".into()
                ),
                (
                    "app.unclean_shutdown: percent of users".into(),
                    "percent_users".into(),
                    "decrease".into()
                ),
            ]
        );
        assert_eq!(
            names("timing.checkout", true),
            vec![(
                "timing.checkout: average per user".into(),
                "average".into(),
                "decrease".into()
            )]
        );
        assert_eq!(
            names("infra.memory", true),
            vec![(
                "infra.memory: average per user".into(),
                "average".into(),
                "decrease".into()
            )]
        );
        assert_eq!(names("purchase", false).len(), 1);
        assert_eq!(names("purchase", true)[1].1, "average");
        for m in default_metrics("purchase", true) {
            assert_eq!(validate_metric(&m), Ok(()));
        }
    }

    #[test]
    fn validation_names_fields() {
        let mut m = metric("purchase", "x", "ratio", "increase");
        assert_eq!(
            validate_metric(&m).map_err(|e| e.field),
            Err("denominator_event_type")
        );
        m.metric_type = "median".into();
        assert_eq!(validate_metric(&m).map_err(|e| e.field), Err("metric_type"));
        m.metric_type = "sum".into();
        m.direction = "up".into();
        assert_eq!(validate_metric(&m).map_err(|e| e.field), Err("direction"));
        m.direction = "increase".into();
        m.event_type = "bad type".into();
        assert_eq!(validate_metric(&m).map_err(|e| e.field), Err("event_type"));
    }

    #[test]
    fn apdex_needs_a_positive_target() {
        let mut m = metric("timing.checkout", "apdex", "apdex", "increase");
        let field = |m: &NewMetric| validate_metric(m).map_err(|e| e.field);
        assert_eq!(field(&m), Err("apdex_target_ms"));
        for bad in [0.0, -5.0, f64::NAN, f64::INFINITY] {
            m.apdex_target_ms = Some(bad);
            assert_eq!(field(&m), Err("apdex_target_ms"), "{bad}");
        }
        m.apdex_target_ms = Some(300.0);
        assert_eq!(field(&m), Ok(()));
        m.direction = "decrease".into();
        assert_eq!(field(&m), Err("direction"));
        let mut avg = metric("timing.checkout", "avg", "average", "decrease");
        avg.apdex_target_ms = Some(300.0);
        assert_eq!(field(&avg), Err("apdex_target_ms"));
    }
}
