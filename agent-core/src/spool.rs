//! The on-disk spool: one file per batch, named as in [`name`] (sequence, batch uuid, item count,
//! crash marker), holding exactly the upload body (gzip-compressed JSON of [`Batch`]; plain JSON
//! without the `gzip` feature, see [`BODY_ENCODING`]). Files are
//! written to a `.tmp` name in the same directory, synced, then renamed, so a reader never sees a
//! half-written batch. Indexing the spool reads names and sizes only; bodies are read when sent.

pub mod name;

use std::fs;
#[cfg(feature = "gzip")]
use std::io::Read;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

#[cfg(feature = "gzip")]
use flate2::Compression;
#[cfg(feature = "gzip")]
use flate2::read::GzDecoder;
#[cfg(feature = "gzip")]
use flate2::write::GzEncoder;
use uuid::Uuid;

use crate::wire::{Batch, DropCount};
use name::{micros, observe_seq};

pub use name::{BATCH_EXT, CRASH_MARK, SpoolName, holds_crash};
/// Extension of a file being written (deleted when found at start: a crash interrupted it).
pub const TEMP_EXT: &str = "tmp";
/// Age after which a temp file is taken for a write that died, and deleted.
pub const TEMP_GRACE: Duration = Duration::from_secs(60);
/// Most bytes a spooled batch may inflate to; a larger file is treated as corrupt (gzip bomb).
pub const MAX_INFLATED_BYTES: u64 = 64 * 1024 * 1024;

/// Why a spool file cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The file cannot be read.
    #[error("spool file unreadable: {}", io_text(.0))]
    Io(#[from] std::io::Error),
    /// The file is not a gzip JSON batch.
    #[error("spool file corrupt: {0}")]
    Corrupt(String),
}

impl SpoolError {
    /// True when the batch is gone for good: corrupt, or its file deleted. Any other I/O error
    /// (no file descriptors left, a storage that failed for now) may pass, and the file is kept.
    pub fn is_lost(&self) -> bool {
        match self {
            SpoolError::Corrupt(_) => true,
            SpoolError::Io(e) => e.kind() == std::io::ErrorKind::NotFound,
        }
    }
}

/// An I/O error's text in an error message. The browser build has no file system, so there no
/// I/O error ever reaches a message: leaving the text out keeps std's I/O error formatting (a
/// description of every `ErrorKind`, OS codes) out of the wasm.
#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
pub(crate) fn io_text(e: &std::io::Error) -> &std::io::Error {
    e
}

/// An I/O error's text in an error message (browser build: never reached, see above).
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub(crate) fn io_text(_: &std::io::Error) -> &'static str {
    "I/O error"
}

/// A path in an error message (the browser build has no paths: its path printing is left out).
#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
pub(crate) fn path_text(path: &Path) -> std::path::Display<'_> {
    path.display()
}

/// A path in an error message (browser build: never reached, see [`io_text`]).
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub(crate) fn path_text(_: &Path) -> &'static str {
    "(no file system)"
}

/// `Content-Encoding` of upload bodies: gzip with the `gzip` feature, none (plain JSON) without.
pub const BODY_ENCODING: Option<&str> = if cfg!(feature = "gzip") {
    Some("gzip")
} else {
    None
};

/// Serialises and encodes a batch: the upload body and the spool file content.
pub fn encode_batch(batch: &Batch) -> std::io::Result<Vec<u8>> {
    encode_body(&batch_json(batch)?)
}

/// A batch's JSON text: serde_json's serializer natively.
#[cfg(not(target_arch = "wasm32"))]
pub fn batch_json(batch: &Batch) -> std::io::Result<Vec<u8>> {
    serde_json::to_vec(batch).map_err(std::io::Error::other)
}

/// A batch's JSON text: in the browser by the small writer (`wire::to_json`, the same bytes),
/// which keeps serde's serializer and the derived `Serialize` impls out of the wasm.
#[cfg(target_arch = "wasm32")]
pub fn batch_json(batch: &Batch) -> std::io::Result<Vec<u8>> {
    Ok(crate::wire::to_json(batch))
}

/// Encodes batch JSON as an upload body ([`BODY_ENCODING`]): gzip, or the JSON as it is.
pub fn encode_body(raw: &[u8]) -> std::io::Result<Vec<u8>> {
    #[cfg(feature = "gzip")]
    return gzip(raw);
    #[cfg(not(feature = "gzip"))]
    return Ok(raw.to_vec());
}

/// Gzips bytes (fast level: the worker compresses often, bodies are small).
#[cfg(feature = "gzip")]
pub fn gzip(raw: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = GzEncoder::new(Vec::with_capacity(raw.len() / 3 + 64), Compression::fast());
    enc.write_all(raw)?;
    enc.finish()
}

/// Inflates and parses a gzip JSON batch, refusing anything that inflates beyond
/// [`MAX_INFLATED_BYTES`].
pub fn decode_batch(body: &[u8]) -> Result<Batch, SpoolError> {
    let json = inflate(body)?;
    parse_batch(&json)
}

/// The derived `Deserialize`: one pass, no intermediate tree.
#[cfg(not(target_arch = "wasm32"))]
fn parse_batch(json: &[u8]) -> Result<Batch, SpoolError> {
    serde_json::from_slice(json).map_err(|e| SpoolError::Corrupt(format!("json: {e}")))
}

/// In the browser, through a `Value` (the small parser) and the hand-written reader: neither
/// serde_json's parser nor a derived `Deserialize` (and none of serde's error formatting) in the
/// wasm.
#[cfg(target_arch = "wasm32")]
fn parse_batch(json: &[u8]) -> Result<Batch, SpoolError> {
    let value =
        crate::wire::parse_json(json).map_err(|e| SpoolError::Corrupt(format!("json: {e}")))?;
    crate::wire::batch_from_value(&value).map_err(|e| SpoolError::Corrupt(format!("json: {e}")))
}

/// Inflates a gzip body (refusing more than [`MAX_INFLATED_BYTES`]): the plain JSON some
/// transports must send, e.g. `sendBeacon`, which cannot set `Content-Encoding`. Without the
/// `gzip` feature bodies are plain JSON already and are returned as they are (same limit).
#[cfg(not(feature = "gzip"))]
pub fn inflate(body: &[u8]) -> Result<Vec<u8>, SpoolError> {
    if body.len() as u64 > MAX_INFLATED_BYTES {
        return Err(SpoolError::Corrupt("inflates beyond the limit".into()));
    }
    Ok(body.to_vec())
}

/// Inflates a gzip body (refusing more than [`MAX_INFLATED_BYTES`]): the plain JSON some
/// transports must send, e.g. `sendBeacon`, which cannot set `Content-Encoding`.
#[cfg(feature = "gzip")]
pub fn inflate(body: &[u8]) -> Result<Vec<u8>, SpoolError> {
    let mut json = Vec::new();
    GzDecoder::new(body)
        .take(MAX_INFLATED_BYTES + 1)
        .read_to_end(&mut json)
        .map_err(|e| SpoolError::Corrupt(format!("gzip: {e}")))?;
    if json.len() as u64 > MAX_INFLATED_BYTES {
        return Err(SpoolError::Corrupt("inflates beyond the limit".into()));
    }
    Ok(json)
}

/// Writes an already encoded batch body under `name`: temp file, sync, rename, so a reader
/// (another thread's rescan included) never sees a half-written batch.
pub fn write_body(dir: &Path, name: &SpoolName, body: &[u8]) -> std::io::Result<PathBuf> {
    fs::create_dir_all(dir)?;
    let file_name = name.file_name();
    let final_path = dir.join(&file_name);
    let temp_path = dir.join(format!("{file_name}.{TEMP_EXT}"));
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
/// cannot wait for the worker). A running pipeline picks it up at its next rescan, a new one
/// at start; a batch holding a crash event is named as such and evicted last.
pub fn write_batch_file(dir: &Path, batch: &Batch) -> std::io::Result<PathBuf> {
    let body = encode_batch(batch)?;
    write_body(dir, &SpoolName::for_batch(batch), &body)
}

/// Reads a spool file, returning its body (the upload body) and the batch decoded from it,
/// checked to be the batch its name says.
pub fn read_batch(path: &Path, id: Uuid) -> Result<(Vec<u8>, Batch), SpoolError> {
    let body = fs::read(path)?;
    check_body(&body, id).map(|batch| (body, batch))
}

/// Decodes an upload body, checking it holds batch `id`.
pub fn check_body(body: &[u8], id: Uuid) -> Result<Batch, SpoolError> {
    let batch = decode_batch(body)?;
    if batch.batch_id != id {
        return Err(SpoolError::Corrupt(format!(
            "holds batch {} instead of {}",
            crate::wire::uuid_text(batch.batch_id),
            crate::wire::uuid_text(id)
        )));
    }
    Ok(batch)
}

/// A batch file found in the spool, known by its name only (its body is read when uploaded).
#[derive(Debug, Clone)]
pub struct SpooledFile {
    /// The file.
    pub path: PathBuf,
    /// What its name says.
    pub name: SpoolName,
    /// File size.
    pub bytes: u64,
    /// Drop counts the batch carries, when its body was read (old-format files migrated).
    pub dropped: Option<Vec<DropCount>>,
}

/// What a scan of the spool found.
#[derive(Debug, Default)]
pub struct Scan {
    /// Batches, oldest first (by the sequence number in their names).
    pub files: Vec<SpooledFile>,
    /// Corrupt old-format batch files found (and deleted).
    pub corrupt: u64,
}

/// Indexes the batch files of `dir` (creating it if missing) from their names and sizes only.
/// Old-format files (`<uuid>.batch`, or any other `.batch` name) are read once, renamed to the
/// current format with their modification time as sequence number, or deleted when corrupt.
/// Temp files older than [`TEMP_GRACE`] are deleted; other files are left alone.
pub fn scan(dir: &Path) -> std::io::Result<Scan> {
    index(dir, true)
}

/// Like [`scan`] but cheaper, for a running pipeline looking for files written behind its back
/// (e.g. by [`write_batch_file`] from a crash handler): old-format names are ignored.
pub fn rescan(dir: &Path) -> std::io::Result<Scan> {
    index(dir, false)
}

fn index(dir: &Path, migrate: bool) -> std::io::Result<Scan> {
    fs::create_dir_all(dir)?;
    let mut out = Scan::default();
    let now = SystemTime::now();
    for entry in fs::read_dir(dir)? {
        let Ok(entry) = entry else { continue };
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let path = entry.path();
        let Some(file_name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext == TEMP_EXT {
            // A young temp file may be a crash handler's write in progress in another thread.
            let stale = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .is_some_and(|age| age >= TEMP_GRACE);
            if stale {
                let _ = fs::remove_file(&path);
            }
            continue;
        }
        if ext != BATCH_EXT {
            continue;
        }
        if let Some(name) = SpoolName::parse(file_name) {
            observe_seq(name.seq);
            out.files.push(SpooledFile {
                path,
                name,
                bytes: meta.len(),
                dropped: None,
            });
        } else if migrate {
            match migrate_file(dir, &path, &meta) {
                Ok(file) => out.files.push(file),
                Err(e) if e.is_lost() => out.corrupt += 1,
                // Unreadable for now: left for the next scan.
                Err(_) => {}
            }
        }
    }
    out.files
        .sort_by(|a, b| (a.name.seq, &a.path).cmp(&(b.name.seq, &b.path)));
    Ok(out)
}

/// Renames an old-format batch file to the current format (an error when it cannot be read; the
/// file deleted when it is lost, see [`SpoolError::is_lost`]). A file that cannot be renamed is
/// indexed under its old path.
fn migrate_file(dir: &Path, path: &Path, meta: &fs::Metadata) -> Result<SpooledFile, SpoolError> {
    let batch = fs::read(path)
        .map_err(SpoolError::from)
        .and_then(|body| decode_batch(&body))
        .inspect_err(|e| {
            if e.is_lost() {
                let _ = fs::remove_file(path);
            }
        })?;
    let seq = meta.modified().map(micros).unwrap_or(0);
    observe_seq(seq);
    let name = SpoolName {
        seq,
        ..SpoolName::for_batch(&batch)
    };
    let new_path = dir.join(name.file_name());
    let path = match fs::rename(path, &new_path) {
        Ok(()) => new_path,
        Err(_) => path.to_path_buf(),
    };
    Ok(SpooledFile {
        path,
        name,
        bytes: meta.len(),
        dropped: Some(batch.dropped),
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

    fn age(path: &Path, secs: u64) {
        let f = fs::File::options().write(true).open(path).unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(secs))
            .unwrap();
    }

    #[test]
    fn io_failures_name_the_cause_and_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("gone.batch");
        let err = read_batch(&missing, Uuid::new_v4()).unwrap_err();
        let io = fs::read(&missing).unwrap_err();
        assert_eq!(err.to_string(), format!("spool file unreadable: {io}"));

        // A file where the spool directory should be.
        let file = dir.path().join("file");
        fs::write(&file, b"x").unwrap();
        let config = crate::pipeline::PipelineConfig {
            spool_dir: Some(file.join("spool")),
            ..crate::pipeline::PipelineConfig::default_for("k", batch().sdk)
        };
        let clock = std::sync::Arc::new(crate::clock::SystemClock);
        let err = crate::pipeline::Pipeline::new(config, clock).unwrap_err();
        let io = fs::create_dir_all(file.join("spool")).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("spool directory {}: {io}", file.join("spool").display())
        );
    }

    #[test]
    fn round_trip_and_scan_by_name_only() {
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join("nested/spool");
        let b = batch();
        let path = write_batch_file(&spool, &b).unwrap();
        let name = SpoolName::parse(path.file_name().unwrap().to_str().unwrap()).unwrap();
        assert_eq!((name.id, name.items, name.crash), (b.batch_id, 0, false));
        assert_eq!(read_batch(&path, b.batch_id).unwrap().1, b);
        assert!(matches!(
            read_batch(&path, Uuid::new_v4()),
            Err(SpoolError::Corrupt(_))
        ));
        // A corrupt file in the current format is only found when read (at upload).
        let bad = SpoolName::new(Uuid::new_v4(), 4, false);
        fs::write(spool.join(bad.file_name()), b"not gzip").unwrap();
        fs::write(spool.join("old.tmp"), b"half").unwrap();
        age(&spool.join("old.tmp"), 3600);
        fs::write(spool.join("young.tmp"), b"being written").unwrap();
        fs::write(spool.join("bad.batch"), b"not gzip").unwrap();
        fs::write(spool.join("notes.txt"), b"keep me").unwrap();
        let found = scan(&spool).unwrap();
        assert_eq!(found.corrupt, 1);
        let names: Vec<SpoolName> = found.files.iter().map(|f| f.name).collect();
        assert_eq!(names, vec![name, bad]);
        assert_eq!(found.files[0].bytes, fs::metadata(&path).unwrap().len());
        assert!(found.files.iter().all(|f| f.dropped.is_none()));
        assert!(!spool.join("old.tmp").exists());
        assert!(spool.join("young.tmp").exists());
        assert!(!spool.join("bad.batch").exists());
        assert!(spool.join("notes.txt").exists());
    }

    #[test]
    fn old_format_files_are_migrated_in_mtime_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut crash = batch();
        crash.events.push(crate::wire::Event {
            id: Uuid::new_v4(),
            key: "k".into(),
            traffic_type: "user".into(),
            event_type: "app.crash".into(),
            value: None,
            ts: 0,
            properties: Default::default(),
        });
        let plain = batch();
        let current = write_batch_file(dir.path(), &batch()).unwrap();
        for (b, secs) in [(&crash, 10), (&plain, 20)] {
            let old = dir.path().join(format!("{}.batch", b.batch_id));
            fs::write(&old, encode_batch(b).unwrap()).unwrap();
            age(&old, secs);
        }
        let found = scan(dir.path()).unwrap();
        assert_eq!(found.corrupt, 0);
        let ids: Vec<Uuid> = found.files.iter().map(|f| f.name.id).collect();
        assert_eq!(ids[..2], [plain.batch_id, crash.batch_id]);
        assert_eq!(found.files[2].path, current);
        assert!(found.files[1].name.crash && !found.files[0].name.crash);
        assert_eq!(found.files[1].name.items, 1);
        assert_eq!(found.files[0].dropped.as_ref(), Some(&plain.dropped));
        for f in &found.files {
            let on_disk = f.path.file_name().unwrap().to_str().unwrap();
            assert_eq!(SpoolName::parse(on_disk), Some(f.name));
        }
        // The rescan of a running pipeline ignores old-format names.
        let old = dir.path().join(format!("{}.batch", Uuid::new_v4()));
        fs::write(&old, encode_batch(&batch()).unwrap()).unwrap();
        assert_eq!(rescan(dir.path()).unwrap().files.len(), 3);
        assert!(old.exists());
    }

    #[cfg(feature = "gzip")]
    #[test]
    fn refuses_gzip_bomb() {
        let zeros = vec![b' '; (MAX_INFLATED_BYTES + 10) as usize];
        let body = gzip(&zeros).unwrap();
        assert!(matches!(decode_batch(&body), Err(SpoolError::Corrupt(_))));
    }
}
