//! The on-disk spool: one file per batch, named `<batch uuid>.batch`, holding exactly the upload
//! body (gzip-compressed JSON of [`Batch`]). Files are written to a `.tmp` name in the same
//! directory, synced, then renamed, so a reader never sees a half-written batch.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use uuid::Uuid;

use crate::wire::{Batch, DropCount};

/// Extension of a complete batch file.
pub const BATCH_EXT: &str = "batch";
/// Extension of a file being written (deleted when found at start: a crash interrupted it).
pub const TEMP_EXT: &str = "tmp";
/// Most bytes a spooled batch may inflate to; a larger file is treated as corrupt (gzip bomb).
pub const MAX_INFLATED_BYTES: u64 = 64 * 1024 * 1024;

/// Why a spool file cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The file cannot be read.
    #[error("spool file unreadable: {0}")]
    Io(#[from] std::io::Error),
    /// The file is not a gzip JSON batch.
    #[error("spool file corrupt: {0}")]
    Corrupt(String),
}

/// Serialises and gzips a batch: the upload body and the spool file content.
pub fn encode_batch(batch: &Batch) -> std::io::Result<Vec<u8>> {
    let json = serde_json::to_vec(batch).map_err(std::io::Error::other)?;
    gzip(&json)
}

/// Gzips bytes (fast level: the worker compresses often, bodies are small).
pub fn gzip(raw: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = GzEncoder::new(Vec::with_capacity(raw.len() / 3 + 64), Compression::fast());
    enc.write_all(raw)?;
    enc.finish()
}

/// Inflates and parses a gzip JSON batch, refusing anything that inflates beyond
/// [`MAX_INFLATED_BYTES`].
pub fn decode_batch(body: &[u8]) -> Result<Batch, SpoolError> {
    let mut json = Vec::new();
    GzDecoder::new(body)
        .take(MAX_INFLATED_BYTES + 1)
        .read_to_end(&mut json)
        .map_err(|e| SpoolError::Corrupt(format!("gzip: {e}")))?;
    if json.len() as u64 > MAX_INFLATED_BYTES {
        return Err(SpoolError::Corrupt("inflates beyond the limit".into()));
    }
    serde_json::from_slice(&json).map_err(|e| SpoolError::Corrupt(format!("json: {e}")))
}

/// Path of the spool file of batch `id`.
pub fn batch_path(dir: &Path, id: Uuid) -> PathBuf {
    dir.join(format!("{id}.{BATCH_EXT}"))
}

/// Writes an already encoded batch body as batch `id`'s spool file: temp file, sync, rename.
pub fn write_body(dir: &Path, id: Uuid, body: &[u8]) -> std::io::Result<PathBuf> {
    fs::create_dir_all(dir)?;
    let final_path = batch_path(dir, id);
    let temp_path = dir.join(format!("{id}.{TEMP_EXT}"));
    let written = (|| {
        let mut f = fs::File::create(&temp_path)?;
        f.write_all(body)?;
        f.sync_data()?;
        fs::rename(&temp_path, &final_path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&temp_path);
        return Err(e);
    }
    Ok(final_path)
}

/// Writes one batch synchronously into the spool directory (used by the crash path, which
/// cannot wait for the worker). The pipeline picks it up at its next start.
pub fn write_batch_file(dir: &Path, batch: &Batch) -> std::io::Result<PathBuf> {
    let body = encode_batch(batch)?;
    write_body(dir, batch.batch_id, &body)
}

/// A valid batch file found in the spool.
#[derive(Debug, Clone)]
pub struct SpooledFile {
    /// The file.
    pub path: PathBuf,
    /// The batch's id (from its content).
    pub id: Uuid,
    /// File size.
    pub bytes: u64,
    /// Items in the batch.
    pub items: usize,
    /// Drop counts the batch carries.
    pub dropped: Vec<DropCount>,
}

/// What a scan of the spool found.
#[derive(Debug, Default)]
pub struct Scan {
    /// Valid batches, oldest first (by modification time, then name).
    pub files: Vec<SpooledFile>,
    /// Corrupt batch files found (and deleted).
    pub corrupt: u64,
}

/// Indexes the batch files of `dir` (creating it if missing), deleting leftover temp files and
/// corrupt batch files. Other files are left alone.
pub fn scan(dir: &Path) -> std::io::Result<Scan> {
    fs::create_dir_all(dir)?;
    let mut found: Vec<(SystemTime, PathBuf, SpooledFile)> = Vec::new();
    let mut corrupt = 0;
    for entry in fs::read_dir(dir)? {
        let Ok(entry) = entry else { continue };
        let path = entry.path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext == TEMP_EXT {
            let _ = fs::remove_file(&path);
            continue;
        }
        if ext != BATCH_EXT || !entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
            continue;
        }
        let parsed = fs::read(&path)
            .map_err(SpoolError::from)
            .and_then(|body| decode_batch(&body).map(|b| (b, body.len() as u64)));
        match parsed {
            Ok((batch, bytes)) => {
                let mtime = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                let file = SpooledFile {
                    path: path.clone(),
                    id: batch.batch_id,
                    bytes,
                    items: batch.len(),
                    dropped: batch.dropped,
                };
                found.push((mtime, path, file));
            }
            Err(_) => {
                corrupt += 1;
                let _ = fs::remove_file(&path);
            }
        }
    }
    found.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    Ok(Scan {
        files: found.into_iter().map(|(_, _, f)| f).collect(),
        corrupt,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::SdkInfo;

    fn batch() -> Batch {
        Batch {
            batch_id: Uuid::new_v4(),
            sdk: SdkInfo {
                name: "t".into(),
                version: "0".into(),
                platform: "rust".into(),
            },
            impressions: vec![],
            events: vec![],
            dropped: vec![DropCount {
                reason: "queue_full".into(),
                count: 3,
            }],
        }
    }

    #[test]
    fn round_trip_and_scan() {
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join("nested/spool");
        let b = batch();
        let path = write_batch_file(&spool, &b).unwrap();
        assert_eq!(path, batch_path(&spool, b.batch_id));
        assert_eq!(decode_batch(&fs::read(&path).unwrap()).unwrap(), b);
        fs::write(spool.join("x.tmp"), b"half").unwrap();
        fs::write(spool.join("bad.batch"), b"not gzip").unwrap();
        fs::write(spool.join("notes.txt"), b"keep me").unwrap();
        let scan = scan(&spool).unwrap();
        assert_eq!(scan.corrupt, 1);
        assert_eq!(scan.files.len(), 1);
        assert_eq!(scan.files[0].id, b.batch_id);
        assert_eq!(scan.files[0].dropped, b.dropped);
        assert!(!spool.join("x.tmp").exists());
        assert!(!spool.join("bad.batch").exists());
        assert!(spool.join("notes.txt").exists());
    }

    #[test]
    fn refuses_gzip_bomb() {
        let zeros = vec![b' '; (MAX_INFLATED_BYTES + 10) as usize];
        let body = gzip(&zeros).unwrap();
        assert!(matches!(decode_batch(&body), Err(SpoolError::Corrupt(_))));
    }
}
