//! The spool index: crash batches evicted last, startup from file names only, and files written
//! behind a running pipeline's back picked up by its rescan.

#[path = "pipeline_common/mod.rs"]
mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use agent_core::pipeline::{CORRUPT, QUEUE_FULL, RESCAN_INTERVAL, SPOOL_FULL};
use agent_core::spool::{self, SpoolName};
use agent_core::upload::UploadResult;
use agent_core::wire::{Batch, DropCount, Event, event_types};
use common::*;
use uuid::Uuid;

fn crash_event(n: usize) -> Event {
    Event {
        event_type: event_types::CRASH.into(),
        ..event(n)
    }
}

fn crash_batch(n: usize, dropped: Vec<DropCount>) -> Batch {
    Batch {
        batch_id: Uuid::new_v4(),
        sdk: sdk(),
        impressions: vec![],
        events: vec![crash_event(n)],
        dropped,
    }
}

fn names(dir: &Path) -> Vec<(PathBuf, SpoolName)> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = SpoolName::parse(p.file_name()?.to_str()?)?;
            Some((p, name))
        })
        .collect();
    v.sort_by_key(|(_, n)| n.seq);
    v
}

fn reported(batches: &[Batch], reason: &str) -> u64 {
    batches
        .iter()
        .flat_map(|b| b.dropped.iter())
        .filter(|d| d.reason == reason)
        .map(|d| d.count)
        .sum()
}

#[test]
fn crash_batches_are_evicted_last() {
    let dir = tempfile::tempdir().unwrap();
    // A crash record of the previous run, written by a panic hook: the oldest file.
    let old_crash = crash_batch(0, vec![]);
    spool::write_batch_file(dir.path(), &old_crash).unwrap();
    let mut c = config(Some(dir.path().to_path_buf()));
    c.max_batch_items = 10;
    c.spool_max_files = 4;
    let (mut p, clock) = open(c);
    // A crash recorded through the pipeline by a binding whose process went on.
    p.push_event(event(1_000));
    p.push_event(crash_event(1_001));
    p.flush();
    let crash_names: Vec<SpoolName> = names(dir.path())
        .into_iter()
        .map(|(_, n)| n)
        .filter(|n| n.crash)
        .collect();
    assert_eq!(
        crash_names.len(),
        2,
        "both crash batches are marked in their names"
    );
    assert_eq!(crash_names[1].items, 2);

    // The collector is down while 200 more events come: only non-crash batches are evicted.
    for n in 0..200 {
        p.push_event(event(n));
        assert!(p.stats().spooled_batches <= 4);
    }
    let on_disk = names(dir.path());
    assert_eq!(on_disk.len(), 4);
    assert_eq!(on_disk.iter().filter(|(_, n)| n.crash).count(), 2);
    assert_eq!(p.stats().dropped_for(SPOOL_FULL), 180);

    let batches = drain(&mut p, &clock);
    let crashes: Vec<Uuid> = batches
        .iter()
        .flat_map(|b| b.events.iter())
        .filter(|e| e.event_type == event_types::CRASH)
        .map(|e| e.id)
        .collect();
    assert_eq!(
        crashes,
        vec![old_crash.events[0].id, id_of_key(&batches, 1_001)]
    );
    let keys: Vec<String> = batches
        .iter()
        .flat_map(|b| b.events.iter())
        .filter(|e| e.event_type != event_types::CRASH)
        .map(|e| e.key.clone())
        .collect();
    let mut expected = vec!["user-1000".to_string()];
    expected.extend((180..200).map(|n| format!("user-{n}")));
    assert_eq!(keys, expected, "the newest plain batches survive");
    assert_eq!(reported(&batches, SPOOL_FULL), 180);
}

fn id_of_key(batches: &[Batch], n: usize) -> Uuid {
    batches
        .iter()
        .flat_map(|b| b.events.iter())
        .find(|e| e.key == format!("user-{n}"))
        .unwrap()
        .id
}

#[test]
fn crash_batches_go_oldest_first_when_nothing_else_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let carried = vec![DropCount {
        reason: QUEUE_FULL.into(),
        count: 5,
    }];
    let crashes = [
        crash_batch(0, carried.clone()),
        crash_batch(1, vec![]),
        crash_batch(2, vec![]),
    ];
    for b in &crashes {
        spool::write_batch_file(dir.path(), b).unwrap();
    }
    let mut c = config(Some(dir.path().to_path_buf()));
    c.spool_max_files = 2;
    let (mut p, clock) = open(c);
    assert_eq!(p.stats().spooled_batches, 2);
    assert_eq!(p.stats().dropped_for(SPOOL_FULL), 1);
    let batches = drain(&mut p, &clock);
    assert_eq!(
        event_ids(&batches),
        vec![crashes[1].events[0].id, crashes[2].events[0].id]
    );
    // The evicted file was read just for its drop counts, which still get reported.
    assert_eq!(reported(&batches, SPOOL_FULL), 1);
    assert_eq!(reported(&batches, QUEUE_FULL), 5);
}

#[test]
fn startup_indexes_by_name_and_finds_corrupt_files_at_upload() {
    let dir = tempfile::tempdir().unwrap();
    let good: Vec<Batch> = (0..3)
        .map(|n| Batch {
            batch_id: Uuid::new_v4(),
            sdk: sdk(),
            impressions: vec![],
            events: vec![event(n), event(n + 10)],
            dropped: vec![],
        })
        .collect();
    let mut paths = Vec::new();
    for b in &good {
        paths.push(spool::write_batch_file(dir.path(), b).unwrap());
    }
    // Garbage in current-format names, between the good ones.
    let garbage = SpoolName::new(Uuid::new_v4(), 7, false);
    fs::write(dir.path().join(garbage.file_name()), b"\x1f\x8b garbage").unwrap();
    let wrong_id = SpoolName::new(Uuid::new_v4(), 2, false);
    fs::write(
        dir.path().join(wrong_id.file_name()),
        spool::encode_batch(&good[0]).unwrap(),
    )
    .unwrap();
    let last = spool::write_batch_file(
        dir.path(),
        &Batch {
            batch_id: Uuid::new_v4(),
            ..good[2].clone()
        },
    )
    .unwrap();
    // Modification times contradict the names: the sequence in the name wins.
    for (i, f) in paths.iter().chain([&last]).enumerate() {
        fs::File::options()
            .write(true)
            .open(f)
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(10 * i as u64))
            .unwrap();
    }
    let on_disk: u64 = names(dir.path())
        .iter()
        .map(|(p, _)| p.metadata().unwrap().len())
        .sum();

    let (mut p, clock) = open(config(Some(dir.path().to_path_buf())));
    let stats = p.stats();
    assert_eq!(stats.spooled_batches, 6, "nothing read, nothing judged yet");
    assert_eq!(stats.spooled_bytes, on_disk);
    assert_eq!(stats.dropped_for(CORRUPT), 0);

    let batches = drain(&mut p, &clock);
    let expected: Vec<Uuid> = good
        .iter()
        .chain([&good[2]])
        .flat_map(|b| b.events.iter().map(|e| e.id))
        .collect();
    assert_eq!(event_ids(&batches), expected);
    // Counted by the item counts their names claim.
    assert_eq!(p.stats().dropped_for(CORRUPT), 9);
    assert_eq!(reported(&batches, CORRUPT), 9);
    assert!(names(dir.path()).is_empty());
}

#[test]
fn old_format_files_are_migrated_and_delivered_in_mtime_order() {
    let dir = tempfile::tempdir().unwrap();
    let batches: Vec<Batch> = (0..3)
        .map(|n| Batch {
            batch_id: Uuid::new_v4(),
            sdk: sdk(),
            impressions: vec![],
            events: vec![event(n)],
            dropped: vec![],
        })
        .collect();
    for (i, b) in batches.iter().enumerate() {
        let path = dir.path().join(format!("{}.batch", b.batch_id));
        fs::write(&path, spool::encode_batch(b).unwrap()).unwrap();
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(100 - i as u64))
            .unwrap();
    }
    let (mut p, clock) = open(config(Some(dir.path().to_path_buf())));
    let migrated = names(dir.path());
    assert_eq!(migrated.len(), 3);
    assert_eq!(
        migrated.iter().map(|(_, n)| n.id).collect::<Vec<_>>(),
        batches.iter().map(|b| b.batch_id).collect::<Vec<_>>()
    );
    // A batch written now sorts after the migrated ones.
    p.push_event(event(3));
    p.flush();
    let delivered = drain(&mut p, &clock);
    assert_eq!(
        delivered
            .iter()
            .map(|b| b.events[0].key.clone())
            .collect::<Vec<_>>(),
        (0..4).map(|n| format!("user-{n}")).collect::<Vec<_>>()
    );
}

#[test]
fn files_written_while_running_are_sent_after_a_rescan() {
    let dir = tempfile::tempdir().unwrap();
    let (mut p, clock) = open(config(Some(dir.path().to_path_buf())));
    assert!(p.is_idle());
    // Another thread of the same process crashes without killing it.
    let crash = crash_batch(1, vec![]);
    let writer = {
        let dir = dir.path().to_path_buf();
        let crash = crash.clone();
        std::thread::spawn(move || spool::write_batch_file(&dir, &crash).unwrap())
    };
    let path = writer.join().unwrap();
    // Not seen before the next rescan, which the uploader is told to wait for.
    let rescan_ms = ms(RESCAN_INTERVAL);
    assert_eq!(expect_wait(p.next_upload()), rescan_ms);
    assert!(p.is_idle());
    clock.advance(rescan_ms as i64 - 1);
    assert_eq!(expect_wait(p.next_upload()), 1);
    clock.advance(1);
    let r = expect_upload(p.next_upload());
    assert_eq!(r.id, crash.batch_id);
    assert_eq!(decode(&r.body), crash);
    p.upload_result(r.id, ok());
    assert!(!path.exists());
    assert_eq!(p.stats().delivered_items, 1);

    // An explicit rescan adds unknown files once, and never the pipeline's own.
    let own = event(1);
    p.push_event(own.clone());
    p.flush();
    assert_eq!(p.rescan(), 0);
    let other = crash_batch(2, vec![]);
    spool::write_batch_file(dir.path(), &other).unwrap();
    assert_eq!(p.rescan(), 1);
    assert_eq!(p.rescan(), 0);
    let r = expect_upload(p.next_upload());
    p.upload_result(r.id, UploadResult::NetworkError);
    assert_eq!(p.rescan(), 0, "a batch being retried is still known");
    assert_eq!(decode(&r.body).events[0].id, own.id, "oldest first");
    let batches = drain(&mut p, &clock);
    assert_eq!(event_ids(&batches), vec![own.id, other.events[0].id]);
    assert!(names(dir.path()).is_empty());
}
