//! Hand-written `Deserialize` for [`Matcher`]: the same JSON as the derived serializer writes
//! (`{"type": "<kind>", "negate": true, ...fields}`), read in one pass.
//!
//! The derived form (`#[serde(flatten)]` over an internally tagged enum) buffers every matcher
//! into serde's generic `Content` tree and replays it once per field: it was 58 KB of the browser
//! agent's wasm. This reads each field straight into its slot and builds the kind at the end.
//! Unknown fields are ignored, as with the derived form; a missing or mistyped field is an error
//! naming it.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

use super::{Matcher, MatcherKind};

/// The `type` names, in the order of [`MatcherKind`]'s variants.
const KINDS: &[&str] = &[
    "all_keys",
    "key_in_list",
    "in_segment",
    "equals",
    "in_list",
    "not_in_list",
    "greater_or_equal",
    "less_or_equal",
    "between",
    "starts_with",
    "ends_with",
    "contains",
    "regex",
    "boolean",
    "semver_equals",
    "semver_greater_or_equal",
    "semver_less_or_equal",
    "semver_between",
    "set_contains_any",
    "set_contains_all",
    "depends_on",
];

/// A matcher's known field names.
#[derive(Clone, Copy)]
enum Key {
    Type,
    Negate,
    Attribute,
    Values,
    Value,
    Start,
    End,
    Segment,
    Pattern,
    Flag,
    Treatments,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        d.deserialize_identifier(KeyVisitor)
    }
}

struct KeyVisitor;

impl Visitor<'_> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Key, E> {
        Ok(match name {
            "type" => Key::Type,
            "negate" => Key::Negate,
            "attribute" => Key::Attribute,
            "values" => Key::Values,
            "value" => Key::Value,
            "start" => Key::Start,
            "end" => Key::End,
            "segment" => Key::Segment,
            "pattern" => Key::Pattern,
            "flag" => Key::Flag,
            "treatments" => Key::Treatments,
            _ => Key::Other,
        })
    }
}

/// Every field a matcher may carry, as read (the kind decides which are required and how
/// `value`, `start` and `end` are typed).
#[derive(Default)]
struct Fields {
    kind: Option<String>,
    negate: bool,
    attribute: Option<String>,
    values: Option<Vec<String>>,
    value: Option<Value>,
    start: Option<Value>,
    end: Option<Value>,
    segment: Option<String>,
    pattern: Option<String>,
    flag: Option<String>,
    treatments: Option<Vec<String>>,
}

fn required<T, E: de::Error>(v: Option<T>, field: &'static str) -> Result<T, E> {
    v.ok_or_else(|| E::missing_field(field))
}

/// What a JSON value is, for error messages.
fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn mistyped<E: de::Error>(field: &'static str, expected: &str, found: &Value) -> E {
    E::custom(format_args!(
        "{field}: invalid type: {}, expected {expected}",
        kind_of(found)
    ))
}

fn number<E: de::Error>(v: Option<Value>, field: &'static str) -> Result<f64, E> {
    let v = required(v, field)?;
    match &v {
        Value::Number(n) => n.as_f64().ok_or_else(|| mistyped(field, "a number", &v)),
        _ => Err(mistyped(field, "a number", &v)),
    }
}

fn string<E: de::Error>(v: Option<Value>, field: &'static str) -> Result<String, E> {
    match required(v, field)? {
        Value::String(s) => Ok(s),
        other => Err(mistyped(field, "a string", &other)),
    }
}

fn boolean<E: de::Error>(v: Option<Value>, field: &'static str) -> Result<bool, E> {
    match required(v, field)? {
        Value::Bool(b) => Ok(b),
        other => Err(mistyped(field, "a boolean", &other)),
    }
}

impl Fields {
    fn read<'de, A: MapAccess<'de>>(mut map: A) -> Result<Fields, A::Error> {
        let mut f = Fields::default();
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Type => f.kind = Some(map.next_value()?),
                Key::Negate => f.negate = map.next_value()?,
                Key::Attribute => f.attribute = map.next_value()?,
                Key::Values => f.values = Some(map.next_value()?),
                Key::Value => f.value = Some(map.next_value()?),
                Key::Start => f.start = Some(map.next_value()?),
                Key::End => f.end = Some(map.next_value()?),
                Key::Segment => f.segment = Some(map.next_value()?),
                Key::Pattern => f.pattern = Some(map.next_value()?),
                Key::Flag => f.flag = Some(map.next_value()?),
                Key::Treatments => f.treatments = Some(map.next_value()?),
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(f)
    }

    fn build<E: de::Error>(self) -> Result<Matcher, E> {
        let Fields {
            kind,
            negate,
            attribute,
            values,
            value,
            start,
            end,
            segment,
            pattern,
            flag,
            treatments,
        } = self;
        let kind = required(kind, "type")?;
        let named = |attribute: Option<String>| required(attribute, "attribute");
        let values = || required(values, "values");
        let kind = match kind.as_str() {
            "all_keys" => MatcherKind::AllKeys,
            "key_in_list" => MatcherKind::KeyInList { values: values()? },
            "in_segment" => MatcherKind::InSegment {
                segment: required(segment, "segment")?,
            },
            "equals" => MatcherKind::Equals {
                attribute,
                value: required(value, "value")?,
            },
            "in_list" => MatcherKind::InList {
                attribute,
                values: values()?,
            },
            "not_in_list" => MatcherKind::NotInList {
                attribute,
                values: values()?,
            },
            "greater_or_equal" => MatcherKind::GreaterOrEqual {
                attribute: named(attribute)?,
                value: number(value, "value")?,
            },
            "less_or_equal" => MatcherKind::LessOrEqual {
                attribute: named(attribute)?,
                value: number(value, "value")?,
            },
            "between" => MatcherKind::Between {
                attribute: named(attribute)?,
                start: number(start, "start")?,
                end: number(end, "end")?,
            },
            "starts_with" => MatcherKind::StartsWith {
                attribute,
                values: values()?,
            },
            "ends_with" => MatcherKind::EndsWith {
                attribute,
                values: values()?,
            },
            "contains" => MatcherKind::Contains {
                attribute,
                values: values()?,
            },
            "regex" => MatcherKind::Regex {
                attribute,
                pattern: required(pattern, "pattern")?,
            },
            "boolean" => MatcherKind::Boolean {
                attribute: named(attribute)?,
                value: boolean(value, "value")?,
            },
            "semver_equals" => MatcherKind::SemverEquals {
                attribute: named(attribute)?,
                value: string(value, "value")?,
            },
            "semver_greater_or_equal" => MatcherKind::SemverGreaterOrEqual {
                attribute: named(attribute)?,
                value: string(value, "value")?,
            },
            "semver_less_or_equal" => MatcherKind::SemverLessOrEqual {
                attribute: named(attribute)?,
                value: string(value, "value")?,
            },
            "semver_between" => MatcherKind::SemverBetween {
                attribute: named(attribute)?,
                start: string(start, "start")?,
                end: string(end, "end")?,
            },
            "set_contains_any" => MatcherKind::SetContainsAny {
                attribute: named(attribute)?,
                values: values()?,
            },
            "set_contains_all" => MatcherKind::SetContainsAll {
                attribute: named(attribute)?,
                values: values()?,
            },
            "depends_on" => MatcherKind::DependsOn {
                flag: required(flag, "flag")?,
                treatments: required(treatments, "treatments")?,
            },
            other => return Err(E::unknown_variant(other, KINDS)),
        };
        Ok(Matcher { negate, kind })
    }
}

struct MatcherVisitor;

impl<'de> Visitor<'de> for MatcherVisitor {
    type Value = Matcher;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a matcher object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Matcher, A::Error> {
        Fields::read(map)?.build()
    }
}

impl<'de> Deserialize<'de> for Matcher {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Matcher, D::Error> {
        d.deserialize_map(MatcherVisitor)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn s(v: &str) -> String {
        v.to_owned()
    }

    fn list() -> Vec<String> {
        vec![s("a"), s("b")]
    }

    /// One matcher of every kind, with and without the optional fields.
    fn every_kind() -> Vec<MatcherKind> {
        let attr = || Some(s("plan"));
        vec![
            MatcherKind::AllKeys,
            MatcherKind::KeyInList { values: list() },
            MatcherKind::InSegment { segment: s("beta") },
            MatcherKind::Equals {
                attribute: attr(),
                value: json!("vip"),
            },
            MatcherKind::Equals {
                attribute: None,
                value: json!(3.5),
            },
            MatcherKind::Equals {
                attribute: attr(),
                value: json!(true),
            },
            MatcherKind::InList {
                attribute: attr(),
                values: list(),
            },
            MatcherKind::InList {
                attribute: None,
                values: list(),
            },
            MatcherKind::NotInList {
                attribute: attr(),
                values: list(),
            },
            MatcherKind::GreaterOrEqual {
                attribute: s("age"),
                value: 18.0,
            },
            MatcherKind::LessOrEqual {
                attribute: s("age"),
                value: -2.25,
            },
            MatcherKind::Between {
                attribute: s("age"),
                start: 1.0,
                end: 1e9,
            },
            MatcherKind::StartsWith {
                attribute: attr(),
                values: list(),
            },
            MatcherKind::EndsWith {
                attribute: None,
                values: list(),
            },
            MatcherKind::Contains {
                attribute: attr(),
                values: list(),
            },
            MatcherKind::Regex {
                attribute: attr(),
                pattern: s("^v[0-9]+$"),
            },
            MatcherKind::Boolean {
                attribute: s("beta"),
                value: false,
            },
            MatcherKind::SemverEquals {
                attribute: s("app"),
                value: s("1.2.3"),
            },
            MatcherKind::SemverGreaterOrEqual {
                attribute: s("app"),
                value: s("1.2.3-rc.1"),
            },
            MatcherKind::SemverLessOrEqual {
                attribute: s("app"),
                value: s("2.0.0"),
            },
            MatcherKind::SemverBetween {
                attribute: s("app"),
                start: s("1.0.0"),
                end: s("2.0.0"),
            },
            MatcherKind::SetContainsAny {
                attribute: s("tags"),
                values: list(),
            },
            MatcherKind::SetContainsAll {
                attribute: s("tags"),
                values: vec![],
            },
            MatcherKind::DependsOn {
                flag: s("other"),
                treatments: list(),
            },
        ]
    }

    #[test]
    fn every_kind_round_trips_through_the_derived_serializer() {
        let kinds = every_kind();
        // Every `type` name is covered.
        let mut names: Vec<String> = kinds
            .iter()
            .map(|k| {
                serde_json::to_value(k).expect("ser")["type"]
                    .as_str()
                    .expect("type")
                    .to_owned()
            })
            .collect();
        names.dedup();
        assert_eq!(names, KINDS);
        for kind in kinds {
            for negate in [false, true] {
                let m = Matcher {
                    negate,
                    kind: kind.clone(),
                };
                let text = serde_json::to_string(&m).expect("ser");
                let back: Matcher = serde_json::from_str(&text).expect(&text);
                assert_eq!(back, m, "{text}");
                // From a `Value` too (another deserializer: the collector reads stored JSON).
                let value = serde_json::to_value(&m).expect("ser");
                let back: Matcher = serde_json::from_value(value).expect(&text);
                assert_eq!(back, m, "{text}");
            }
        }
    }

    #[test]
    fn accepts_what_the_derived_form_accepted() {
        // Fields in any order, unknown fields ignored, integers for numbers, null attributes.
        let m: Matcher = serde_json::from_str(
            r#"{"value":5,"attribute":"age","note":{"x":[1]},"type":"greater_or_equal","negate":false}"#,
        )
        .expect("valid");
        assert_eq!(
            m.kind,
            MatcherKind::GreaterOrEqual {
                attribute: s("age"),
                value: 5.0
            }
        );
        let m: Matcher =
            serde_json::from_str(r#"{"type":"in_list","attribute":null,"values":["x"]}"#)
                .expect("valid");
        assert_eq!(
            m.kind,
            MatcherKind::InList {
                attribute: None,
                values: vec![s("x")]
            }
        );
    }

    fn error(json: &str) -> String {
        serde_json::from_str::<Matcher>(json)
            .expect_err(json)
            .to_string()
    }

    #[test]
    fn rejects_bad_input_naming_the_field() {
        assert!(error(r#"{"values":["a"]}"#).contains("missing field `type`"));
        let e = error(r#"{"type":"nearby"}"#);
        assert!(e.contains("unknown variant `nearby`"), "{e}");
        assert!(error(r#"{"type":"in_list"}"#).contains("missing field `values`"));
        assert!(error(r#"{"type":"in_segment"}"#).contains("missing field `segment`"));
        assert!(error(r#"{"type":"regex"}"#).contains("missing field `pattern`"));
        assert!(
            error(r#"{"type":"between","attribute":"a","start":1}"#)
                .contains("missing field `end`")
        );
        assert!(error(r#"{"type":"boolean","value":true}"#).contains("missing field `attribute`"));
        assert!(
            error(r#"{"type":"depends_on","flag":"f"}"#).contains("missing field `treatments`")
        );
        let e = error(r#"{"type":"greater_or_equal","attribute":"a","value":"5"}"#);
        assert!(
            e.contains("value: invalid type: a string, expected a number"),
            "{e}"
        );
        let e = error(r#"{"type":"semver_between","attribute":"a","start":"1.0.0","end":2}"#);
        assert!(
            e.contains("end: invalid type: a number, expected a string"),
            "{e}"
        );
        let e = error(r#"{"type":"boolean","attribute":"a","value":"yes"}"#);
        assert!(
            e.contains("value: invalid type: a string, expected a boolean"),
            "{e}"
        );
        // Typed fields fail where they are read (serde_json names the position).
        assert!(error(r#"{"type":"in_list","values":"a"}"#).contains("invalid type"));
        assert!(error(r#"{"type":"all_keys","negate":"yes"}"#).contains("invalid type"));
        assert!(error(r#"[1,2]"#).contains("expected a matcher object"));
    }
}
