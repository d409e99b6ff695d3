//! Helpers shared by the pipeline tests.
#![allow(dead_code)]

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use agent_core::clock::ManualClock;
use agent_core::pipeline::{Pipeline, PipelineConfig};
use agent_core::upload::{UploadRequest, UploadResult, UploadTask};
use agent_core::wire::{Batch, Event, Impression, SdkInfo};
use uuid::Uuid;

/// An exact clock hour, so hour boundaries in tests are obvious.
pub const T0: i64 = 3_600_000 * 480_000;

pub fn sdk() -> SdkInfo {
    SdkInfo {
        name: "agent-core-test".into(),
        version: "0.0.1".into(),
        platform: "rust".into(),
    }
}

pub fn config(spool: Option<PathBuf>) -> PipelineConfig {
    let mut c = PipelineConfig::default_for("sdk-key-1", sdk());
    c.spool_dir = spool;
    c
}

pub fn open(c: PipelineConfig) -> (Pipeline, Arc<ManualClock>) {
    let clock = ManualClock::new(T0);
    let p = Pipeline::new(c, clock.clone()).unwrap();
    (p, clock)
}

pub fn event(n: usize) -> Event {
    Event {
        id: Uuid::new_v4(),
        key: format!("user-{n}"),
        traffic_type: "user".into(),
        event_type: "checkout".into(),
        value: Some(n as f64),
        ts: T0,
        properties: Default::default(),
    }
}

pub fn impression(key: &str, label: &str, ts: i64) -> Impression {
    Impression {
        id: Uuid::new_v4(),
        key: key.into(),
        flag: "new-checkout".into(),
        treatment: "on".into(),
        version: 7,
        label: label.into(),
        ts,
        bucketing_key: None,
        count: 1,
    }
}

pub fn ok() -> UploadResult {
    UploadResult::Http {
        status: 202,
        retry_after: None,
    }
}

pub fn status(code: u16) -> UploadResult {
    UploadResult::Http {
        status: code,
        retry_after: None,
    }
}

/// Decodes a body independently of the pipeline's own decoder.
pub fn decode(body: &[u8]) -> Batch {
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(body)
        .read_to_end(&mut json)
        .unwrap();
    serde_json::from_slice(&json).unwrap()
}

pub fn expect_upload(task: UploadTask) -> UploadRequest {
    match task {
        UploadTask::Upload(r) => r,
        other => panic!("expected an upload, got {other:?}"),
    }
}

pub fn expect_wait(task: UploadTask) -> u64 {
    match task {
        UploadTask::Wait { ms } => ms,
        other => panic!("expected a wait, got {other:?}"),
    }
}

/// Shuts down and delivers everything (2xx), advancing the clock over any wait.
pub fn drain(p: &mut Pipeline, clock: &ManualClock) -> Vec<Batch> {
    p.shutdown();
    let mut out = Vec::new();
    for _ in 0..100_000 {
        match p.next_upload() {
            UploadTask::Upload(r) => {
                out.push(decode(&r.body));
                p.upload_result(r.id, ok());
            }
            UploadTask::Wait { ms } => clock.advance(ms as i64),
            UploadTask::Done => return out,
        }
    }
    panic!("pipeline never finished");
}

pub fn event_ids(batches: &[Batch]) -> Vec<Uuid> {
    batches
        .iter()
        .flat_map(|b| b.events.iter().map(|e| e.id))
        .collect()
}

pub fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}
