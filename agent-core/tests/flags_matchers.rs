//! Matcher semantics: each matcher, its negation, and missing or wrongly typed attributes.
//!
//! Every case evaluates a real compiled flag whose only rule serves `on` when the matcher holds
//! (default `off`), and checks that the negated matcher gives the opposite answer.

use agent_core::flags::{Attributes, FlagSet};
use agent_core::wire::{FlagDefinition, Segment};
use serde_json::{Value, json};

fn flag_with(matchers: Value) -> FlagDefinition {
    serde_json::from_value(json!({
        "key": "f",
        "version": 1,
        "traffic_type": "user",
        "treatments": [{"name": "on"}, {"name": "off"}],
        "default_treatment": "off",
        "seed": 7,
        "rules": [{"name": "r", "matchers": matchers, "treatment": "on"}]
    }))
    .expect("valid flag JSON")
}

fn set_with(matcher: &Value, negate: bool) -> FlagSet {
    let mut m = matcher.clone();
    m["negate"] = json!(negate);
    let segments = vec![Segment {
        name: "beta".into(),
        version: 1,
        keys: vec!["u1".into(), "u2".into()],
    }];
    FlagSet::new(vec![flag_with(json!([m]))], segments).expect("flag compiles")
}

/// True when `matcher` holds for `key` and `attrs`, after checking its negation disagrees.
fn holds(matcher: Value, key: &str, attrs: Value) -> bool {
    let attrs: Attributes = match attrs {
        Value::Object(map) => map.into(),
        _ => Attributes::new(),
    };
    let plain = set_with(&matcher, false).evaluate(key, None, "f", &attrs);
    let negated = set_with(&matcher, true).evaluate(key, None, "f", &attrs);
    assert_ne!(
        plain.treatment, negated.treatment,
        "negation must flip {matcher} for {key} {attrs:?}"
    );
    let on = plain.treatment == "on";
    assert_eq!(plain.label, if on { "r" } else { "default rule" });
    on
}

#[test]
fn all_keys_and_key_in_list() {
    assert!(holds(json!({"type": "all_keys"}), "anyone", json!({})));
    let m = json!({"type": "key_in_list", "values": ["a", "b"]});
    assert!(holds(m.clone(), "a", json!({})));
    assert!(!holds(m, "c", json!({})));
    // Long lists are hashed: same answers.
    let many: Vec<String> = (0..100).map(|i| format!("k{i}")).collect();
    let m = json!({"type": "key_in_list", "values": many});
    assert!(holds(m.clone(), "k99", json!({})));
    assert!(!holds(m, "k100", json!({})));
}

#[test]
fn in_segment() {
    let m = json!({"type": "in_segment", "segment": "beta"});
    assert!(holds(m.clone(), "u2", json!({})));
    assert!(!holds(m, "u3", json!({})));
    let unknown = json!({"type": "in_segment", "segment": "nope"});
    assert!(!holds(unknown, "u1", json!({})));
}

#[test]
fn equals_strings_numbers_booleans() {
    let plan = json!({"type": "equals", "attribute": "plan", "value": "enterprise"});
    assert!(holds(plan.clone(), "k", json!({"plan": "enterprise"})));
    assert!(!holds(plan.clone(), "k", json!({"plan": "free"})));
    assert!(!holds(plan.clone(), "k", json!({})), "missing attribute");
    assert!(
        !holds(plan, "k", json!({"plan": ["enterprise"]})),
        "wrong type"
    );

    let num = json!({"type": "equals", "attribute": "age", "value": 42});
    assert!(holds(num.clone(), "k", json!({"age": 42})));
    assert!(holds(num.clone(), "k", json!({"age": 42.0})));
    assert!(
        holds(num.clone(), "k", json!({"age": "42"})),
        "numeric string"
    );
    assert!(!holds(num.clone(), "k", json!({"age": 41})));
    assert!(!holds(num, "k", json!({"age": true})));

    let text_num = json!({"type": "equals", "attribute": "age", "value": "42"});
    assert!(holds(text_num.clone(), "k", json!({"age": 42})));
    assert!(!holds(text_num, "k", json!({"age": 43})));

    let b = json!({"type": "equals", "attribute": "beta", "value": true});
    assert!(holds(b.clone(), "k", json!({"beta": true})));
    assert!(holds(b.clone(), "k", json!({"beta": "TRUE"})));
    assert!(!holds(b, "k", json!({"beta": false})));

    let key = json!({"type": "equals", "value": "me"});
    assert!(
        holds(key.clone(), "me", json!({})),
        "no attribute means the key"
    );
    assert!(!holds(key, "you", json!({})));
}

#[test]
fn in_list_and_not_in_list() {
    let m = json!({"type": "in_list", "attribute": "country", "values": ["FR", "DE", "7"]});
    assert!(holds(m.clone(), "k", json!({"country": "FR"})));
    assert!(!holds(m.clone(), "k", json!({"country": "US"})));
    assert!(
        holds(m.clone(), "k", json!({"country": 7})),
        "number as string"
    );
    assert!(!holds(m, "k", json!({})), "missing attribute");

    let m = json!({"type": "not_in_list", "attribute": "country", "values": ["FR", "DE"]});
    assert!(holds(m.clone(), "k", json!({"country": "US"})));
    assert!(!holds(m.clone(), "k", json!({"country": "DE"})));
    assert!(
        !holds(m, "k", json!({})),
        "missing attribute matches neither list"
    );

    let keys = json!({"type": "in_list", "values": ["a"]});
    assert!(holds(keys, "a", json!({})));
}

#[test]
fn numeric_comparisons() {
    let ge = json!({"type": "greater_or_equal", "attribute": "n", "value": 10});
    assert!(holds(ge.clone(), "k", json!({"n": 10})));
    assert!(holds(ge.clone(), "k", json!({"n": "10.5"})));
    assert!(!holds(ge.clone(), "k", json!({"n": 9.99})));
    assert!(!holds(ge.clone(), "k", json!({"n": "ten"})));
    assert!(!holds(ge, "k", json!({})));

    let le = json!({"type": "less_or_equal", "attribute": "n", "value": 10});
    assert!(holds(le.clone(), "k", json!({"n": 10})));
    assert!(holds(le.clone(), "k", json!({"n": -3})));
    assert!(!holds(le, "k", json!({"n": 11})));

    let between = json!({"type": "between", "attribute": "n", "start": 1, "end": 5});
    assert!(holds(between.clone(), "k", json!({"n": 1})));
    assert!(holds(between.clone(), "k", json!({"n": "5"})));
    assert!(!holds(between.clone(), "k", json!({"n": 0})));
    assert!(!holds(between.clone(), "k", json!({"n": 6})));
    assert!(!holds(between, "k", json!({"n": null})));
}

#[test]
fn string_matchers() {
    let sw = json!({"type": "starts_with", "attribute": "email", "values": ["admin@", "root@"]});
    assert!(holds(sw.clone(), "k", json!({"email": "root@x.io"})));
    assert!(!holds(sw.clone(), "k", json!({"email": "user@x.io"})));
    assert!(!holds(sw, "k", json!({"email": 5})));

    let ew = json!({"type": "ends_with", "attribute": "email", "values": ["@corp.com"]});
    assert!(holds(ew.clone(), "k", json!({"email": "a@corp.com"})));
    assert!(!holds(ew, "k", json!({"email": "a@corp.org"})));

    let c = json!({"type": "contains", "values": ["-test-"]});
    assert!(holds(c.clone(), "user-test-1", json!({})));
    assert!(!holds(c, "user-1", json!({})));

    let re = json!({"type": "regex", "attribute": "ua", "pattern": "^Mozilla/5\\.0 .*Firefox/(1[0-9]{2})"});
    assert!(holds(
        re.clone(),
        "k",
        json!({"ua": "Mozilla/5.0 (X11) Firefox/128.0"})
    ));
    assert!(!holds(
        re.clone(),
        "k",
        json!({"ua": "Mozilla/5.0 (X11) Firefox/99.0"})
    ));
    assert!(!holds(re, "k", json!({})));
}

#[test]
fn boolean_matcher() {
    let m = json!({"type": "boolean", "attribute": "beta", "value": true});
    assert!(holds(m.clone(), "k", json!({"beta": true})));
    assert!(holds(m.clone(), "k", json!({"beta": "True"})));
    assert!(!holds(m.clone(), "k", json!({"beta": "yes"})));
    assert!(!holds(m.clone(), "k", json!({"beta": 1})));
    assert!(!holds(m, "k", json!({})));
    let f = json!({"type": "boolean", "attribute": "beta", "value": false});
    assert!(holds(f.clone(), "k", json!({"beta": "FALSE"})));
    assert!(!holds(f, "k", json!({"beta": true})));
}

#[test]
fn semver_matchers() {
    let eq = json!({"type": "semver_equals", "attribute": "v", "value": "1.2.3"});
    assert!(holds(eq.clone(), "k", json!({"v": "1.2.3"})));
    assert!(holds(eq.clone(), "k", json!({"v": "01.2.3"})));
    assert!(!holds(eq.clone(), "k", json!({"v": "1.2.3+build"})));
    assert!(!holds(eq.clone(), "k", json!({"v": "not a version"})));
    assert!(!holds(eq, "k", json!({"v": 1.2})));

    let ge = json!({"type": "semver_greater_or_equal", "attribute": "v", "value": "2.0.0"});
    assert!(holds(ge.clone(), "k", json!({"v": "2.0.0"})));
    assert!(holds(ge.clone(), "k", json!({"v": "10.0.0"})));
    assert!(!holds(ge.clone(), "k", json!({"v": "2.0.0-rc.1"})));
    assert!(!holds(ge, "k", json!({})));

    let le = json!({"type": "semver_less_or_equal", "attribute": "v", "value": "2.0.0"});
    assert!(holds(le.clone(), "k", json!({"v": "2.0.0-rc.1"})));
    assert!(!holds(le, "k", json!({"v": "2.0.1"})));

    let between =
        json!({"type": "semver_between", "attribute": "v", "start": "1.0.0", "end": "2.0.0"});
    assert!(holds(between.clone(), "k", json!({"v": "1.5.0-beta"})));
    assert!(!holds(between.clone(), "k", json!({"v": "1.0.0-beta"})));
    assert!(!holds(between, "k", json!({"v": "2.0.1"})));
}

#[test]
fn set_matchers() {
    let any = json!({"type": "set_contains_any", "attribute": "roles", "values": ["admin", "ops"]});
    assert!(holds(any.clone(), "k", json!({"roles": ["dev", "ops"]})));
    assert!(!holds(any.clone(), "k", json!({"roles": ["dev"]})));
    assert!(
        !holds(any.clone(), "k", json!({"roles": "ops"})),
        "not an array"
    );
    assert!(!holds(any, "k", json!({})));

    let all = json!({"type": "set_contains_all", "attribute": "roles", "values": ["admin", "ops"]});
    assert!(holds(
        all.clone(),
        "k",
        json!({"roles": ["ops", "dev", "admin"]})
    ));
    assert!(!holds(all.clone(), "k", json!({"roles": ["ops"]})));
    assert!(!holds(all, "k", json!({"roles": []})));
}

#[test]
fn matchers_of_a_rule_are_anded() {
    let matchers = json!([
        {"type": "equals", "attribute": "plan", "value": "pro"},
        {"type": "greater_or_equal", "attribute": "seats", "value": 5}
    ]);
    let set = FlagSet::new(vec![flag_with(matchers)], vec![]).expect("compiles");
    let eval = |attrs: Value| {
        let Value::Object(m) = attrs else {
            unreachable!()
        };
        set.evaluate("k", None, "f", &m.into()).treatment
    };
    assert_eq!(eval(json!({"plan": "pro", "seats": 5})), "on");
    assert_eq!(eval(json!({"plan": "pro", "seats": 4})), "off");
    assert_eq!(eval(json!({"plan": "free", "seats": 50})), "off");
}

#[test]
fn odd_attribute_values_never_panic_and_give_a_defined_answer() {
    let kinds = json!([
        {"type": "equals", "attribute": "a", "value": 1},
        {"type": "equals", "attribute": "a", "value": "x"},
        {"type": "equals", "attribute": "a", "value": false},
        {"type": "in_list", "attribute": "a", "values": ["1", "x"]},
        {"type": "not_in_list", "attribute": "a", "values": ["1"]},
        {"type": "greater_or_equal", "attribute": "a", "value": 0},
        {"type": "less_or_equal", "attribute": "a", "value": 0},
        {"type": "between", "attribute": "a", "start": -1, "end": 1},
        {"type": "starts_with", "attribute": "a", "values": [""]},
        {"type": "ends_with", "attribute": "a", "values": ["é"]},
        {"type": "contains", "attribute": "a", "values": ["\u{0}"]},
        {"type": "regex", "attribute": "a", "pattern": "^[[:alpha:]é]+$"},
        {"type": "boolean", "attribute": "a", "value": true},
        {"type": "semver_equals", "attribute": "a", "value": "1.0.0"},
        {"type": "semver_greater_or_equal", "attribute": "a", "value": "1.0.0-0"},
        {"type": "semver_less_or_equal", "attribute": "a", "value": "1.0.0"},
        {"type": "semver_between", "attribute": "a", "start": "0.0.0", "end": "9.9.9"},
        {"type": "set_contains_any", "attribute": "a", "values": ["1"]},
        {"type": "set_contains_all", "attribute": "a", "values": []},
        {"type": "in_segment", "segment": "beta"},
        {"type": "depends_on", "flag": "missing", "treatments": ["control"]}
    ]);
    let values = [
        json!(null),
        json!(""),
        json!("é"),
        json!("1"),
        json!("1.0.0"),
        json!("00000000000000000000000001.0.0-0"),
        json!("NaN"),
        json!("inf"),
        json!("1e400"),
        json!("-0"),
        json!(true),
        json!(0),
        json!(-1),
        json!(u64::MAX),
        json!(f64::MAX),
        json!([]),
        json!([1, "1", null, ["1"]]),
        json!({"nested": {"a": 1}}),
    ];
    let Value::Array(kinds) = kinds else {
        unreachable!()
    };
    for kind in kinds {
        for negate in [false, true] {
            let mut m = kind.clone();
            m["negate"] = json!(negate);
            let set = FlagSet::new(vec![flag_with(json!([m]))], vec![]).expect("compiles");
            for v in &values {
                let attrs = Attributes::new().with("a", v.clone());
                let e = set.evaluate("key", None, "f", &attrs);
                assert!(
                    (e.treatment == "on" && e.label == "r")
                        || (e.treatment == "off" && e.label == "default rule"),
                    "{kind} negate={negate} a={v}: {e:?}"
                );
            }
        }
    }
}
