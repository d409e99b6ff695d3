//! The on-disk spool: one file per batch, named by its UUID, written to a temp name then renamed.
//!
//! API SKELETON written by the lead; the pipeline helper implements it.

use std::path::{Path, PathBuf};

use crate::wire::Batch;

/// Writes one batch synchronously into the spool directory (used by the crash path, which
/// cannot wait for the worker). The pipeline picks it up at its next start.
pub fn write_batch_file(_dir: &Path, _batch: &Batch) -> std::io::Result<PathBuf> {
    unimplemented!()
}
