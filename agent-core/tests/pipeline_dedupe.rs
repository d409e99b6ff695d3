//! Impression deduplication across sealed batches: late counts, their release (hour end, flush,
//! shutdown, eviction) and the cache's memory bound.

#[path = "pipeline_common/mod.rs"]
mod common;

use std::collections::HashMap;

use agent_core::clock::{Clock, ManualClock};
use agent_core::pipeline::Pipeline;
use agent_core::upload::UploadTask;
use agent_core::wire::{Batch, Impression};
use common::*;

const HOUR: i64 = 3_600_000;

/// Delivers every batch ready now (2xx), without flushing or moving the clock.
fn deliver_ready(p: &mut Pipeline) -> Vec<Batch> {
    let mut out = Vec::new();
    while let UploadTask::Upload(r) = p.next_upload() {
        out.push(decode(&r.body));
        p.upload_result(r.id, ok());
    }
    out
}

fn rows_of<'a>(batches: &'a [Batch], key: &str) -> Vec<&'a Impression> {
    batches
        .iter()
        .flat_map(|b| b.impressions.iter())
        .filter(|i| i.key == key)
        .collect()
}

fn total_count(batches: &[Batch]) -> u64 {
    batches
        .iter()
        .flat_map(|b| b.impressions.iter())
        .map(|i| u64::from(i.count))
        .sum()
}

/// One identity evaluated 20 times per flush interval for 50 intervals (each interval sealed with
/// an event in it), the clock moving with it. Returns the batches delivered on the way.
fn active_user(p: &mut Pipeline, clock: &ManualClock) -> Vec<Batch> {
    let mut delivered = Vec::new();
    for round in 0..50 {
        p.push_event(event(round));
        for _ in 0..20 {
            p.push_impression(impression("u1", "default rule", clock.now_ms()));
            clock.advance(1);
        }
        clock.advance(5_000);
        p.tick();
        delivered.extend(deliver_ready(p));
    }
    delivered
}

#[test]
fn an_active_user_is_one_row_plus_one_late_row_after_flush() {
    let (mut p, clock) = open(config(None));
    let before = active_user(&mut p, &clock);
    assert_eq!(before.len(), 50, "every interval was sealed and delivered");
    let rows = rows_of(&before, "u1");
    assert_eq!(rows.len(), 1, "periodic seals release no late counts");
    assert_eq!((rows[0].ts, rows[0].count), (T0, 20));
    assert_eq!(p.stats().dedupe_late, 980);

    p.flush();
    let after = deliver_ready(&mut p);
    assert_eq!(after.len(), 1);
    let late = rows_of(&after, "u1");
    assert_eq!(late.len(), 1);
    // The first duplicate after the first seal: round 1's first impression.
    assert_eq!((late[0].ts, late[0].count), (T0 + 5_020, 980));
    assert_ne!(late[0].id, rows[0].id);
    assert_eq!(p.stats().dedupe_late, 0);
    assert_eq!(p.stats().dedupe_identities, 1, "the identity stays known");

    // Later duplicates in the same hour are held again, not a new pending row.
    p.push_impression(impression("u1", "default rule", clock.now_ms()));
    p.push_event(event(99));
    p.flush();
    let again = deliver_ready(&mut p);
    let rows = rows_of(&again, "u1");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].count, 1);
    assert!(p.is_idle());
}

#[test]
fn the_hour_roll_releases_late_counts() {
    let (mut p, clock) = open(config(None));
    let mut batches = active_user(&mut p, &clock);
    assert_eq!(p.stats().dedupe_late, 980);

    // Nothing else is due: the uploader is told to come back exactly when the hour ends.
    clock.set(T0 + HOUR - 10_000);
    assert_eq!(expect_wait(p.next_upload()), 10_000);
    p.tick();
    assert_eq!(
        p.stats().dedupe_late,
        980,
        "not released before the hour ends"
    );

    clock.set(T0 + HOUR);
    p.tick();
    assert_eq!(p.stats().dedupe_late, 0);
    assert_eq!(p.stats().dedupe_identities, 0, "the hour is forgotten");
    assert_eq!(p.stats().queued_items, 1);
    clock.advance(5_000);
    batches.extend(deliver_ready(&mut p));
    let rows = rows_of(&batches, "u1");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows.iter().map(|i| i.count).sum::<u32>(), 1_000);
    assert_eq!(rows[1].ts, T0 + 5_020);

    // The new hour starts anew.
    p.push_impression(impression("u1", "default rule", clock.now_ms()));
    let rows_next = rows_of(&drain(&mut p, &clock), "u1")
        .into_iter()
        .map(|i| (i.ts, i.count))
        .collect::<Vec<_>>();
    assert_eq!(rows_next, vec![(T0 + HOUR + 5_000, 1)]);
}

#[test]
fn the_cap_evicts_the_oldest_hour_first_and_releases_its_late_counts() {
    let mut c = config(None);
    c.dedupe_max_identities = 100;
    let (mut p, clock) = open(c);
    let mut old = impression("old", "default rule", T0);
    old.bucketing_key = Some("bk".into());
    p.push_impression(old.clone());
    p.flush();
    let mut batches = deliver_ready(&mut p);
    p.push_impression(Impression { ts: T0 + 7, ..old });
    assert_eq!(p.stats().dedupe_late, 1);

    // Identities of the next hour (a clock behind the app's timestamps) fill the cache.
    for n in 0..1_000 {
        p.push_impression(impression(&format!("u{n}"), "default rule", T0 + HOUR + n));
        assert!(p.stats().dedupe_identities <= 100);
    }
    assert_eq!(p.stats().dedupe_late, 0, "evicted late counts are released");
    batches.extend(deliver_ready(&mut p));
    let rows = rows_of(&batches, "old");
    assert_eq!(rows.len(), 2, "released without a flush");
    assert_eq!((rows[1].ts, rows[1].count), (T0 + 7, 1));
    assert_eq!(rows[1].bucketing_key.as_deref(), Some("bk"));

    batches.extend(drain(&mut p, &clock));
    assert_eq!(total_count(&batches), 1_002);
}

#[test]
fn memory_stays_bounded_and_no_count_is_lost_with_many_identities() {
    let mut c = config(None);
    c.dedupe_max_identities = 500;
    let (mut p, clock) = open(c);
    let mut batches = Vec::new();
    let mut pushed = 0u64;
    for n in 0..20_000usize {
        p.push_impression(impression(&format!("u{n}"), "default rule", T0));
        pushed += 1;
        // Duplicates of identities seen a while ago: sealed by now, some still remembered.
        if n >= 300 {
            p.push_impression(impression(&format!("u{}", n - 300), "default rule", T0 + 1));
            pushed += 1;
        }
        let s = p.stats();
        assert!(
            s.dedupe_identities <= 500,
            "{} identities",
            s.dedupe_identities
        );
        if n % 1_000 == 999 {
            batches.extend(deliver_ready(&mut p));
        }
    }
    assert!(p.stats().dedupe_late > 0, "some duplicates are held late");
    batches.extend(drain(&mut p, &clock));
    assert_eq!(p.stats().dropped_for(agent_core::pipeline::QUEUE_FULL), 0);
    assert_eq!(total_count(&batches), pushed);
    let mut per_key: HashMap<&str, u64> = HashMap::new();
    for i in batches.iter().flat_map(|b| b.impressions.iter()) {
        *per_key.entry(i.key.as_str()).or_default() += u64::from(i.count);
    }
    assert_eq!(per_key.len(), 20_000);
    assert!(per_key.iter().all(|(k, &c)| {
        let n: usize = k[1..].parse().unwrap();
        c == if n < 19_700 { 2 } else { 1 }
    }));
    let rows: usize = batches.iter().map(|b| b.impressions.len()).sum();
    assert!(rows < pushed as usize, "some duplicates were folded");
}

#[test]
fn distinct_identities_are_not_folded_across_seals() {
    let (mut p, clock) = open(config(None));
    let base = impression("u1", "default rule", T0);
    let variants = |ts: i64| {
        vec![
            Impression { ts, ..base.clone() },
            Impression {
                key: "u2".into(),
                ts,
                ..base.clone()
            },
            Impression {
                flag: "other".into(),
                ts,
                ..base.clone()
            },
            Impression {
                treatment: "off".into(),
                ts,
                ..base.clone()
            },
            Impression {
                version: 8,
                ts,
                ..base.clone()
            },
            Impression {
                label: "killed".into(),
                ts,
                ..base.clone()
            },
        ]
    };
    for i in variants(T0) {
        p.push_impression(i);
    }
    p.tick();
    clock.advance(5_000);
    p.tick();
    let mut batches = deliver_ready(&mut p);
    assert_eq!(batches.len(), 1);
    // Same identities in the next hour are new, not late.
    for i in variants(T0 + HOUR) {
        p.push_impression(i);
    }
    assert_eq!(p.stats().dedupe_late, 0);
    batches.extend(drain(&mut p, &clock));
    let counts: Vec<u32> = batches
        .iter()
        .flat_map(|b| b.impressions.iter().map(|i| i.count))
        .collect();
    assert_eq!(counts, vec![1; 12]);
}

#[test]
fn shutdown_leaves_nothing_behind() {
    let (mut p, clock) = open(config(None));
    p.push_impression(impression("u1", "default rule", T0));
    p.flush();
    for n in 1..=9 {
        p.push_impression(impression("u1", "default rule", T0 + n));
    }
    assert_eq!(p.stats().dedupe_late, 9);
    p.shutdown();
    // A duplicate arriving after shutdown is released too, not held for the hour.
    p.push_impression(impression("u1", "default rule", T0 + 20));
    let mut batches = Vec::new();
    for _ in 0..100 {
        match p.next_upload() {
            UploadTask::Upload(r) => {
                batches.push(decode(&r.body));
                p.upload_result(r.id, ok());
            }
            UploadTask::Wait { ms } => clock.advance(ms as i64),
            UploadTask::Done => break,
        }
    }
    assert_eq!(p.stats().dedupe_late, 0);
    assert!(p.is_idle());
    assert_eq!(total_count(&batches), 11);
    let counts: Vec<u32> = rows_of(&batches, "u1").iter().map(|i| i.count).collect();
    assert_eq!(counts, vec![1, 9, 1]);
}

#[test]
fn released_late_counts_are_never_dropped_for_the_queue_bound() {
    let mut c = config(None);
    c.max_queue_items = 600;
    let (mut p, clock) = open(c);
    let now = clock.now_ms();
    for i in 0..500 {
        p.push_impression(impression(&format!("u{i}"), "default rule", now));
    }
    p.flush();
    // The same identities again, after their impressions were sealed: held as late counts.
    for i in 0..500 {
        p.push_impression(impression(&format!("u{i}"), "default rule", now + 1));
    }
    // Fill the memory queue to its bound with events.
    for n in 0..100 {
        p.push_event(event(n));
    }
    assert_eq!(p.stats().queued_items, 600);
    let batches = drain(&mut p, &clock);
    assert_eq!(total_count(&batches), 1_000, "every duplicate is counted");
    assert_eq!(p.stats().dropped_for("queue_full"), 0);
}
