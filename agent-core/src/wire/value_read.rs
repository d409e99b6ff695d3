//! Hand-written readers of the wire types from a parsed [`serde_json::Value`], for the browser.
//!
//! A derived `Deserialize` links serde's visitors and its `Unexpected` error messages into the
//! wasm, and with them `f64` `Display`, `{:?}` of strings (Unicode tables) and core's float
//! printer: most of the browser agent's download. Parsing into a `Value` needs none of that, and
//! these plain functions turn the `Value` into the same structs. They accept exactly what the
//! derived impls (and `de.rs` for [`Matcher`]) accept from JSON objects, defaults included; the
//! differential tests (`value_read_tests.rs`) hold them to it. Two differences, both about JSON
//! no agent or collector writes: a struct written as a JSON array (serde's sequence form) is
//! refused here, and a key repeated in one object is not refused (the `Value` keeps the last;
//! derived impls refuse a duplicate field).
//!
//! Errors name the place: `flags[2].rules[0].matchers[1].values[0]: expected a string`.

use std::fmt;

use serde_json::{Map, Value};
use uuid::Uuid;

use super::{
    Batch, DropCount, Event, FlagChanges, FlagDefinition, Impression, Matcher, MatcherKind, Rule,
    SdkInfo, Segment, Treatment, Weight,
};

/// Why wire JSON could not be read: where, and what was wrong there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct WireReadError {
    path: WirePath,
    problem: Problem,
}

impl WireReadError {
    /// The place, e.g. `flags[2].rules[0].matchers[1].values`.
    pub fn path(&self) -> String {
        self.path.to_string()
    }

    // Errors are rare: kept out of line (and the readers small, this is the browser's download).
    #[cold]
    #[inline(never)]
    fn new(problem: Problem) -> Self {
        WireReadError {
            path: WirePath(Vec::new()),
            problem,
        }
    }

    #[cold]
    #[inline(never)]
    fn expected(what: &'static str) -> Self {
        WireReadError::new(Problem::Expected(what))
    }

    /// Prefixes the place with `step` (errors are built innermost first).
    #[cold]
    #[inline(never)]
    fn at(mut self, step: Step) -> Self {
        self.path.0.push(step);
        self
    }
}

/// What was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Problem {
    Missing,
    Expected(&'static str),
    UnknownMatcherType,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Missing => f.write_str("missing"),
            Problem::Expected(what) => {
                f.write_str("expected ")?;
                f.write_str(what)
            }
            Problem::UnknownMatcherType => f.write_str("unknown matcher type"),
        }
    }
}

/// One step of a path: an object field or an array index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Field(&'static str),
    Index(usize),
}

/// Steps innermost first (as the error travels up); shown outermost first.
#[derive(Debug, Clone, PartialEq, Eq)]
struct WirePath(Vec<Step>);

impl fmt::Display for WirePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("top level");
        }
        for (i, step) in self.0.iter().rev().enumerate() {
            match step {
                Step::Field(name) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(name)?;
                }
                Step::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

type Read<T> = Result<T, WireReadError>;

/// The fields of a JSON object, read by name.
struct Obj<'a>(&'a Map<String, Value>);

impl<'a> Obj<'a> {
    fn new(v: &'a Value) -> Read<Self> {
        match v {
            Value::Object(map) => Ok(Obj(map)),
            _ => Err(WireReadError::expected("an object")),
        }
    }

    /// A field that must be there.
    #[inline(never)]
    fn req<T>(&self, name: &'static str, read: fn(&'a Value) -> Read<T>) -> Read<T> {
        match self.0.get(name) {
            Some(v) => read(v).map_err(|e| e.at(Step::Field(name))),
            None => Err(WireReadError::new(Problem::Missing).at(Step::Field(name))),
        }
    }

    /// A field that takes `default` when absent (serde's `#[serde(default)]`: null is not absent).
    #[inline(never)]
    fn or<T>(
        &self,
        name: &'static str,
        default: fn() -> T,
        read: fn(&'a Value) -> Read<T>,
    ) -> Read<T> {
        match self.0.get(name) {
            Some(v) => read(v).map_err(|e| e.at(Step::Field(name))),
            None => Ok(default()),
        }
    }

    /// An `Option` field: absent or null is `None`.
    fn opt<T>(
        &self,
        name: &'static str,
        read: impl FnOnce(&'a Value) -> Read<T>,
    ) -> Read<Option<T>> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => read(v).map(Some).map_err(|e| e.at(Step::Field(name))),
        }
    }
}

fn string(v: &Value) -> Read<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        _ => Err(WireReadError::expected("a string")),
    }
}

fn boolean(v: &Value) -> Read<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        _ => Err(WireReadError::expected("a boolean")),
    }
}

fn u64_(v: &Value) -> Read<u64> {
    v.as_u64()
        .ok_or_else(|| WireReadError::expected("an unsigned integer"))
}

fn u32_(v: &Value) -> Read<u32> {
    v.as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| WireReadError::expected("an unsigned 32-bit integer"))
}

fn i32_(v: &Value) -> Read<i32> {
    v.as_i64()
        .and_then(|n| i32::try_from(n).ok())
        .ok_or_else(|| WireReadError::expected("a signed 32-bit integer"))
}

fn i64_(v: &Value) -> Read<i64> {
    v.as_i64()
        .ok_or_else(|| WireReadError::expected("a signed 64-bit integer"))
}

fn f64_(v: &Value) -> Read<f64> {
    v.as_f64()
        .ok_or_else(|| WireReadError::expected("a number"))
}

fn uuid(v: &Value) -> Read<Uuid> {
    match v {
        Value::String(s) => super::parse_uuid(s),
        _ => None,
    }
    .ok_or_else(|| WireReadError::expected("a UUID string"))
}

fn object_map(v: &Value) -> Read<Map<String, Value>> {
    match v {
        Value::Object(map) => Ok(map.clone()),
        _ => Err(WireReadError::expected("an object")),
    }
}

fn array<T>(v: &Value, read: fn(&Value) -> Read<T>) -> Read<Vec<T>> {
    let Value::Array(items) = v else {
        return Err(WireReadError::expected("an array"));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| read(item).map_err(|e| e.at(Step::Index(i))))
        .collect()
}

fn strings(v: &Value) -> Read<Vec<String>> {
    array(v, string)
}

/// Reads the answer of `GET /api/v1/flags?since=V` (and the flag cache, the same JSON).
pub fn flag_changes_from_value(v: &Value) -> Result<FlagChanges, WireReadError> {
    let o = Obj::new(v)?;
    Ok(FlagChanges {
        version: o.req("version", u64_)?,
        flags: o.req("flags", |v| array(v, flag_definition_from_value))?,
        segments: o.or("segments", Vec::new, |v| array(v, segment_from_value))?,
        full: o.or("full", || false, boolean)?,
    })
}

/// Reads one flag definition.
pub fn flag_definition_from_value(v: &Value) -> Result<FlagDefinition, WireReadError> {
    let o = Obj::new(v)?;
    Ok(FlagDefinition {
        key: o.req("key", string)?,
        version: o.or("version", || 0, u64_)?,
        traffic_type: o.req("traffic_type", string)?,
        treatments: o.req("treatments", |v| array(v, treatment))?,
        default_treatment: o.req("default_treatment", string)?,
        baseline_treatment: o.opt("baseline_treatment", string)?,
        killed: o.or("killed", || false, boolean)?,
        archived: o.or("archived", || false, boolean)?,
        seed: o.req("seed", i32_)?,
        traffic_allocation: o.or("traffic_allocation", || 100, u32_)?,
        traffic_allocation_seed: o.or("traffic_allocation_seed", || 0, i32_)?,
        rules: o.or("rules", Vec::new, |v| array(v, rule))?,
    })
}

/// Reads one segment.
pub fn segment_from_value(v: &Value) -> Result<Segment, WireReadError> {
    let o = Obj::new(v)?;
    Ok(Segment {
        name: o.req("name", string)?,
        version: o.or("version", || 0, u64_)?,
        keys: o.req("keys", strings)?,
    })
}

fn treatment(v: &Value) -> Read<Treatment> {
    let o = Obj::new(v)?;
    Ok(Treatment {
        name: o.req("name", string)?,
        config: o.opt("config", string)?,
    })
}

fn rule(v: &Value) -> Read<Rule> {
    let o = Obj::new(v)?;
    Ok(Rule {
        name: o.req("name", string)?,
        matchers: o.or("matchers", Vec::new, |v| array(v, matcher_from_value))?,
        rollout: o.or("rollout", Vec::new, |v| array(v, weight))?,
        treatment: o.opt("treatment", string)?,
    })
}

fn weight(v: &Value) -> Read<Weight> {
    let o = Obj::new(v)?;
    Ok(Weight {
        treatment: o.req("treatment", string)?,
        weight: o.req("weight", u32_)?,
    })
}

/// Reads one matcher (`{"type": "<kind>", "negate": true, ...fields}`), as `de.rs` does: every
/// known field is type-checked whatever the kind, then the kind takes the ones it needs.
pub fn matcher_from_value(v: &Value) -> Result<Matcher, WireReadError> {
    let o = Obj::new(v)?;
    // Checked first without copying, so the kind's fields below are read straight into place
    // (no half-built state to drop on every error path: this function is download size).
    // `attribute` may be null (None); the others, when present, may not.
    o.opt("attribute", str_ref)?;
    for name in ["segment", "pattern", "flag"] {
        o.or(name, || "", str_ref)?;
    }
    for name in ["values", "treatments"] {
        o.or(name, || (), check_strings)?;
    }
    let negate = o.or("negate", || false, boolean)?;
    let attribute = || o.opt("attribute", string);
    let named = || o.req("attribute", string);
    let values = || o.req("values", strings);
    let number = |name| o.req(name, f64_);
    let text = |name| o.req(name, string);
    let kind = match o.req("type", str_ref)? {
        "all_keys" => MatcherKind::AllKeys,
        "key_in_list" => MatcherKind::KeyInList { values: values()? },
        "in_segment" => MatcherKind::InSegment {
            segment: text("segment")?,
        },
        "equals" => MatcherKind::Equals {
            attribute: attribute()?,
            value: o.req("value", |v| Ok(v.clone()))?,
        },
        "in_list" => MatcherKind::InList {
            attribute: attribute()?,
            values: values()?,
        },
        "not_in_list" => MatcherKind::NotInList {
            attribute: attribute()?,
            values: values()?,
        },
        "greater_or_equal" => MatcherKind::GreaterOrEqual {
            attribute: named()?,
            value: number("value")?,
        },
        "less_or_equal" => MatcherKind::LessOrEqual {
            attribute: named()?,
            value: number("value")?,
        },
        "between" => MatcherKind::Between {
            attribute: named()?,
            start: number("start")?,
            end: number("end")?,
        },
        "starts_with" => MatcherKind::StartsWith {
            attribute: attribute()?,
            values: values()?,
        },
        "ends_with" => MatcherKind::EndsWith {
            attribute: attribute()?,
            values: values()?,
        },
        "contains" => MatcherKind::Contains {
            attribute: attribute()?,
            values: values()?,
        },
        "regex" => MatcherKind::Regex {
            attribute: attribute()?,
            pattern: text("pattern")?,
        },
        "boolean" => MatcherKind::Boolean {
            attribute: named()?,
            value: o.req("value", boolean)?,
        },
        "semver_equals" => MatcherKind::SemverEquals {
            attribute: named()?,
            value: text("value")?,
        },
        "semver_greater_or_equal" => MatcherKind::SemverGreaterOrEqual {
            attribute: named()?,
            value: text("value")?,
        },
        "semver_less_or_equal" => MatcherKind::SemverLessOrEqual {
            attribute: named()?,
            value: text("value")?,
        },
        "semver_between" => MatcherKind::SemverBetween {
            attribute: named()?,
            start: text("start")?,
            end: text("end")?,
        },
        "set_contains_any" => MatcherKind::SetContainsAny {
            attribute: named()?,
            values: values()?,
        },
        "set_contains_all" => MatcherKind::SetContainsAll {
            attribute: named()?,
            values: values()?,
        },
        "depends_on" => MatcherKind::DependsOn {
            flag: text("flag")?,
            treatments: o.req("treatments", strings)?,
        },
        _ => {
            return Err(WireReadError::new(Problem::UnknownMatcherType).at(Step::Field("type")));
        }
    };
    Ok(Matcher { negate, kind })
}

fn str_ref(v: &Value) -> Read<&str> {
    match v {
        Value::String(s) => Ok(s),
        _ => Err(WireReadError::expected("a string")),
    }
}

/// An array of strings, checked without copying it.
fn check_strings(v: &Value) -> Read<()> {
    let Value::Array(items) = v else {
        return Err(WireReadError::expected("an array"));
    };
    for (i, item) in items.iter().enumerate() {
        str_ref(item).map_err(|e| e.at(Step::Index(i)))?;
    }
    Ok(())
}

/// Reads a batch (an upload body's JSON, e.g. one the host kept in its storage).
pub fn batch_from_value(v: &Value) -> Result<Batch, WireReadError> {
    let o = Obj::new(v)?;
    Ok(Batch {
        batch_id: o.req("batch_id", uuid)?,
        sdk: o.req("sdk", sdk_info)?,
        impressions: o.or("impressions", Vec::new, |v| array(v, impression))?,
        events: o.or("events", Vec::new, |v| array(v, event))?,
        dropped: o.or("dropped", Vec::new, |v| array(v, drop_count))?,
    })
}

fn sdk_info(v: &Value) -> Read<SdkInfo> {
    let o = Obj::new(v)?;
    Ok(SdkInfo {
        name: o.req("name", string)?,
        version: o.req("version", string)?,
        platform: o.req("platform", string)?,
    })
}

fn impression(v: &Value) -> Read<Impression> {
    let o = Obj::new(v)?;
    Ok(Impression {
        id: o.req("id", uuid)?,
        key: o.req("key", string)?,
        flag: o.req("flag", string)?,
        treatment: o.req("treatment", string)?,
        version: o.req("version", u64_)?,
        label: o.req("label", string)?,
        ts: o.req("ts", i64_)?,
        bucketing_key: o.opt("bucketing_key", string)?,
        count: o.or("count", || 1, u32_)?,
    })
}

fn event(v: &Value) -> Read<Event> {
    let o = Obj::new(v)?;
    Ok(Event {
        id: o.req("id", uuid)?,
        key: o.req("key", string)?,
        traffic_type: o.req("traffic_type", string)?,
        event_type: o.req("type", string)?,
        value: o.opt("value", f64_)?,
        ts: o.req("ts", i64_)?,
        properties: o.or("properties", Map::new, object_map)?,
    })
}

fn drop_count(v: &Value) -> Read<DropCount> {
    let o = Obj::new(v)?;
    Ok(DropCount {
        reason: o.req("reason", string)?,
        count: o.req("count", u64_)?,
    })
}
