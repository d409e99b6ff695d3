//! `validate` names the field at fault for every kind of invalid definition.

use agent_core::flags::{FlagError, FlagSet, validate};
use agent_core::wire::{FlagDefinition, Segment};
use serde_json::{Value, json};

fn valid() -> Value {
    json!({
        "key": "checkout",
        "version": 1,
        "traffic_type": "user",
        "treatments": [{"name": "on", "config": "{\"a\":1}"}, {"name": "off"}],
        "default_treatment": "off",
        "baseline_treatment": "off",
        "seed": 42,
        "traffic_allocation": 100,
        "rules": [
            {"name": "allow", "matchers": [{"type": "key_in_list", "values": ["qa"]}], "treatment": "on"},
            {"name": "rollout", "matchers": [
                {"type": "regex", "attribute": "email", "pattern": "@corp\\.com$"},
                {"type": "semver_between", "attribute": "v", "start": "1.0.0", "end": "2.0.0"},
                {"type": "between", "attribute": "n", "start": 1, "end": 2}
            ], "rollout": [{"treatment": "on", "weight": 30}, {"treatment": "off", "weight": 70}]}
        ]
    })
}

/// The field and message `validate` gives after `edit` spoils the valid flag.
fn refusal(edit: impl FnOnce(&mut Value)) -> (String, String) {
    let mut v = valid();
    edit(&mut v);
    let def: FlagDefinition = serde_json::from_value(v).expect("still wire-valid JSON");
    match validate(&def) {
        Err(FlagError::Invalid { field, message }) => (field, message),
        Ok(()) => panic!("expected {def:?} to be invalid"),
    }
}

/// The field `validate` blames after `edit` spoils the valid flag.
fn blamed(edit: impl FnOnce(&mut Value)) -> String {
    let (field, message) = refusal(edit);
    assert!(!message.is_empty());
    field
}

#[test]
fn the_reference_flag_is_valid() {
    let def: FlagDefinition = serde_json::from_value(valid()).expect("wire-valid");
    assert_eq!(validate(&def), Ok(()));
}

#[test]
fn errors_name_the_field() {
    assert_eq!(blamed(|v| v["key"] = json!("")), "key");
    assert_eq!(blamed(|v| v["treatments"] = json!([])), "treatments");
    assert_eq!(
        blamed(|v| v["treatments"][1]["name"] = json!("on")),
        "treatments[1].name"
    );
    assert_eq!(
        blamed(|v| v["treatments"][0]["config"] = json!("{not json")),
        "treatments[0].config"
    );
    assert_eq!(
        blamed(|v| v["default_treatment"] = json!("maybe")),
        "default_treatment"
    );
    assert_eq!(
        blamed(|v| v["baseline_treatment"] = json!("maybe")),
        "baseline_treatment"
    );
    assert_eq!(
        blamed(|v| v["traffic_allocation"] = json!(101)),
        "traffic_allocation"
    );
    assert_eq!(
        blamed(|v| v["rules"][1]["rollout"][1]["weight"] = json!(60)),
        "rules[1].rollout"
    );
    assert_eq!(
        blamed(|v| v["rules"][1]["rollout"][0]["treatment"] = json!("blue")),
        "rules[1].rollout[0].treatment"
    );
    assert_eq!(
        blamed(|v| v["rules"][1]["treatment"] = json!("on")),
        "rules[1].rollout",
        "both a rollout and a treatment"
    );
    assert_eq!(
        blamed(|v| {
            v["rules"][0]
                .as_object_mut()
                .expect("rule object")
                .remove("treatment");
        }),
        "rules[0].rollout",
        "neither a rollout nor a treatment"
    );
    assert_eq!(
        blamed(|v| v["rules"][0]["treatment"] = json!("blue")),
        "rules[0].treatment"
    );
    assert_eq!(
        blamed(|v| v["rules"][1]["matchers"][0]["pattern"] = json!("(unclosed")),
        "rules[1].matchers[0].pattern"
    );
    assert_eq!(
        blamed(|v| v["rules"][1]["matchers"][1]["start"] = json!("1.0")),
        "rules[1].matchers[1].start"
    );
    assert_eq!(
        blamed(|v| v["rules"][1]["matchers"][1]["end"] = json!("0.9.0")),
        "rules[1].matchers[1].end"
    );
    assert_eq!(
        blamed(|v| v["rules"][1]["matchers"][2]["start"] = json!(3)),
        "rules[1].matchers[2].end"
    );
    assert_eq!(
        blamed(|v| v["rules"][1]["matchers"][2]["attribute"] = json!("")),
        "rules[1].matchers[2].attribute"
    );
    assert_eq!(
        blamed(|v| v["rules"][0]["matchers"][0] =
            json!({"type": "semver_equals", "attribute": "v", "value": "latest"})),
        "rules[0].matchers[0].value"
    );
    assert_eq!(
        blamed(|v| v["rules"][0]["matchers"][0] =
            json!({"type": "equals", "attribute": "v", "value": {"an": "object"}})),
        "rules[0].matchers[0].value"
    );
    assert_eq!(
        blamed(|v| v["rules"][0]["matchers"][0] =
            json!({"type": "depends_on", "flag": "checkout", "treatments": ["on"]})),
        "rules[0].matchers[0].flag"
    );
}

#[test]
fn flag_set_errors_name_the_entry() {
    let good: FlagDefinition = serde_json::from_value(valid()).expect("wire-valid");
    let mut bad = good.clone();
    bad.key = "other".into();
    bad.rules[1].rollout.clear();
    let err = FlagSet::new(vec![good.clone(), bad], vec![]).expect_err("invalid");
    let FlagError::Invalid { field, message } = err;
    assert_eq!(field, "flags[1].rules[1].rollout");
    assert!(message.contains("other"), "{message}");

    let seg = Segment {
        name: String::new(),
        version: 1,
        keys: vec![],
    };
    let FlagError::Invalid { field, .. } = FlagSet::new(vec![good], vec![seg]).expect_err("bad");
    assert_eq!(field, "segments[0].name");
}

/// The message `validate` gives after `edit` spoils the valid flag.
fn message(edit: impl FnOnce(&mut Value)) -> String {
    refusal(edit).1
}

#[test]
fn messages_say_what_is_wrong() {
    assert_eq!(
        message(|v| v["rules"][1]["matchers"][2]["start"] = json!(3)),
        "2.0 is below start 3.0"
    );
    assert_eq!(
        message(|v| v["rules"][1]["matchers"][1]["end"] = json!("0.9.0")),
        "\"0.9.0\" is below start \"1.0.0\""
    );
    assert!(
        message(|v| v["rules"][1]["matchers"][1]["start"] = json!("1.0")).starts_with("\"1.0\": "),
        "the bad version is quoted"
    );
    assert_eq!(
        message(|v| v["rules"][0]["matchers"][0] =
            json!({"type": "equals", "attribute": "v", "value": null})),
        "must be a string, a number or a boolean"
    );
    assert_eq!(
        message(|v| v["rules"][0]["matchers"][0] =
            json!({"type": "depends_on", "flag": "checkout", "treatments": ["on"]})),
        "a flag cannot depend on itself"
    );
    assert_eq!(
        message(|v| v["rules"][0]["matchers"][0] = json!({"type": "in_segment", "segment": ""})),
        "must not be empty"
    );
    // Several faults in one matcher: the first in reading order is reported (the bounds of a
    // `between` before its attribute, the attribute of a semver matcher before its value).
    assert_eq!(
        message(|v| {
            v["rules"][1]["matchers"][2]["start"] = json!(3);
            v["rules"][1]["matchers"][2]["attribute"] = json!("");
        }),
        "2.0 is below start 3.0"
    );
    assert_eq!(
        message(|v| v["rules"][0]["matchers"][0] =
            json!({"type": "semver_equals", "attribute": "", "value": "latest"})),
        "must not be empty"
    );
}

/// Names an impression carries must meet the batch limits when a flag is created or changed;
/// a flag stored before those limits still compiles, so it cannot block the others' changes.
#[test]
fn impression_names_are_checked_on_change_but_old_stored_flags_still_compile() {
    assert_eq!(
        refusal(|v| v["rules"][0]["name"] = json!("")),
        ("rules[0].name".to_owned(), "must not be empty".to_owned())
    );
    assert_eq!(
        refusal(|v| v["key"] = json!("k".repeat(1025))),
        ("key".to_owned(), "longer than 1024 bytes".to_owned())
    );
    assert_eq!(
        blamed(|v| {
            v["treatments"][1]["name"] = json!("t".repeat(1025));
            v["default_treatment"] = json!("t".repeat(1025));
            v["baseline_treatment"] = json!("t".repeat(1025));
            v["rules"][1]["rollout"][1]["treatment"] = json!("t".repeat(1025));
        }),
        "treatments[1].name"
    );
    let mut old = valid();
    old["rules"][0]["name"] = json!("");
    let old: FlagDefinition = serde_json::from_value(old).expect("wire-valid");
    let set = FlagSet::new(vec![old], Vec::<Segment>::new()).expect("an old stored flag compiles");
    let qa = set.evaluate("qa", None, "checkout", &agent_core::Attributes::new());
    assert_eq!((qa.treatment.as_str(), qa.label.as_str()), ("on", ""));
}
