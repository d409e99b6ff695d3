//! Batching, deduplication and the upload request format.

#[path = "pipeline_common/mod.rs"]
mod common;

use std::collections::HashSet;
use std::time::Duration;

use agent_core::pipeline::TOO_LARGE;
use agent_core::upload::UploadTask;
use agent_core::wire;
use common::*;

#[test]
fn duplicates_in_one_hour_are_counted_and_next_hour_starts_anew() {
    let (mut p, clock) = open(config(None));
    p.push_impression(impression("u1", "default rule", T0 + 10));
    p.push_impression(impression("u1", "default rule", T0 + 20));
    p.push_impression(impression("u2", "default rule", T0 + 30));
    p.push_impression(impression("u1", "killed", T0 + 40));
    p.push_impression(impression("u1", "default rule", T0 + 3_599_999));
    p.push_impression(impression("u1", "default rule", T0 + 3_600_000));
    assert_eq!(p.stats().queued_items, 4);
    let batches = drain(&mut p, &clock);
    assert_eq!(batches.len(), 1);
    let got: Vec<(&str, &str, i64, u32)> = batches[0]
        .impressions
        .iter()
        .map(|i| (i.key.as_str(), i.label.as_str(), i.ts, i.count))
        .collect();
    assert_eq!(
        got,
        vec![
            ("u1", "default rule", T0 + 10, 3),
            ("u2", "default rule", T0 + 30, 1),
            ("u1", "killed", T0 + 40, 1),
            ("u1", "default rule", T0 + 3_600_000, 1),
        ]
    );
}

#[test]
fn duplicates_after_a_batch_was_sealed_are_not_lost() {
    let (mut p, clock) = open(config(None));
    p.push_impression(impression("u1", "default rule", T0));
    p.flush();
    for n in 1..=4 {
        p.push_impression(impression("u1", "default rule", T0 + n));
    }
    let batches = drain(&mut p, &clock);
    let counts: Vec<u32> = batches
        .iter()
        .flat_map(|b| b.impressions.iter().map(|i| i.count))
        .collect();
    assert_eq!(counts, vec![1, 4]);
}

#[test]
fn seals_full_batches_by_item_count() {
    let mut c = config(None);
    c.max_batch_items = 10;
    let (mut p, _clock) = open(c);
    let pushed: Vec<_> = (0..25).map(event).collect();
    for e in &pushed {
        p.push_event(e.clone());
    }
    let mut sizes = Vec::new();
    let mut ids = Vec::new();
    while let UploadTask::Upload(r) = p.next_upload() {
        let b = decode(&r.body);
        sizes.push(b.len());
        ids.extend(b.events.iter().map(|e| e.id));
        p.upload_result(r.id, ok());
    }
    assert_eq!(sizes, vec![10, 10]);
    assert_eq!(p.stats().queued_items, 5);
    p.flush();
    let r = expect_upload(p.next_upload());
    let b = decode(&r.body);
    assert_eq!(b.len(), 5);
    ids.extend(b.events.iter().map(|e| e.id));
    p.upload_result(r.id, ok());
    assert_eq!(ids, pushed.iter().map(|e| e.id).collect::<Vec<_>>());
    assert!(p.is_idle());
    assert_eq!(p.stats().delivered_items, 25);
}

/// An event whose properties barely compress (uuids), about `uuids * 40` bytes of JSON.
fn bulky_event(n: usize, uuids: usize) -> wire::Event {
    let mut e = event(n);
    for k in 0..uuids {
        e.properties.insert(
            format!("p{k}"),
            serde_json::Value::String(uuid::Uuid::new_v4().to_string()),
        );
    }
    e
}

#[test]
fn seals_batches_by_gzipped_size() {
    let mut c = config(None);
    c.max_batch_bytes = 8 * 1024;
    let (mut p, clock) = open(c);
    let pushed: Vec<_> = (0..200).map(|n| bulky_event(n, 20)).collect();
    for e in &pushed {
        p.push_event(e.clone());
    }
    p.shutdown();
    let mut bodies = Vec::new();
    loop {
        match p.next_upload() {
            UploadTask::Upload(r) => {
                assert!(r.body.len() <= 8 * 1024, "body of {} bytes", r.body.len());
                bodies.push(decode(&r.body));
                p.upload_result(r.id, ok());
            }
            UploadTask::Wait { ms } => clock.advance(ms as i64),
            UploadTask::Done => break,
        }
    }
    assert!(bodies.len() > 5, "only {} batches", bodies.len());
    let ids: Vec<_> = event_ids(&bodies);
    assert_eq!(ids, pushed.iter().map(|e| e.id).collect::<Vec<_>>());
    // An item too large for any batch is dropped and counted, not retried forever.
    let mut c = config(None);
    c.max_batch_bytes = 2 * 1024;
    let (mut p, _clock) = open(c);
    p.push_event(bulky_event(0, 200));
    p.push_event(event(1));
    p.flush();
    let r = expect_upload(p.next_upload());
    let b = decode(&r.body);
    assert_eq!(b.len(), 1);
    assert_eq!(b.events[0].key, "user-1");
    assert_eq!(p.stats().dropped_for(TOO_LARGE), 1);
}

#[test]
fn flush_seals_a_partial_batch() {
    let (mut p, _clock) = open(config(None));
    p.push_event(event(1));
    assert!(matches!(p.next_upload(), UploadTask::Wait { .. }));
    p.flush();
    let r = expect_upload(p.next_upload());
    assert_eq!(decode(&r.body).len(), 1);
    // Flushing nothing makes no batch.
    p.upload_result(r.id, ok());
    p.flush();
    assert!(p.is_idle());
}

#[test]
fn flush_interval_seals_on_the_manual_clock() {
    let mut c = config(None);
    c.flush_interval = Duration::from_secs(5);
    let (mut p, clock) = open(c);
    assert_eq!(expect_wait(p.next_upload()), 60_000);
    p.push_event(event(1));
    assert_eq!(expect_wait(p.next_upload()), 5_000);
    clock.advance(3_000);
    p.push_event(event(2));
    assert_eq!(expect_wait(p.next_upload()), 2_000);
    clock.advance(1_999);
    assert_eq!(expect_wait(p.next_upload()), 1);
    clock.advance(1);
    let r = expect_upload(p.next_upload());
    assert_eq!(decode(&r.body).len(), 2);
}

#[test]
fn upload_is_gzip_json_batch_with_headers() {
    let (mut p, _clock) = open(config(None));
    let e = event(3);
    let i = impression("u9", "default rule", T0);
    p.push_event(e.clone());
    p.push_impression(i.clone());
    p.flush();
    let r = expect_upload(p.next_upload());
    assert_eq!(r.path, wire::BATCH_PATH);
    let headers: HashSet<(String, String)> = r.headers.iter().cloned().collect();
    for (k, v) in [
        ("Content-Type", "application/json"),
        ("Content-Encoding", "gzip"),
        ("Authorization", "Bearer sdk-key-1"),
        ("X-Rum-Protocol", &wire::PROTOCOL_VERSION.to_string()),
    ] {
        assert!(headers.contains(&(k.to_string(), v.to_string())), "{k}");
    }
    let b = decode(&r.body);
    assert_eq!(b.batch_id, r.id);
    assert_eq!(b.sdk, sdk());
    assert_eq!(b.events, vec![e]);
    assert_eq!(b.impressions, vec![i]);
    assert!(b.dropped.is_empty());
}

#[test]
fn a_clock_going_backwards_does_not_hold_items_back() {
    let (mut p, clock) = open(config(None));
    p.push_event(event(1));
    clock.set(T0 - 86_400_000);
    let r = expect_upload(p.next_upload());
    assert_eq!(decode(&r.body).len(), 1);
}
