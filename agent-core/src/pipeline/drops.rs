//! Drop counts: every item the pipeline loses is counted by reason, reported with a later batch,
//! and only forgotten once a batch carrying it is delivered.

use std::collections::BTreeMap;

use crate::wire::DropCount;

/// Queue full in memory (no spool, or the spool is failing).
pub const QUEUE_FULL: &str = "queue_full";
/// Evicted from the spool by its size or file cap, oldest first.
pub const SPOOL_FULL: &str = "spool_full";
/// Refused by the collector with a 4xx.
pub const REJECTED: &str = "rejected";
/// Too large for one batch even alone, or still too large (413) after a split.
pub const TOO_LARGE: &str = "too_large";
/// A spool file that could not be read back (counted per file when its items are unknown).
pub const CORRUPT: &str = "corrupt";
/// Could not be serialised.
pub const ENCODE_ERROR: &str = "encode_error";

/// Drop counts not yet reported, and totals since start.
#[derive(Debug, Default)]
pub(crate) struct DropLedger {
    unreported: BTreeMap<String, u64>,
    totals: BTreeMap<String, u64>,
    /// When the oldest new drop not yet sealed into a batch happened.
    since_ms: Option<i64>,
}

fn add(map: &mut BTreeMap<String, u64>, reason: &str, n: u64) {
    let slot = map.entry(reason.to_string()).or_insert(0);
    *slot = slot.saturating_add(n);
}

fn to_vec(map: &BTreeMap<String, u64>) -> Vec<DropCount> {
    map.iter()
        .map(|(reason, &count)| DropCount {
            reason: reason.clone(),
            count,
        })
        .collect()
}

impl DropLedger {
    /// Counts `n` items newly dropped for `reason` at `now_ms`.
    pub fn count(&mut self, reason: &str, n: u64, now_ms: i64) {
        if n == 0 {
            return;
        }
        add(&mut self.unreported, reason, n);
        add(&mut self.totals, reason, n);
        self.since_ms.get_or_insert(now_ms);
    }

    /// Moves the unreported counts into a batch being sealed.
    pub fn take(&mut self) -> Vec<DropCount> {
        self.since_ms = None;
        let taken = to_vec(&self.unreported);
        self.unreported.clear();
        taken
    }

    /// Puts back the counts a lost batch carried. They do not make a drops-only batch due by
    /// themselves, so a rejected drops-only batch cannot loop.
    pub fn restore(&mut self, counts: &[DropCount]) {
        for c in counts {
            add(&mut self.unreported, &c.reason, c.count);
        }
    }

    /// Time of the oldest new drop not yet sealed into a batch.
    pub fn since_ms(&self) -> Option<i64> {
        self.since_ms
    }

    /// Totals since start, by reason.
    pub fn totals(&self) -> Vec<DropCount> {
        to_vec(&self.totals)
    }
}
