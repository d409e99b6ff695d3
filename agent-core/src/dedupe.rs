//! Impression deduplication (Split's OPTIMIZED mode) over the pending batch.
//!
//! Two impressions are duplicates when key, flag, treatment, version and label are equal and their
//! timestamps fall in the same clock hour (UTC). The first one stays in the pending batch; each
//! duplicate adds one to its `count`. The index only covers the pending batch and is cleared when
//! that batch is sealed, so its memory is bounded by the batch size. A duplicate arriving after
//! its first sighting was sealed starts a new impression (count 1, its own id and timestamp) that
//! absorbs the following duplicates: every sighting is counted exactly once, at most one
//! impression per identity and hour is sent per batch, and a sealed batch is never modified.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use crate::wire::Impression;

const HOUR_MS: i64 = 3_600_000;

/// Index from an impression's identity to its position in the pending batch.
#[derive(Debug, Default)]
pub struct Deduper {
    // Hash of the identity -> positions in the pending impressions; positions are compared field by
    // field, so a hash collision never merges different impressions.
    index: HashMap<u64, Vec<usize>>,
}

/// The clock hour (UTC) a Unix-millisecond timestamp falls in.
pub fn hour_of(ts_ms: i64) -> i64 {
    ts_ms.div_euclid(HOUR_MS)
}

fn same_identity(a: &Impression, b: &Impression) -> bool {
    a.key == b.key
        && a.flag == b.flag
        && a.treatment == b.treatment
        && a.version == b.version
        && a.label == b.label
        && hour_of(a.ts) == hour_of(b.ts)
}

fn identity_hash(i: &Impression) -> u64 {
    let mut h = DefaultHasher::new();
    i.key.hash(&mut h);
    i.flag.hash(&mut h);
    i.treatment.hash(&mut h);
    i.version.hash(&mut h);
    i.label.hash(&mut h);
    hour_of(i.ts).hash(&mut h);
    h.finish()
}

impl Deduper {
    /// A deduper with an empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Folds `impression` into a duplicate already in `pending` (adding its count) and returns
    /// None, or returns it back when it is new; the caller then pushes it and calls [`Self::record`].
    pub fn absorb(&self, impression: Impression, pending: &mut [Impression]) -> Option<Impression> {
        let hash = identity_hash(&impression);
        let Some(positions) = self.index.get(&hash) else {
            return Some(impression);
        };
        for &pos in positions {
            if let Some(first) = pending.get_mut(pos)
                && same_identity(first, &impression)
            {
                let add = impression.count.max(1);
                match first.count.checked_add(add) {
                    Some(sum) => {
                        first.count = sum;
                        return None;
                    }
                    // Saturated: let it travel as a separate impression rather than lose counts.
                    None => return Some(impression),
                }
            }
        }
        Some(impression)
    }

    /// Remembers that `impression` now sits at `pos` in the pending impressions.
    pub fn record(&mut self, impression: &Impression, pos: usize) {
        let positions = self.index.entry(identity_hash(impression)).or_default();
        // A saturated twin may share the identity; the newest position takes further duplicates.
        positions.insert(0, pos);
    }

    /// Forgets everything (the pending batch was sealed).
    pub fn clear(&mut self) {
        self.index.clear();
    }

    /// Number of identities indexed.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// True when nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn imp(key: &str, ts: i64) -> Impression {
        Impression {
            id: Uuid::new_v4(),
            key: key.into(),
            flag: "f".into(),
            treatment: "on".into(),
            version: 1,
            label: "default rule".into(),
            ts,
            bucketing_key: None,
            count: 1,
        }
    }

    fn push(d: &mut Deduper, pending: &mut Vec<Impression>, i: Impression) {
        if let Some(i) = d.absorb(i, pending) {
            d.record(&i, pending.len());
            pending.push(i);
        }
    }

    #[test]
    fn counts_within_hour_and_splits_across_hours() {
        let mut d = Deduper::new();
        let mut pending = Vec::new();
        push(&mut d, &mut pending, imp("u1", 1_000));
        push(&mut d, &mut pending, imp("u1", 2_000));
        push(&mut d, &mut pending, imp("u2", 2_000));
        push(&mut d, &mut pending, imp("u1", HOUR_MS - 1));
        push(&mut d, &mut pending, imp("u1", HOUR_MS));
        assert_eq!(pending.len(), 3);
        assert_eq!(pending[0].count, 3);
        assert_eq!(pending[0].ts, 1_000);
        assert_eq!(pending[1].count, 1);
        assert_eq!(pending[2].ts, HOUR_MS);
    }

    #[test]
    fn saturated_count_starts_a_new_impression() {
        let mut d = Deduper::new();
        let mut pending = Vec::new();
        let mut first = imp("u1", 0);
        first.count = u32::MAX;
        push(&mut d, &mut pending, first);
        push(&mut d, &mut pending, imp("u1", 1));
        push(&mut d, &mut pending, imp("u1", 2));
        assert_eq!(pending.len(), 2);
        assert_eq!(pending[1].count, 2);
    }
}
