//! Spool file names carry what the startup index needs, so opening the spool only lists the
//! directory: `<seq>-<batch uuid>-<items>[.crash].batch`. `seq` orders files oldest first across
//! threads and runs; `.crash` marks a batch holding a crash event, evicted only when nothing
//! else is left.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use uuid::Uuid;

use crate::wire::{Batch, EventClass};

/// Extension of a complete batch file.
pub const BATCH_EXT: &str = "batch";
/// Marker before [`BATCH_EXT`] of a batch that holds a crash event.
pub const CRASH_MARK: &str = "crash";

/// The last sequence number handed out in this process.
static LAST_SEQ: AtomicU64 = AtomicU64::new(0);

/// What a spool file's name says about its batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpoolName {
    /// Orders files oldest first: Unix microseconds when written, kept strictly increasing.
    pub seq: u64,
    /// The batch's id.
    pub id: Uuid,
    /// Items in the batch.
    pub items: usize,
    /// The batch holds a crash event.
    pub crash: bool,
}

impl SpoolName {
    /// A name for a batch written now.
    pub fn new(id: Uuid, items: usize, crash: bool) -> Self {
        SpoolName {
            seq: next_seq(),
            id,
            items,
            crash,
        }
    }

    /// The name of a batch about to be written now.
    pub fn for_batch(batch: &Batch) -> Self {
        SpoolName::new(batch.batch_id, batch.len(), holds_crash(batch))
    }

    /// The file name; zero-padded so names sort like their sequence numbers.
    pub fn file_name(&self) -> String {
        let crash = if self.crash {
            format!(".{CRASH_MARK}")
        } else {
            String::new()
        };
        format!(
            "{:020}-{}-{}{crash}.{BATCH_EXT}",
            self.seq, self.id, self.items
        )
    }

    /// Reads a name written by [`SpoolName::file_name`]; None for any other name.
    pub fn parse(file_name: &str) -> Option<Self> {
        let stem = file_name.strip_suffix(BATCH_EXT)?.strip_suffix('.')?;
        let (stem, crash) = match stem.strip_suffix(CRASH_MARK) {
            Some(rest) => (rest.strip_suffix('.')?, true),
            None => (stem, false),
        };
        let (seq, rest) = stem.split_once('-')?;
        let (id, items) = rest.rsplit_once('-')?;
        if !seq.bytes().all(|b| b.is_ascii_digit()) || !items.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(SpoolName {
            seq: seq.parse().ok()?,
            id: Uuid::try_parse(id).ok()?,
            items: items.parse().ok()?,
            crash,
        })
    }
}

/// True when any of the batch's events is a crash (see [`EventClass::of`]).
pub fn holds_crash(batch: &Batch) -> bool {
    batch
        .events
        .iter()
        .any(|e| EventClass::of(&e.event_type) == EventClass::Crash)
}

/// Unix microseconds of `t` (0 before the epoch).
pub fn micros(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A sequence number above every one handed out or seen in this process, near the wall clock,
/// so a file written later (by any thread) sorts later even if the clock stalls or steps back.
pub fn next_seq() -> u64 {
    let now = micros(SystemTime::now());
    let mut prev = LAST_SEQ.load(Ordering::Relaxed);
    loop {
        let next = now.max(prev.saturating_add(1));
        match LAST_SEQ.compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(actual) => prev = actual,
        }
    }
}

/// Notes a sequence number found on disk, so files written from now on sort after it (the
/// clock may have gone back since a previous run).
pub fn observe_seq(seq: u64) {
    LAST_SEQ.fetch_max(seq, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort_by_seq() {
        let a = SpoolName::new(Uuid::new_v4(), 12, false);
        let b = SpoolName::new(Uuid::new_v4(), 0, true);
        assert!(b.seq > a.seq);
        assert!(b.file_name() > a.file_name());
        assert!(b.file_name().ends_with(".crash.batch"), "{}", b.file_name());
        assert_eq!(SpoolName::parse(&a.file_name()), Some(a));
        assert_eq!(SpoolName::parse(&b.file_name()), Some(b));
    }

    #[test]
    fn foreign_names_do_not_parse() {
        let id = Uuid::new_v4();
        for name in [
            format!("{id}.batch"),
            format!("1-{id}-x.batch"),
            format!("1-{id}-+3.batch"),
            format!("1-{id}-3.crash"),
            format!("1-{id}-3.tmp"),
            format!("-{id}-3.batch"),
            "1-nope-3.batch".to_string(),
            format!("1-{id}-3crash.batch"),
            "bad.batch".to_string(),
        ] {
            assert_eq!(SpoolName::parse(&name), None, "{name}");
        }
    }

    #[test]
    fn observed_seq_moves_the_counter_forward() {
        let far = micros(SystemTime::now()) + 3_600_000_000;
        observe_seq(far);
        assert!(next_seq() > far);
    }
}
