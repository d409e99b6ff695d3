//! The telemetry pipeline: items in, batches out. Owned by the agent's worker thread.
//!
//! API SKELETON written by the lead so the agent compiles against it; the pipeline helper
//! replaces every `unimplemented!`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::clock::Clock;
use crate::upload::{UploadResult, UploadTask};
use crate::wire::{DropCount, Event, Impression, SdkInfo};

/// Limits and settings of the pipeline.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// SDK key sent as `Authorization: Bearer` with every upload.
    pub sdk_key: String,
    /// Who we are, sent in every batch.
    pub sdk: SdkInfo,
    /// Most items in one batch.
    pub max_batch_items: usize,
    /// Most gzipped bytes in one batch body.
    pub max_batch_bytes: usize,
    /// Most items held in memory (pending + sealed batches not yet spooled); beyond it items are
    /// dropped and counted as `queue_full`.
    pub max_queue_items: usize,
    /// Where batches are spooled (None: memory only).
    pub spool_dir: Option<PathBuf>,
    /// Spool cap in bytes (oldest dropped first).
    pub spool_max_bytes: u64,
    /// Spool cap in files (oldest dropped first).
    pub spool_max_files: usize,
    /// How long items may wait before a partial batch is sealed.
    pub flush_interval: Duration,
    /// First retry delay after a network error or 5xx.
    pub backoff_base: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
}

/// Counters describing the pipeline's state, for tests, benchmarks and diagnostics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PipelineStats {
    /// Items waiting in memory (pending and sealed).
    pub queued_items: usize,
    /// Batches on disk.
    pub spooled_batches: usize,
    /// Bytes on disk.
    pub spooled_bytes: u64,
    /// Items delivered (2xx) since start.
    pub delivered_items: u64,
    /// Items dropped since start, by reason (not reset when reported).
    pub dropped: Vec<DropCount>,
}

/// A pipeline failure (only opening the spool can fail; pushes never do).
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The spool directory cannot be used.
    #[error("spool directory {path}: {source}")]
    Spool {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Batches items, deduplicates impressions, spools batches and decides uploads and retries.
#[derive(Debug)]
pub struct Pipeline {}

impl Pipeline {
    /// Opens the pipeline, indexing batches already in the spool (crashes of the last run included).
    pub fn new(_config: PipelineConfig, _clock: Arc<dyn Clock>) -> Result<Self, PipelineError> {
        unimplemented!()
    }

    /// Adds an impression (deduplicated per key, flag, treatment, version, label and clock hour).
    pub fn push_impression(&mut self, _impression: Impression) {
        unimplemented!()
    }

    /// Adds an event.
    pub fn push_event(&mut self, _event: Event) {
        unimplemented!()
    }

    /// Seals whatever is pending into a batch now (and spools it), so it is uploaded next.
    pub fn flush(&mut self) {
        unimplemented!()
    }

    /// The next thing the uploader should do.
    pub fn next_upload(&mut self) -> UploadTask {
        unimplemented!()
    }

    /// Takes back the result of an upload handed out by `next_upload`.
    pub fn upload_result(&mut self, _id: Uuid, _result: UploadResult) {
        unimplemented!()
    }

    /// True when nothing is pending, sealed, spooled or in flight.
    pub fn is_idle(&self) -> bool {
        unimplemented!()
    }

    /// Current counters.
    pub fn stats(&self) -> PipelineStats {
        unimplemented!()
    }

    /// Marks the pipeline shut down: `next_upload` answers `Done` once nothing is left to send.
    pub fn shutdown(&mut self) {
        unimplemented!()
    }
}
