//! `treatment()`-equivalent flag evaluation, side by side with Unleash's yggdrasil engine.
//!
//! Our flag has three rules: an allow-list (key_in_list), `plan == enterprise` -> 100% on, and a
//! 50/50 rollout. The yggdrasil toggle is its equivalent: a userWithId strategy, a
//! flexibleRollout 100% constrained to `plan IN [enterprise]`, and a flexibleRollout 50% with
//! userId stickiness, plus an `on` variant so `get_variant` picks a variant as we pick a
//! treatment. Run: `cargo bench -p agent-core --bench evaluate`.

use std::collections::HashMap;

use agent_core::flags::{Attributes, FlagSet};
use agent_core::wire::FlagDefinition;
use divan::{Bencher, black_box};
use serde_json::json;
use unleash_yggdrasil::{ClientFeatures, Context, EngineState};

fn main() {
    divan::main();
}

fn our_set() -> FlagSet {
    let def: FlagDefinition = serde_json::from_value(json!({
        "key": "checkout",
        "version": 7,
        "traffic_type": "user",
        "treatments": [{"name": "on", "config": "{\"color\":\"blue\"}"}, {"name": "off"}],
        "default_treatment": "off",
        "seed": 1_482_532_081,
        "rules": [
            {"name": "allow-list", "matchers": [{"type": "key_in_list", "values": ["qa-1", "qa-2", "qa-3"]}],
             "treatment": "on"},
            {"name": "enterprise", "matchers": [{"type": "equals", "attribute": "plan", "value": "enterprise"}],
             "rollout": [{"treatment": "on", "weight": 100}]},
            {"name": "half", "matchers": [], "rollout": [
                {"treatment": "on", "weight": 50}, {"treatment": "off", "weight": 50}]}
        ]
    }))
    .expect("valid flag");
    FlagSet::new(vec![def], vec![]).expect("compiles")
}

fn unleash_engine() -> EngineState {
    let features: ClientFeatures = serde_json::from_value(json!({
        "version": 2,
        "features": [{
            "name": "checkout",
            "type": "release",
            "enabled": true,
            "project": "default",
            "strategies": [
                {"name": "userWithId", "parameters": {"userIds": "qa-1,qa-2,qa-3"}},
                {"name": "flexibleRollout",
                 "parameters": {"rollout": "100", "stickiness": "userId", "groupId": "checkout"},
                 "constraints": [{"contextName": "plan", "operator": "IN", "values": ["enterprise"]}]},
                {"name": "flexibleRollout",
                 "parameters": {"rollout": "50", "stickiness": "userId", "groupId": "checkout"}}
            ],
            "variants": [{"name": "on", "weight": 1000, "weightType": "variable",
                          "stickiness": "userId", "payload": {"type": "json", "value": "{\"color\":\"blue\"}"}}]
        }]
    }))
    .expect("valid client features");
    let engine = EngineState::default();
    let _warnings = engine.apply_client_features(features);
    engine
}

fn unleash_context(user: &str, plan: &str) -> Context {
    Context {
        user_id: Some(user.into()),
        properties: Some(HashMap::from([("plan".to_string(), plan.to_string())])),
        ..Context::default()
    }
}

const USER: &str = "user-4b1c0c1e-7f9a-4c2e-9d55-3f0e1a2b3c4d";

/// A free-plan user: walks the allow-list, the attribute matcher and the 50/50 rollout.
#[divan::bench]
fn ours_rollout_rule(bencher: Bencher) {
    let set = our_set();
    let attrs = Attributes::new().with("plan", "free");
    assert!(
        set.evaluate(USER, None, "checkout", &attrs)
            .bucket
            .is_some()
    );
    bencher.bench_local(|| {
        black_box(&set).evaluate(
            black_box(USER),
            None,
            black_box("checkout"),
            black_box(&attrs),
        )
    });
}

/// The same, borrowing the result from the set (no allocation at all).
#[divan::bench]
fn ours_rollout_rule_borrowed(bencher: Bencher) {
    let set = our_set();
    let attrs = Attributes::new().with("plan", "free");
    bencher.bench_local(|| {
        let set = black_box(&set);
        let e = set.evaluate_ref(
            black_box(USER),
            None,
            black_box("checkout"),
            black_box(&attrs),
        );
        black_box(e.treatment);
    });
}

/// An enterprise user: stops at the attribute rule (100% on, no hashing).
#[divan::bench]
fn ours_attribute_rule(bencher: Bencher) {
    let set = our_set();
    let attrs = Attributes::new().with("plan", "enterprise");
    assert_eq!(
        set.evaluate(USER, None, "checkout", &attrs).label,
        "enterprise"
    );
    bencher.bench_local(|| {
        black_box(&set).evaluate(
            black_box(USER),
            None,
            black_box("checkout"),
            black_box(&attrs),
        )
    });
}

/// yggdrasil `get_variant` (enabled check plus variant) for the same free-plan user.
#[divan::bench]
fn yggdrasil_get_variant_rollout(bencher: Bencher) {
    let engine = unleash_engine();
    let ctx = unleash_context(USER, "free");
    let _ = engine.get_variant("checkout", &ctx, &None);
    bencher.bench_local(|| {
        black_box(&engine).get_variant(black_box("checkout"), black_box(&ctx), &None)
    });
}

/// yggdrasil `get_variant` for the enterprise user.
#[divan::bench]
fn yggdrasil_get_variant_attribute(bencher: Bencher) {
    let engine = unleash_engine();
    let ctx = unleash_context(USER, "enterprise");
    assert!(engine.get_variant("checkout", &ctx, &None).feature_enabled);
    bencher.bench_local(|| {
        black_box(&engine).get_variant(black_box("checkout"), black_box(&ctx), &None)
    });
}

/// yggdrasil `is_enabled` alone (no variant) for the free-plan user.
#[divan::bench]
fn yggdrasil_is_enabled_rollout(bencher: Bencher) {
    let engine = unleash_engine();
    let ctx = unleash_context(USER, "free");
    bencher.bench_local(|| {
        black_box(&engine).is_enabled(black_box("checkout"), black_box(&ctx), &None)
    });
}

/// Staff by e-mail: the pattern a `regex` matcher is most often given.
const EMAIL_PATTERN: &str = r"^[a-z0-9._%+-]+@example\.com$";
const EMAIL: &str = "ada.lovelace+beta@example.com";

/// A one-rule flag whose matcher is `matcher`.
fn email_set(matcher: serde_json::Value) -> FlagSet {
    let def: FlagDefinition = serde_json::from_value(json!({
        "key": "staff", "version": 1, "traffic_type": "user",
        "treatments": [{"name": "on"}, {"name": "off"}], "default_treatment": "off", "seed": 1,
        "rules": [{"name": "staff", "matchers": [matcher], "treatment": "on"}]
    }))
    .expect("valid flag");
    FlagSet::new(vec![def], vec![]).expect("compiles")
}

/// The staff flag through a `regex` matcher (the core's own Pike VM).
#[divan::bench]
fn ours_regex_rule(bencher: Bencher) {
    let set = email_set(json!({"type": "regex", "attribute": "email", "pattern": EMAIL_PATTERN}));
    let attrs = Attributes::new().with("email", EMAIL);
    assert_eq!(
        set.evaluate_ref(USER, None, "staff", &attrs).treatment,
        "on"
    );
    bencher.bench_local(|| {
        let e = black_box(&set).evaluate_ref(black_box(USER), None, "staff", black_box(&attrs));
        black_box(e.treatment);
    });
}

/// The worst a `regex` rule can cost: the largest pattern the engine accepts on a 100 KB
/// attribute, stopped by the step budget (`flags/pattern/vm.rs`, `MAX_STEPS`).
#[divan::bench(sample_count = 20)]
fn ours_regex_rule_at_the_step_budget(bencher: Bencher) {
    let set =
        email_set(json!({"type": "regex", "attribute": "email", "pattern": "(?:.{0,999}){10}~"}));
    let attrs = Attributes::new().with("email", format!("{}~", "a".repeat(100_000)));
    assert_eq!(
        set.evaluate_ref(USER, None, "staff", &attrs).treatment,
        "off"
    );
    bencher.bench_local(|| {
        let e = black_box(&set).evaluate_ref(black_box(USER), None, "staff", black_box(&attrs));
        black_box(e.treatment);
    });
}

/// The same decision through an `ends_with` matcher: what the regex costs on top.
#[divan::bench]
fn ours_ends_with_rule(bencher: Bencher) {
    let set =
        email_set(json!({"type": "ends_with", "attribute": "email", "values": ["@example.com"]}));
    let attrs = Attributes::new().with("email", EMAIL);
    assert_eq!(
        set.evaluate_ref(USER, None, "staff", &attrs).treatment,
        "on"
    );
    bencher.bench_local(|| {
        let e = black_box(&set).evaluate_ref(black_box(USER), None, "staff", black_box(&attrs));
        black_box(e.treatment);
    });
}

/// The `regex` crate's `is_match` on the same pattern and text (the engine alone).
#[divan::bench]
fn regex_crate_is_match(bencher: Bencher) {
    let re = regex::Regex::new(EMAIL_PATTERN).expect("pattern");
    assert!(re.is_match(EMAIL));
    bencher.bench_local(|| black_box(&re).is_match(black_box(EMAIL)));
}
