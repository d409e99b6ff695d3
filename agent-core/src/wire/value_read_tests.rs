//! Differential tests of the hand-written `Value` readers (`value_read.rs`) against the derived
//! `Deserialize` impls the collector and the native agent use: on every fixture, and on every
//! single mutation of it (a field dropped, a value of another type, an unknown field added) plus
//! seeded random multi-mutations, both read the same struct or both refuse.

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::*;

/// Where a node is: object keys and array indices from the root.
#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

/// Stand-ins for a value: every JSON type, integer bounds, a UUID, matcher kind names.
fn replacements() -> Vec<Value> {
    vec![
        json!(null),
        json!(true),
        json!(false),
        json!(0),
        json!(7),
        json!(-1),
        json!(1.5),
        json!(-0.0),
        json!(2147483648_u64),
        json!(-2147483649_i64),
        json!(4294967296_u64),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(1e300),
        json!("x"),
        json!(""),
        json!("6f1c1f4e-8d7a-4b7e-9d8e-0a1b2c3d4e5f"),
        json!("all_keys"),
        json!("equals"),
        json!("between"),
        json!("semver_between"),
        json!("in_segment"),
        json!("regex"),
        json!("boolean"),
        json!("depends_on"),
        json!("in_list"),
        json!([]),
        json!(["x"]),
        json!([1]),
        json!({}),
        json!({"type": "all_keys"}),
    ]
}

fn paths(v: &Value, at: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(at.clone());
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                at.push(Step::Key(k.clone()));
                paths(child, at, out);
                at.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                at.push(Step::Index(i));
                paths(child, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn node<'a>(v: &'a mut Value, path: &[Step]) -> &'a mut Value {
    path.iter().fold(v, |v, step| match step {
        Step::Key(k) => &mut v[k.as_str()],
        Step::Index(i) => &mut v[*i],
    })
}

/// What one mutation does at a path.
#[derive(Clone)]
enum Mutation {
    Replace(Value),
    Remove,
    AddUnknown,
}

fn apply(v: &mut Value, path: &[Step], m: &Mutation) {
    match m {
        Mutation::Replace(x) => *node(v, path) = x.clone(),
        Mutation::AddUnknown => {
            if let Value::Object(map) = node(v, path) {
                map.insert("zz_unknown".into(), json!({"a": [1, "b"]}));
            }
        }
        Mutation::Remove => {
            let Some((last, parent)) = path.split_last() else {
                return;
            };
            match (node(v, parent), last) {
                (Value::Object(map), Step::Key(k)) => {
                    map.remove(k);
                }
                (Value::Array(items), Step::Index(i)) => {
                    items.remove(*i);
                }
                _ => {}
            }
        }
    }
}

/// Counts of agreements, to show the mutations reach both outcomes.
#[derive(Default, Debug)]
struct Agreed {
    ok: usize,
    err: usize,
    /// The derived impl read a struct written as an array (serde's sequence form), which ours
    /// refuses by design.
    seq_form: usize,
}

/// The node at an error's path (`flags[0].rules[1]`).
fn at_error_path<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    let mut v = root;
    for part in path.split('.') {
        let mut pieces = part.split('[');
        let key = pieces.next()?;
        if !key.is_empty() {
            v = v.get(key)?;
        }
        for index in pieces {
            v = v.get(index.strip_suffix(']')?.parse::<usize>().ok()?)?;
        }
    }
    Some(v)
}

/// Reads `v` (as JSON text) with the derived impl and with `ours` (from the parsed `Value`).
fn agree<T>(v: &Value, ours: fn(&Value) -> Result<T, WireReadError>, tally: &mut Agreed)
where
    T: DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let text = serde_json::to_string(v).expect("serialises");
    let derived = serde_json::from_str::<T>(&text);
    let parsed: Value = serde_json::from_str(&text).expect("reparses");
    match (derived, ours(&parsed)) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b, "{text}");
            tally.ok += 1;
        }
        (Err(_), Err(_)) => tally.err += 1,
        (Ok(_), Err(e))
            if e.to_string().ends_with("expected an object")
                && at_error_path(&parsed, &e.path()).is_some_and(Value::is_array) =>
        {
            tally.seq_form += 1
        }
        (Ok(_), Err(e)) => panic!("derived reads, ours refuses ({e}): {text}"),
        (Err(e), Ok(_)) => panic!("derived refuses ({e}), ours reads: {text}"),
    }
}

/// Every single mutation of `fixture`, then `rounds` random multi-mutations.
fn differential<T>(fixture: &Value, ours: fn(&Value) -> Result<T, WireReadError>, rounds: usize)
where
    T: DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let mut tally = Agreed::default();
    agree(fixture, ours, &mut tally);
    assert_eq!(tally.ok, 1, "the fixture itself reads");
    let mut all = Vec::new();
    paths(fixture, &mut Vec::new(), &mut all);
    let mut mutations = replacements()
        .into_iter()
        .map(Mutation::Replace)
        .collect::<Vec<_>>();
    mutations.extend([Mutation::Remove, Mutation::AddUnknown]);
    for path in &all {
        for m in &mutations {
            let mut v = fixture.clone();
            apply(&mut v, path, m);
            agree(&v, ours, &mut tally);
        }
    }
    let mut rng = crate::test_rng::XorShift(0x9e37_79b9_7f4a_7c15);
    let mut next = |n: usize| rng.below(n as u64) as usize;
    for _ in 0..rounds {
        let mut v = fixture.clone();
        for _ in 0..1 + next(3) {
            let mut now = Vec::new();
            paths(&v, &mut Vec::new(), &mut now);
            let path = &now[next(now.len())];
            apply(&mut v, path, &mutations[next(mutations.len())]);
        }
        agree(&v, ours, &mut tally);
    }
    eprintln!("{tally:?}");
    assert!(
        tally.ok > 50 && tally.err > 50,
        "mutations reach both outcomes: {tally:?}"
    );
}

pub(super) fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/evaluation-vectors.json"
    );
    let text = std::fs::read_to_string(path).expect("testdata/evaluation-vectors.json");
    serde_json::from_str(&text).expect("vectors are JSON")
}

/// The evaluation vectors' flags and segments as a flags answer.
pub(super) fn vector_changes() -> Value {
    let v = vectors();
    json!({"version": 42, "flags": v["flags"], "segments": v["segments"], "full": true})
}

/// A flag using every optional field and every matcher kind, negated and not.
pub(super) fn kitchen_sink_flag() -> Value {
    let matchers = json!([
        {"type": "all_keys"},
        {"type": "key_in_list", "values": ["a", "b"], "negate": true},
        {"type": "in_segment", "segment": "beta"},
        {"type": "equals", "attribute": "plan", "value": "vip"},
        {"type": "equals", "value": 3.5},
        {"type": "in_list", "attribute": null, "values": ["x"]},
        {"type": "not_in_list", "attribute": "c", "values": ["KP"]},
        {"type": "greater_or_equal", "attribute": "age", "value": 18},
        {"type": "less_or_equal", "attribute": "age", "value": -2.25},
        {"type": "between", "attribute": "age", "start": 1, "end": 1e9},
        {"type": "starts_with", "values": ["p"]},
        {"type": "ends_with", "attribute": "mail", "values": ["@x.io"]},
        {"type": "contains", "attribute": "ua", "values": ["Firefox"]},
        {"type": "regex", "attribute": "v", "pattern": "^v[0-9]+$"},
        {"type": "boolean", "attribute": "beta", "value": false},
        {"type": "semver_equals", "attribute": "app", "value": "1.2.3"},
        {"type": "semver_greater_or_equal", "attribute": "app", "value": "1.2.3-rc.1"},
        {"type": "semver_less_or_equal", "attribute": "app", "value": "2.0.0"},
        {"type": "semver_between", "attribute": "app", "start": "1.0.0", "end": "2.0.0"},
        {"type": "set_contains_any", "attribute": "tags", "values": ["a"]},
        {"type": "set_contains_all", "attribute": "tags", "values": []},
        {"type": "depends_on", "flag": "other", "treatments": ["on"]}
    ]);
    json!({
        "key": "sink", "version": 9, "traffic_type": "account",
        "treatments": [{"name": "on", "config": "{\"c\":1}"}, {"name": "off", "config": null}],
        "default_treatment": "off", "baseline_treatment": "off", "killed": false,
        "archived": true, "seed": -2147483648_i64, "traffic_allocation": 37,
        "traffic_allocation_seed": 2147483647,
        "rules": [
            {"name": "all", "matchers": matchers, "treatment": "on"},
            {"name": "half", "rollout": [{"treatment": "on", "weight": 50},
                                         {"treatment": "off", "weight": 50}]},
            {"name": "bare"}
        ]
    })
}

/// A flag with only the required fields.
pub(super) fn minimal_flag() -> Value {
    json!({"key": "m", "traffic_type": "user", "treatments": [{"name": "on"}],
           "default_treatment": "on", "seed": 1})
}

pub(super) fn batch_fixture() -> Value {
    json!({
        "batch_id": "6f1c1f4e-8d7a-4b7e-9d8e-0a1b2c3d4e5f",
        "sdk": {"name": "rum-agent-browser", "version": "0.1.0", "platform": "browser"},
        "impressions": [
            {"id": "0b7a3c1e-2f4d-4e5a-8b6c-7d8e9f0a1b2c", "key": "u1", "flag": "f",
             "treatment": "on", "version": 3, "label": "default rule", "ts": 1700000000000_i64},
            {"id": "1b7a3c1e-2f4d-4e5a-8b6c-7d8e9f0a1b2c", "key": "u2", "flag": "f",
             "treatment": "off", "version": 3, "label": "killed", "ts": -5,
             "bucketing_key": "b2", "count": 4}
        ],
        "events": [
            {"id": "2b7a3c1e-2f4d-4e5a-8b6c-7d8e9f0a1b2c", "key": "u1", "traffic_type": "user",
             "type": "rum.error", "value": null, "ts": 1700000000001_i64,
             "properties": {"exception.type": "TypeError", "n": [1, 2.5, {"x": null}]}},
            {"id": "2B7A3C1E2F4D4E5A8B6C7D8E9F0A1B2D", "key": "u1", "traffic_type": "user",
             "type": "timing.checkout", "value": 12.5, "ts": 1},
            {"id": "urn:uuid:3b7a3c1e-2f4d-4e5a-8b6c-7d8e9f0a1b2c", "key": "u1",
             "traffic_type": "user", "type": "purchase", "value": 3, "ts": 2, "properties": {}}
        ],
        "dropped": [{"reason": "queue_full", "count": 12}]
    })
}

#[test]
fn fixtures_read_as_the_derived_impls_read_them() {
    for v in [vector_changes(), json!({"version": 1, "flags": []})] {
        let derived: FlagChanges = serde_json::from_value(v.clone()).expect("derived reads");
        assert_eq!(flag_changes_from_value(&v).expect("ours reads"), derived);
    }
    let flags = vectors()["flags"].as_array().expect("flags").clone();
    assert!(flags.len() >= 5, "the vectors hold flags");
    for f in flags.iter().chain([&kitchen_sink_flag(), &minimal_flag()]) {
        let derived: FlagDefinition = serde_json::from_value(f.clone()).expect("derived reads");
        assert_eq!(flag_definition_from_value(f).expect("ours reads"), derived);
    }
    let derived: Batch = serde_json::from_value(batch_fixture()).expect("derived reads");
    assert_eq!(batch_from_value(&batch_fixture()).expect("ours"), derived);
    // Defaults applied: the minimal flag's allocation is 100, an impression's count 1.
    let m = flag_definition_from_value(&minimal_flag()).expect("reads");
    assert_eq!((m.traffic_allocation, m.rules.len()), (100, 0));
    assert_eq!(derived.impressions[0].count, 1);
}

#[test]
fn every_vector_flag_agrees_under_mutation() {
    for f in vectors()["flags"].as_array().expect("flags") {
        differential(f, flag_definition_from_value, 200);
    }
}

#[test]
fn flag_changes_agree_under_mutation() {
    differential(&vector_changes(), flag_changes_from_value, 1_000);
}

#[test]
fn every_matcher_kind_agrees_under_mutation() {
    differential(&kitchen_sink_flag(), flag_definition_from_value, 1_000);
    differential(&minimal_flag(), flag_definition_from_value, 200);
}

#[test]
fn batches_agree_under_mutation() {
    differential(&batch_fixture(), batch_from_value, 1_000);
}

#[test]
fn batches_written_by_the_derived_serializer_read_back() {
    let batch: Batch = serde_json::from_value(batch_fixture()).expect("derived reads");
    let written = serde_json::to_value(&batch).expect("serialises");
    assert_eq!(batch_from_value(&written).expect("reads"), batch);
    let changes: FlagChanges = serde_json::from_value(vector_changes()).expect("reads");
    let written = serde_json::to_value(&changes).expect("serialises");
    assert_eq!(flag_changes_from_value(&written).expect("reads"), changes);
}

fn error(v: Value) -> String {
    flag_changes_from_value(&v)
        .expect_err("refused")
        .to_string()
}

#[test]
fn errors_name_the_field() {
    let mut v = json!({"version": 1, "flags": [minimal_flag(), kitchen_sink_flag()]});
    v["flags"][1]["rules"][0]["matchers"][1]["values"][1] = json!(5);
    assert_eq!(
        error(v.clone()),
        "flags[1].rules[0].matchers[1].values[1]: expected a string"
    );
    v["flags"][1]["rules"][0]["matchers"][1]["values"] = json!("a");
    assert_eq!(
        error(v.clone()),
        "flags[1].rules[0].matchers[1].values: expected an array"
    );
    v["flags"][1]["rules"][0]["matchers"][1]["values"] = json!(["a"]);
    v["flags"][1]["rules"][0]["matchers"][1]["type"] = json!("nearby");
    assert_eq!(
        error(v.clone()),
        "flags[1].rules[0].matchers[1].type: unknown matcher type"
    );
    v["flags"][0]
        .as_object_mut()
        .expect("object")
        .remove("seed");
    assert_eq!(error(v.clone()), "flags[0].seed: missing");
    v["flags"][0]["seed"] = json!(2147483648_u64);
    assert_eq!(
        error(v.clone()),
        "flags[0].seed: expected a signed 32-bit integer"
    );
    assert_eq!(
        error(json!({"version": -1, "flags": []})),
        "version: expected an unsigned integer"
    );
    assert_eq!(error(json!([1])), "top level: expected an object");
    let e = batch_from_value(&json!({"batch_id": "nope", "sdk": {}})).expect_err("refused");
    assert_eq!(e.to_string(), "batch_id: expected a UUID string");
    assert_eq!(e.path(), "batch_id");
}
