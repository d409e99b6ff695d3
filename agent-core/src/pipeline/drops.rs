//! Drop counts: every item the pipeline loses is counted by reason, reported with a later batch,
//! and only forgotten once a batch carrying it is delivered.

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
/// Broke a wire limit (`wire::check_*`: an empty or too long key, a bad event type, …), which
/// would have had the collector refuse the whole batch.
pub const INVALID: &str = "invalid";
/// Could not be serialised.
pub const ENCODE_ERROR: &str = "encode_error";

/// Counts by reason, sorted by reason: a handful of reasons, so a `Vec` (a `BTreeMap` of its
/// own key and value types would be another few KB of the browser agent's download).
type Counts = Vec<(String, u64)>;

/// Drop counts not yet reported, and totals since start.
#[derive(Debug, Default)]
pub(crate) struct DropLedger {
    unreported: Counts,
    totals: Counts,
    /// When the oldest new drop not yet sealed into a batch happened.
    since_ms: Option<i64>,
}

fn add(counts: &mut Counts, reason: &str, n: u64) {
    match counts.binary_search_by(|(r, _)| r.as_str().cmp(reason)) {
        Ok(at) => counts[at].1 = counts[at].1.saturating_add(n),
        Err(at) => counts.insert(at, (reason.to_owned(), n)),
    }
}

fn to_vec(counts: &Counts) -> Vec<DropCount> {
    counts
        .iter()
        .map(|(reason, count)| DropCount {
            reason: reason.clone(),
            count: *count,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(counts: &[DropCount]) -> Vec<(&str, u64)> {
        counts
            .iter()
            .map(|c| (c.reason.as_str(), c.count))
            .collect()
    }

    #[test]
    fn counts_add_up_by_reason_sorted_and_take_leaves_the_totals() {
        let mut ledger = DropLedger::default();
        ledger.count(TOO_LARGE, 2, 50);
        ledger.count(QUEUE_FULL, 3, 10);
        ledger.count(TOO_LARGE, u64::MAX, 60);
        ledger.count(CORRUPT, 0, 5);
        assert_eq!(ledger.since_ms(), Some(50));
        let taken = ledger.take();
        assert_eq!(
            pairs(&taken),
            [(QUEUE_FULL, 3), (TOO_LARGE, u64::MAX)],
            "saturating, sorted, nothing for a zero count"
        );
        assert_eq!((ledger.take(), ledger.since_ms()), (Vec::new(), None));
        ledger.restore(&taken);
        ledger.count(REJECTED, 1, 70);
        assert_eq!(
            pairs(&ledger.take()),
            [(QUEUE_FULL, 3), (REJECTED, 1), (TOO_LARGE, u64::MAX)]
        );
        assert_eq!(
            pairs(&ledger.totals()),
            [(QUEUE_FULL, 3), (REJECTED, 1), (TOO_LARGE, u64::MAX)]
        );
    }
}
