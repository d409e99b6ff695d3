//! The limits every batch item must meet, checked on both sides: the collector refuses a batch
//! holding an item that breaks one (a 400 naming the field), so agents drop such an item when it
//! is recorded (counted `invalid`) instead of letting it take its whole batch down with it.

use serde_json::{Map, Value};

use super::{Event, Impression, is_valid_event_type};

/// Longest accepted key, bucketing key, traffic type, flag, treatment or label, in bytes.
pub const MAX_STRING: usize = 1024;

/// Latest accepted timestamp (year 9999, in Unix ms); earlier than 0 is refused too.
pub const MAX_TS: i64 = 253_402_300_799_999;

/// Largest magnitude of an event's value. Far beyond any duration in ms or amount of money, and
/// small enough that the engine's sums of squares over millions of values stay finite: one
/// value of 1e200 would otherwise leave a metric's variance infinite and its comparison off.
/// Beyond it the value is left out ([`kept_value`]) and the event kept: a value is not worth
/// refusing a batch for (older agents sent such values unfiltered).
pub const MAX_VALUE: f64 = 1e15;

/// An event's value as it is kept: `None` for NaN, infinities and magnitudes beyond
/// [`MAX_VALUE`].
pub fn kept_value(value: Option<f64>) -> Option<f64> {
    value.filter(|v| v.abs() <= MAX_VALUE)
}

/// Deepest nesting of arrays and objects kept in one property value. The collector reads a
/// batch with a recursion limit (serde_json's 128) that a property nested about 124 deep breaks
/// (the batch adds 4 levels of its own), refusing the whole batch; far beyond what an event's
/// properties hold, so a deeper value is replaced by [`TOO_DEEP`] ([`keep_shallow`]) and its
/// event kept.
pub const MAX_PROPERTY_DEPTH: usize = 32;

/// What stands for a property value nested deeper than [`MAX_PROPERTY_DEPTH`].
pub const TOO_DEEP: &str = "[nested deeper than 32 levels]";

/// Replaces the property values nested deeper than [`MAX_PROPERTY_DEPTH`] by [`TOO_DEEP`]
/// (in place: removing keys would bring the B-tree's removal code into the browser's wasm).
pub fn keep_shallow(properties: &mut Map<String, Value>) {
    for value in properties.values_mut() {
        if !within_depth(value, MAX_PROPERTY_DEPTH) {
            *value = Value::from(TOO_DEEP);
        }
    }
}

/// True when `v` nests at most `levels` arrays and objects (a scalar nests none); the recursion
/// stops at `levels`, however deep `v` is.
fn within_depth(v: &Value, levels: usize) -> bool {
    match v {
        Value::Array(items) => levels > 0 && items.iter().all(|x| within_depth(x, levels - 1)),
        Value::Object(map) => levels > 0 && map.values().all(|x| within_depth(x, levels - 1)),
        _ => true,
    }
}

/// What is wrong with one field of an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// An empty text.
    Empty,
    /// A text over [`MAX_STRING`] bytes.
    TooLong,
    /// A timestamp outside `0..=MAX_TS`.
    TsOutOfRange,
    /// A version above `i64::MAX` (the store's integer).
    TooLarge,
    /// A count of 0.
    Zero,
    /// An event type not matching [`super::EVENT_TYPE_PATTERN`].
    BadEventType,
}

/// The first field of an item that breaks a limit: its name and what is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldProblem {
    /// The field's wire name (`key`, `bucketing_key`, `type`, …).
    pub field: &'static str,
    /// What is wrong with it.
    pub problem: Problem,
}

type Checked = Result<(), FieldProblem>;

fn text(field: &'static str, value: &str) -> Checked {
    let problem = if value.is_empty() {
        Problem::Empty
    } else if value.len() > MAX_STRING {
        Problem::TooLong
    } else {
        return Ok(());
    };
    Err(FieldProblem { field, problem })
}

fn ts(value: i64) -> Checked {
    if (0..=MAX_TS).contains(&value) {
        Ok(())
    } else {
        Err(FieldProblem {
            field: "ts",
            problem: Problem::TsOutOfRange,
        })
    }
}

fn holds(ok: bool, field: &'static str, problem: Problem) -> Checked {
    if ok {
        Ok(())
    } else {
        Err(FieldProblem { field, problem })
    }
}

/// True when `value` is a valid key, bucketing key or traffic type (not empty, at most
/// [`MAX_STRING`] bytes): what agents check before taking an identity.
pub fn is_valid_key(value: &str) -> bool {
    text("key", value).is_ok()
}

/// Checks an impression against the limits, fields in wire order.
pub fn check_impression(imp: &Impression) -> Checked {
    text("key", &imp.key)?;
    text("flag", &imp.flag)?;
    text("treatment", &imp.treatment)?;
    text("label", &imp.label)?;
    ts(imp.ts)?;
    holds(imp.version <= i64::MAX as u64, "version", Problem::TooLarge)?;
    holds(imp.count > 0, "count", Problem::Zero)?;
    match &imp.bucketing_key {
        Some(b) => text("bucketing_key", b),
        None => Ok(()),
    }
}

/// Checks an event against the limits, fields in the order the collector has always reported.
pub fn check_event(ev: &Event) -> Checked {
    holds(
        is_valid_event_type(&ev.event_type),
        "type",
        Problem::BadEventType,
    )?;
    text("key", &ev.key)?;
    text("traffic_type", &ev.traffic_type)?;
    ts(ev.ts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;
    use uuid::Uuid;

    fn impression() -> Impression {
        Impression {
            id: Uuid::nil(),
            key: "u1".into(),
            flag: "f".into(),
            treatment: "on".into(),
            version: 1,
            label: "default rule".into(),
            ts: 1,
            bucketing_key: None,
            count: 1,
        }
    }

    fn event() -> Event {
        Event {
            id: Uuid::nil(),
            key: "u1".into(),
            traffic_type: "user".into(),
            event_type: "purchase".into(),
            value: Some(1.0),
            ts: 1,
            properties: Map::new(),
        }
    }

    /// `[[…[1]…]]` with `levels` arrays.
    fn nested(levels: usize) -> Value {
        (0..levels).fold(Value::from(1), |v, _| Value::Array(vec![v]))
    }

    #[test]
    fn properties_nested_too_deep_are_replaced() {
        assert!(within_depth(&Value::from("scalar"), 0));
        assert!(within_depth(
            &nested(MAX_PROPERTY_DEPTH),
            MAX_PROPERTY_DEPTH
        ));
        assert!(!within_depth(
            &nested(MAX_PROPERTY_DEPTH + 1),
            MAX_PROPERTY_DEPTH
        ));
        let mut props = Map::new();
        props.insert("flat".into(), Value::from(1));
        props.insert("deep_ok".into(), nested(MAX_PROPERTY_DEPTH));
        props.insert("too_deep".into(), nested(MAX_PROPERTY_DEPTH + 1));
        // Looked at down to the limit only.
        props.insert("abyss".into(), nested(1_000));
        keep_shallow(&mut props);
        assert_eq!(props["flat"], Value::from(1));
        assert_eq!(props["deep_ok"], nested(MAX_PROPERTY_DEPTH));
        assert_eq!(props["too_deep"], Value::from(TOO_DEEP));
        assert_eq!(props["abyss"], Value::from(TOO_DEEP));
    }

    fn problem(field: &'static str, problem: Problem) -> Checked {
        Err(FieldProblem { field, problem })
    }

    #[test]
    fn impressions_are_checked_field_by_field() {
        assert_eq!(check_impression(&impression()), Ok(()));
        let long = "k".repeat(MAX_STRING);
        assert_eq!(
            check_impression(&Impression {
                key: long.clone(),
                ..impression()
            }),
            Ok(())
        );
        let cases: [(Impression, Checked); 7] = [
            (
                Impression {
                    key: String::new(),
                    ..impression()
                },
                problem("key", Problem::Empty),
            ),
            (
                Impression {
                    key: long + "k",
                    ..impression()
                },
                problem("key", Problem::TooLong),
            ),
            (
                Impression {
                    label: String::new(),
                    ..impression()
                },
                problem("label", Problem::Empty),
            ),
            (
                Impression {
                    ts: -1,
                    ..impression()
                },
                problem("ts", Problem::TsOutOfRange),
            ),
            (
                Impression {
                    version: u64::MAX,
                    ..impression()
                },
                problem("version", Problem::TooLarge),
            ),
            (
                Impression {
                    count: 0,
                    ..impression()
                },
                problem("count", Problem::Zero),
            ),
            (
                Impression {
                    bucketing_key: Some(String::new()),
                    ..impression()
                },
                problem("bucketing_key", Problem::Empty),
            ),
        ];
        for (imp, expected) in cases {
            assert_eq!(check_impression(&imp), expected, "{imp:?}");
        }
    }

    #[test]
    fn events_are_checked_field_by_field() {
        assert_eq!(check_event(&event()), Ok(()));
        for value in [None, Some(MAX_VALUE), Some(0.0), Some(1e200)] {
            assert_eq!(
                check_event(&Event { value, ..event() }),
                Ok(()),
                "{value:?}"
            );
        }
        let kept: Vec<Option<f64>> = [f64::NAN, f64::INFINITY, 1e200, -2e15, 1e15, 12.5]
            .into_iter()
            .map(|v| kept_value(Some(v)))
            .collect();
        assert_eq!(kept, [None, None, None, None, Some(1e15), Some(12.5)]);
        let cases: [(Event, Checked); 4] = [
            (
                Event {
                    event_type: "no spaces".into(),
                    ..event()
                },
                problem("type", Problem::BadEventType),
            ),
            (
                Event {
                    key: String::new(),
                    ..event()
                },
                problem("key", Problem::Empty),
            ),
            (
                Event {
                    traffic_type: "t".repeat(MAX_STRING + 1),
                    ..event()
                },
                problem("traffic_type", Problem::TooLong),
            ),
            (
                Event {
                    ts: MAX_TS + 1,
                    ..event()
                },
                problem("ts", Problem::TsOutOfRange),
            ),
        ];
        for (ev, expected) in cases {
            assert_eq!(check_event(&ev), expected, "{ev:?}");
        }
        assert!(is_valid_key("u") && !is_valid_key("") && !is_valid_key(&"u".repeat(1025)));
    }
}
