//! Attribute and property values as one uniffi enum (Swift: `.string("ios")`, `.number(17.5)`,
//! `.integer(3)`, `.bool(true)`, `.stringList([...])`, `.null`, `.json("{…}")`), converted to the
//! core's JSON values: what Android's maps and the browser's objects carry, nested values too.

use std::collections::HashMap;

use agent_core::flags::Attributes;
use serde_json::{Map, Value};

/// A value of a flag attribute or an event property.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum AttributeValue {
    /// Text.
    String(String),
    /// A number (integers too: the core compares numbers as f64).
    Number(f64),
    /// A boolean.
    Bool(bool),
    /// A list of strings (for set matchers).
    StringList(Vec<String>),
    /// A whole number, sent as a JSON integer (`3`, not `3.0`).
    Integer(i64),
    /// JSON `null`.
    Null,
    /// Any JSON text (a nested object or array, e.g. a cart's items); text that is not JSON is
    /// sent as the string it is, as the browser agent does.
    Json(String),
}

impl AttributeValue {
    /// The core's JSON value; a non-finite number becomes `null` (JSON has no NaN).
    pub(crate) fn to_json(&self) -> Value {
        match self {
            AttributeValue::String(s) => Value::String(s.clone()),
            AttributeValue::Number(n) => serde_json::Number::from_f64(*n)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            AttributeValue::Bool(b) => Value::Bool(*b),
            AttributeValue::StringList(list) => {
                Value::Array(list.iter().cloned().map(Value::String).collect())
            }
            AttributeValue::Integer(n) => Value::from(*n),
            AttributeValue::Null => Value::Null,
            AttributeValue::Json(text) => {
                serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone()))
            }
        }
    }
}

/// Flag attributes for the core.
pub(crate) fn attributes(map: &HashMap<String, AttributeValue>) -> Attributes {
    Attributes(map.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
}

/// Event properties for the core.
pub(crate) fn properties(map: &HashMap<String, AttributeValue>) -> Map<String, Value> {
    map.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_map_to_json() {
        assert_eq!(
            AttributeValue::Number(17.0).to_json(),
            serde_json::json!(17.0)
        );
        assert_eq!(AttributeValue::Number(f64::NAN).to_json(), Value::Null);
        assert_eq!(
            AttributeValue::StringList(vec!["a".into()]).to_json(),
            serde_json::json!(["a"])
        );
        assert_eq!(AttributeValue::Integer(3).to_json().to_string(), "3");
        assert_eq!(AttributeValue::Null.to_json(), Value::Null);
        assert_eq!(
            AttributeValue::Json(r#"{"items":[{"sku":"A-1","qty":2}]}"#.into()).to_json(),
            serde_json::json!({"items": [{"sku": "A-1", "qty": 2}]})
        );
        assert_eq!(
            AttributeValue::Json("not json".into()).to_json(),
            serde_json::json!("not json")
        );
    }
}
