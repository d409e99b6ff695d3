//! The single-threaded agent (the browser's core): evaluation with impressions, events with the
//! identity and global properties, consent, pull uploads, hand-off and restore of unsent batches,
//! the flag cache.

mod pipeline_common;

use std::sync::Arc;

use agent_core::clock::ManualClock;
use agent_core::local::{Consent, LocalAgent, LocalConfig};
use agent_core::upload::{UploadResult, UploadTask};
use agent_core::wire::{Batch, FlagChanges};
use agent_core::{Attributes, spool};
use pipeline_common::{T0, config};
use serde_json::{Map, Value, json};

fn flags() -> FlagChanges {
    serde_json::from_value(json!({
        "version": 3, "full": true, "segments": [],
        "flags": [{
            "key": "new-checkout", "version": 3, "traffic_type": "user",
            "treatments": [{"name": "on"}, {"name": "off"}],
            "default_treatment": "off", "killed": false, "archived": false, "seed": 7,
            "traffic_allocation": 100, "traffic_allocation_seed": 0,
            "rules": [{"name": "beta", "matchers": [{"type": "key_in_list", "values": ["alice"]}], "treatment": "on"}]
        }]
    }))
    .unwrap()
}

fn agent() -> (LocalAgent, Arc<ManualClock>) {
    let clock = ManualClock::new(T0);
    let mut cfg = LocalConfig::new(config(None));
    cfg.error_event_type = "rum.error".into();
    (LocalAgent::new(cfg, clock.clone()).unwrap(), clock)
}

fn upload(agent: &mut LocalAgent) -> (uuid::Uuid, Batch) {
    match agent.next_upload() {
        UploadTask::Upload(req) => {
            let batch = spool::decode_batch(&req.body).unwrap();
            (req.id, batch)
        }
        other => panic!("expected an upload, got {other:?}"),
    }
}

#[test]
fn records_for_the_identity_and_uploads_only_with_consent() {
    let (mut a, _clock) = agent();
    a.apply_flag_changes(&flags()).unwrap();
    a.identify("alice", Some("account"), None);
    a.set_global_property("page", json!("/cart"));
    let ev = a.treatment("new-checkout", &Attributes::new());
    assert_eq!((ev.treatment.as_str(), ev.label.as_str()), ("on", "beta"));
    assert_eq!(
        a.treatment("no-such-flag", &Attributes::new()).treatment,
        "control"
    );
    assert!(a.track_error("TypeError", "x is undefined", Some("at f (app.js:1:2)")));
    let mut props = Map::new();
    props.insert("page".into(), json!("/checkout"));
    assert!(a.track("purchase", Some(12.5), props));
    assert!(!a.track("bad type!", None, Map::new()));
    a.flush();

    // Unknown consent: queued, not sent.
    assert!(matches!(a.next_upload(), UploadTask::Wait { .. }));
    a.set_consent(Consent::Granted);
    let (id, batch) = upload(&mut a);
    assert_eq!(
        batch.impressions.len(),
        1,
        "no impression for an unknown flag"
    );
    assert_eq!(batch.impressions[0].key, "alice");
    assert_eq!(batch.impressions[0].treatment, "on");
    let error = batch
        .events
        .iter()
        .find(|e| e.event_type == "rum.error")
        .unwrap();
    assert_eq!(error.key, "alice");
    assert_eq!(error.traffic_type, "account");
    assert_eq!(error.properties["exception.type"], "TypeError");
    assert_eq!(
        error.properties["exception.stacktrace"],
        "at f (app.js:1:2)"
    );
    assert_eq!(error.properties["page"], "/cart");
    let purchase = batch
        .events
        .iter()
        .find(|e| e.event_type == "purchase")
        .unwrap();
    assert_eq!(
        purchase.properties["page"], "/checkout",
        "own properties win"
    );
    assert_eq!(purchase.value, Some(12.5));
    assert_eq!(
        batch
            .dropped
            .iter()
            .find(|d| d.reason == "invalid")
            .map(|d| d.count),
        Some(1)
    );
    a.upload_result(
        id,
        UploadResult::Http {
            status: 202,
            retry_after: None,
        },
    );
    assert!(a.is_idle());
    assert_eq!(a.stats().delivered_items, 3);
}

/// Drop counts not yet in a batch go with the batches handed over (offline, consent unknown or
/// the collector down is when the queue fills, and when the page hands everything over).
#[test]
fn drop_counts_go_with_the_batches_handed_over() {
    let clock = ManualClock::new(T0);
    let mut c = config(None);
    c.max_queue_items = 3;
    let mut a = LocalAgent::new(LocalConfig::new(c), clock.clone()).unwrap();
    for i in 0..5 {
        a.track("click", Some(i as f64), Map::new());
    }
    a.track("bad type!", None, Map::new());
    let bodies = a.take_unsent();
    let dropped: Vec<(String, u64)> = bodies
        .iter()
        .flat_map(|b| spool::decode_batch(b).unwrap().dropped)
        .map(|d| (d.reason, d.count))
        .collect();
    assert_eq!(
        dropped,
        [("invalid".to_owned(), 1), ("queue_full".to_owned(), 2)]
    );
    // With a batch in flight as well: the counts are sealed on their own.
    a.set_consent(Consent::Granted);
    a.track("click", None, Map::new());
    a.flush();
    let (_id, _in_flight) = upload(&mut a);
    a.track("bad type!", None, Map::new());
    let bodies = a.take_unsent();
    assert_eq!(bodies.len(), 1, "a drops-only batch");
    let batch = spool::decode_batch(&bodies[0]).unwrap();
    assert_eq!(batch.len(), 0);
    assert_eq!(batch.dropped.len(), 1);
    assert_eq!(
        (batch.dropped[0].reason.as_str(), batch.dropped[0].count),
        ("invalid", 1)
    );
}

#[test]
fn unsent_batches_survive_a_new_instance_once() {
    let (mut a, _clock) = agent();
    a.set_consent(Consent::Granted);
    for i in 0..3 {
        a.track("click", Some(i as f64), Map::new());
    }
    let bodies = a.take_unsent();
    assert_eq!(bodies.len(), 1);
    assert!(a.is_idle(), "handed off, no longer retried here");

    let (mut b, _clock) = agent();
    b.set_consent(Consent::Granted);
    let id = b.restore(bodies[0].clone()).unwrap().unwrap();
    assert_eq!(
        b.restore(bodies[0].clone()).unwrap(),
        None,
        "already queued"
    );
    assert!(b.restore(b"not a batch".to_vec()).is_err());
    let (sent, batch) = upload(&mut b);
    assert_eq!(sent, id);
    assert_eq!(batch.events.len(), 3);
    // The plain JSON a beacon sends is the same batch.
    let plain: Batch = serde_json::from_slice(&spool::inflate(&bodies[0]).unwrap()).unwrap();
    assert_eq!(plain, batch);
}

#[test]
fn declining_forgets_the_queue_and_records_nothing() {
    let (mut a, _clock) = agent();
    a.apply_flag_changes(&flags()).unwrap();
    a.track("click", None, Map::new());
    a.set_consent(Consent::Declined);
    assert!(!a.track("click", None, Map::new()));
    assert_eq!(
        a.treatment("new-checkout", &Attributes::new()).treatment,
        "off"
    );
    assert!(a.take_unsent().is_empty());
    a.set_consent(Consent::Granted);
    assert!(matches!(a.next_upload(), UploadTask::Wait { .. }));
    assert_eq!(a.stats().queued_items, 0);
}

#[test]
fn a_partial_batch_is_sealed_by_time() {
    let (mut a, clock) = agent();
    a.set_consent(Consent::Granted);
    a.track("click", None, Map::new());
    assert!(matches!(a.next_upload(), UploadTask::Wait { .. }));
    clock.advance(5_000);
    let (_, batch) = upload(&mut a);
    assert_eq!(batch.events.len(), 1);
}

#[test]
fn flag_cache_round_trips_and_never_replaces_newer_definitions() {
    let (mut a, _clock) = agent();
    a.apply_flag_changes(&flags()).unwrap();
    let cache = a.flag_cache().unwrap();
    let (mut b, _clock) = agent();
    assert_eq!(b.load_flag_cache(&cache).unwrap(), 3);
    assert_eq!(
        b.treatment("new-checkout", &Attributes::new()).label,
        a.treatment("new-checkout", &Attributes::new()).label
    );
    let mut newer = flags();
    newer.version = 9;
    b.apply_flag_changes(&newer).unwrap();
    assert_eq!(b.load_flag_cache(&cache).unwrap(), 9);
    assert!(b.load_flag_cache(b"{").is_err());
    assert!(b.apply_flag_changes_json(br#"{"version": 1}"#).is_err());
    // Read by the hand-written reader (no derived `Deserialize` in the wasm): errors name the place.
    let bad = br#"{"version": 2, "flags": [{"key": "f", "traffic_type": "user",
        "treatments": [{"name": "on"}], "default_treatment": "on", "seed": 1,
        "rules": [{"name": "r", "matchers": [{"type": "in_list", "values": ["a", 5]}]}]}]}"#;
    let e = b.apply_flag_changes_json(bad).unwrap_err().to_string();
    assert_eq!(
        e,
        "flag definitions: flags[0].rules[0].matchers[0].values[1]: expected a string"
    );
    assert_eq!(b.flag_set_version(), 9, "a refused answer changes nothing");
    let _: Value = serde_json::from_slice(&cache).unwrap();
}

#[test]
fn identify_refuses_keys_the_collector_would_refuse_and_drops_the_old_bucketing_key() {
    let (mut a, _clock) = agent();
    a.apply_flag_changes(&flags()).unwrap();
    a.set_consent(Consent::Granted);
    assert!(a.identify("alice", Some("account"), Some("device-1")));
    let long = "k".repeat(agent_core::wire::MAX_STRING + 1);
    for (key, tt, b) in [
        ("", None, None),
        (long.as_str(), None, None),
        ("bob", Some(""), None),
        ("bob", Some(long.as_str()), None),
        ("bob", None, Some(long.as_str())),
    ] {
        assert!(!a.identify(key, tt, b), "{key:.8} {tt:?}");
    }
    assert_eq!((a.key(), a.traffic_type()), ("alice", "account"));
    a.treatment("new-checkout", &Attributes::new());
    // A new key without a bucketing key no longer buckets by the last user's.
    assert!(a.identify("bob", None, None));
    assert_eq!(a.traffic_type(), "account", "the traffic type stays");
    a.treatment("new-checkout", &Attributes::new());
    // Items with keys the collector refuses never reach a batch.
    a.treatment_for("", None, "new-checkout", &Attributes::new());
    a.treatment_for("carol", Some(""), "new-checkout", &Attributes::new());
    a.flush();
    let (_, batch) = upload(&mut a);
    let seen: Vec<(&str, Option<&str>)> = batch
        .impressions
        .iter()
        .map(|i| (i.key.as_str(), i.bucketing_key.as_deref()))
        .collect();
    assert_eq!(
        seen,
        [("alice", Some("device-1")), ("bob", None), ("carol", None)]
    );
    let invalid = batch.dropped.iter().find(|d| d.reason == "invalid");
    assert_eq!(invalid.map(|d| d.count), Some(1), "{:?}", batch.dropped);
}

#[test]
fn values_the_collector_refuses_are_left_out_and_the_event_kept() {
    let (mut a, _clock) = agent();
    a.set_consent(Consent::Granted);
    for v in [f64::NAN, f64::INFINITY, 1e200, -2e15, 1e15, 12.5] {
        assert!(a.track("purchase", Some(v), Map::new()), "{v}");
    }
    a.flush();
    let (_, batch) = upload(&mut a);
    let values: Vec<Option<f64>> = batch.events.iter().map(|e| e.value).collect();
    assert_eq!(
        values,
        [None, None, None, None, Some(1e15), Some(12.5)],
        "{:?}",
        batch.dropped
    );
}
