//! The on-disk spool: bounded memory while the collector is down, caps, restarts, crash files.

#[path = "pipeline_common/mod.rs"]
mod common;

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use agent_core::pipeline::{CORRUPT, Pipeline, SPOOL_FULL};
use agent_core::spool;
use agent_core::upload::{UploadResult, UploadTask};
use agent_core::wire::{Batch, DropCount};
use common::*;

fn batch_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "batch"))
        .collect();
    v.sort();
    v
}

#[test]
fn collector_down_keeps_memory_bounded_and_spool_capped() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(Some(dir.path().to_path_buf()));
    c.max_queue_items = 200;
    c.max_batch_items = 100;
    c.spool_max_files = 20;
    c.spool_max_bytes = 10 * 1024 * 1024;
    let (mut p, clock) = open(c);
    const N: usize = 100_000;
    for n in 0..N {
        p.push_event(event(n));
        let stats = p.stats();
        assert!(stats.queued_items <= 200, "{stats:?}");
        assert!(stats.spooled_batches <= 20, "{stats:?}");
        if n % 997 == 0 {
            match p.next_upload() {
                UploadTask::Upload(r) => p.upload_result(r.id, UploadResult::NetworkError),
                UploadTask::Wait { ms } => clock.advance(ms as i64),
                UploadTask::Done => panic!("not shut down"),
            }
        }
    }
    let stats = p.stats();
    assert_eq!(stats.spooled_batches, 20);
    assert_eq!(batch_files(dir.path()).len(), 20);
    let on_disk: u64 = batch_files(dir.path())
        .iter()
        .map(|f| f.metadata().unwrap().len())
        .sum();
    assert_eq!(stats.spooled_bytes, on_disk);
    let spooled_items: usize = batch_files(dir.path())
        .iter()
        .map(|f| spool::decode_batch(&fs::read(f).unwrap()).unwrap().len())
        .sum();
    let spool_full = stats.dropped_for(SPOOL_FULL);
    assert!(spool_full > 0);
    assert_eq!(spool_full as usize + spooled_items + stats.queued_items, N);

    // The collector comes back: the newest items arrive, the oldest were dropped and counted.
    let batches = drain(&mut p, &clock);
    let keys: Vec<String> = batches
        .iter()
        .flat_map(|b| b.events.iter().map(|e| e.key.clone()))
        .collect();
    // Sealing the last pending batch at shutdown may have evicted one more.
    let spool_full = p.stats().dropped_for(SPOOL_FULL);
    let kept = N - spool_full as usize;
    assert_eq!(keys.len(), kept);
    let contiguous_newest = keys
        .iter()
        .zip(N - kept..N)
        .all(|(k, n)| *k == format!("user-{n}"));
    assert!(contiguous_newest, "first kept {:?}", keys.first());
    let reported: u64 = batches
        .iter()
        .flat_map(|b| b.dropped.iter())
        .filter(|d| d.reason == SPOOL_FULL)
        .map(|d| d.count)
        .sum();
    assert_eq!(reported, spool_full);
    assert!(batch_files(dir.path()).is_empty());
    assert_eq!(p.stats().spooled_bytes, 0);
}

#[test]
fn spool_byte_cap_drops_oldest() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(Some(dir.path().to_path_buf()));
    c.max_batch_items = 10;
    c.spool_max_bytes = 2_000;
    let (mut p, clock) = open(c);
    for n in 0..200 {
        p.push_event(event(n));
        assert!(p.stats().spooled_bytes <= 2_000);
    }
    let dropped = p.stats().dropped_for(SPOOL_FULL);
    assert!(dropped > 0 && dropped % 10 == 0, "dropped {dropped}");
    let batches = drain(&mut p, &clock);
    let first = &batches[0].events[0].key;
    assert_eq!(first, &format!("user-{dropped}"));
}

/// Drop counts not yet in a batch at shutdown are spooled with one, so the next run sends them
/// (a batch already sealed does not take them; a drops-only batch is sealed only when nothing
/// else is queued).
#[test]
fn drop_counts_left_at_shutdown_reach_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(Some(dir.path().to_path_buf()));
    {
        let (mut p, _clock) = open(c.clone());
        p.push_event(event(0));
        p.flush();
        let mut bad = event(1);
        bad.key = String::new();
        assert!(!p.push_event(bad));
        p.shutdown();
    }
    let (mut p, clock) = open(c);
    let batches = drain(&mut p, &clock);
    let invalid: u64 = batches
        .iter()
        .flat_map(|b| &b.dropped)
        .filter(|d| d.reason == "invalid")
        .map(|d| d.count)
        .sum();
    assert_eq!(invalid, 1);
    assert_eq!(batches.iter().map(|b| b.events.len()).sum::<usize>(), 1);
}

#[test]
fn a_restart_delivers_spooled_batches_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(Some(dir.path().to_path_buf()));
    c.max_batch_items = 10;
    let pushed: Vec<_> = (0..30).map(event).collect();
    let first_run_ids = {
        let (mut p, _clock) = open(c.clone());
        for e in &pushed {
            p.push_event(e.clone());
        }
        let r = expect_upload(p.next_upload());
        p.upload_result(r.id, UploadResult::NetworkError);
        assert_eq!(p.stats().spooled_batches, 3);
        assert_eq!(p.stats().queued_items, 0);
        r.id
    };
    // Modification times say the opposite order: the sequence in the file names wins.
    let files = batch_files(dir.path());
    assert_eq!(files.len(), 3);
    let base = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    for f in &files {
        let b = spool::decode_batch(&fs::read(f).unwrap()).unwrap();
        let index = pushed.iter().position(|e| e.id == b.events[0].id).unwrap() as u64;
        let file = fs::File::options().write(true).open(f).unwrap();
        file.set_modified(base + Duration::from_secs(100 - index))
            .unwrap();
    }
    let (mut p, clock) = open(c);
    assert_eq!(p.stats().spooled_batches, 3);
    assert!(!p.is_idle());
    let first = expect_upload(p.next_upload());
    assert_eq!(first.id, first_run_ids, "the same batch, with the same id");
    p.upload_result(first.id, ok());
    let mut batches = vec![decode(&first.body)];
    batches.extend(drain(&mut p, &clock));
    assert_eq!(
        event_ids(&batches),
        pushed.iter().map(|e| e.id).collect::<Vec<_>>()
    );
    assert!(batch_files(dir.path()).is_empty());
}

#[test]
fn write_batch_file_is_picked_up_by_the_next_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let spool_dir = dir.path().join("not-yet-created");
    let crash = Batch {
        batch_id: uuid::Uuid::new_v4(),
        sdk: sdk(),
        impressions: vec![impression("u1", "default rule", T0)],
        events: vec![event(1)],
        dropped: vec![DropCount {
            reason: "queue_full".into(),
            count: 2,
        }],
    };
    let path = spool::write_batch_file(&spool_dir, &crash).unwrap();
    assert!(path.starts_with(&spool_dir));
    let (mut p, clock) = open(config(Some(spool_dir.clone())));
    let r = expect_upload(p.next_upload());
    assert_eq!(r.id, crash.batch_id);
    assert_eq!(decode(&r.body), crash);
    p.upload_result(r.id, ok());
    assert_eq!(p.stats().delivered_items, 2);
    assert!(!path.exists());
    assert!(drain(&mut p, &clock).is_empty());
}

#[test]
fn corrupt_and_temp_files_are_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let good = Batch {
        batch_id: uuid::Uuid::new_v4(),
        sdk: sdk(),
        impressions: vec![],
        events: vec![event(7)],
        dropped: vec![],
    };
    spool::write_batch_file(dir.path(), &good).unwrap();
    fs::write(
        dir.path().join(format!("{}.batch", uuid::Uuid::new_v4())),
        b"\x1f\x8bnot really",
    )
    .unwrap();
    let truncated = spool::encode_batch(&good).unwrap();
    fs::write(
        dir.path().join(format!("{}.batch", uuid::Uuid::new_v4())),
        &truncated[..truncated.len() / 2],
    )
    .unwrap();
    fs::write(dir.path().join("half-written.tmp"), b"partial").unwrap();
    // Old enough not to be a write in progress in another thread.
    fs::File::options()
        .write(true)
        .open(dir.path().join("half-written.tmp"))
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
    let (mut p, clock) = open(config(Some(dir.path().to_path_buf())));
    assert_eq!(p.stats().dropped_for(CORRUPT), 2);
    assert_eq!(p.stats().spooled_batches, 1);
    assert!(!dir.path().join("half-written.tmp").exists());
    let batches = drain(&mut p, &clock);
    assert_eq!(event_ids(&batches), vec![good.events[0].id]);
    let reported: Vec<DropCount> = batches.iter().flat_map(|b| b.dropped.clone()).collect();
    assert_eq!(
        reported,
        vec![DropCount {
            reason: CORRUPT.into(),
            count: 2
        }]
    );
}

#[test]
fn an_unusable_spool_dir_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    fs::write(&file, b"x").unwrap();
    let err = Pipeline::new(
        config(Some(file.clone())),
        agent_core::clock::ManualClock::new(T0),
    )
    .unwrap_err();
    assert!(err.to_string().contains("a-file"), "{err}");
}

#[test]
fn a_failing_spool_falls_back_to_the_memory_bound() {
    let dir = tempfile::tempdir().unwrap();
    let spool_dir = dir.path().join("spool");
    let mut c = config(Some(spool_dir.clone()));
    c.max_batch_items = 10;
    c.max_queue_items = 30;
    let (mut p, clock) = open(c);
    // The spool directory disappears and a file takes its place: writes fail from now on.
    fs::remove_dir_all(&spool_dir).unwrap();
    fs::write(&spool_dir, b"in the way").unwrap();
    for n in 0..100 {
        p.push_event(event(n));
        assert!(p.stats().queued_items <= 30);
    }
    let stats = p.stats();
    assert_eq!(stats.spooled_batches, 0);
    assert_eq!(stats.queued_items, 30);
    assert_eq!(stats.dropped_for(agent_core::pipeline::QUEUE_FULL), 70);
    let batches = drain(&mut p, &clock);
    assert_eq!(batches.iter().map(Batch::len).sum::<usize>(), 30);
}
