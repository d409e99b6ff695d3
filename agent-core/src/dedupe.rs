//! Impression deduplication (Split's OPTIMIZED mode) across batches, in bounded memory.
//!
//! Two impressions are duplicates when key, flag, treatment, version and label are equal and their
//! timestamps fall in the same clock hour (UTC). The cache remembers every identity seen in the
//! hours still alive, grouped by hour:
//! - first sighting: the impression goes into the pending batch (count 1);
//! - a duplicate while that impression is still pending: its `count` grows;
//! - a duplicate after it was sealed: a `late` counter of the entry grows (the first late
//!   duplicate is kept, to be sent as one impression standing for all of them).
//!
//! Late counts leave the cache as one impression each (fresh id, ts of the first late duplicate)
//! when the clock passes the end of their hour ([`Deduper::expire`]), when the application asks
//! for delivery ([`Deduper::take_late`], on flush and shutdown) or when their entry is evicted
//! to respect the cap (oldest hour first). The periodic seal does not release them: that is what
//! keeps an active user at one or two rows per hour instead of one per batch.
//!
//! Memory: an entry is a 128-bit hash of the identity plus a position (about 60 bytes with the
//! table's index, so ~3 MB at the default cap); only entries holding late counts keep an
//! impression. Pending entries are compared field by field with the pending
//! impression, so a hash collision never merges different impressions there; a collision between
//! a sealed identity and a new one (2^-128 odds per pair) would only move counts between them.

use std::hash::{DefaultHasher, Hash, Hasher};

use crate::table::Table;
use crate::wire::Impression;

const HOUR_MS: i64 = 3_600_000;

/// Default cap on identities remembered across batches.
pub const DEFAULT_MAX_IDENTITIES: usize = 50_000;

/// The clock hour (UTC) a Unix-millisecond timestamp falls in.
pub fn hour_of(ts_ms: i64) -> i64 {
    ts_ms.div_euclid(HOUR_MS)
}

/// One identity seen in one hour.
#[derive(Debug)]
struct Entry {
    /// (seal generation, position) of its impression in the pending batch; stale once the
    /// generation moved on (the batch was sealed).
    pending: Option<(u64, usize)>,
    /// Duplicates seen after its impression was sealed: the first of them, `count` = how many.
    /// Boxed: most entries hold none, and an inline impression would triple every entry's size.
    late: Option<Box<Impression>>,
}

/// The cross-batch deduplication cache (see the module docs).
#[derive(Debug)]
pub struct Deduper {
    /// The hours alive, oldest first: one or two in practice (a `Vec`, not a `BTreeMap`, whose
    /// removal code is several KB of the browser agent's download).
    hours: Vec<(i64, Table<u128, Entry>)>,
    len: usize,
    cap: usize,
    /// Bumped at every seal, which invalidates every pending position at once.
    generation: u64,
    /// Entries holding late counts (so flush skips the walk when there are none).
    late_entries: usize,
    /// Sum of the late counts held.
    late_total: u64,
}

impl Default for Deduper {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_IDENTITIES)
    }
}

fn same_identity(a: &Impression, b: &Impression) -> bool {
    a.key == b.key
        && a.flag == b.flag
        && a.treatment == b.treatment
        && a.version == b.version
        && a.label == b.label
        && hour_of(a.ts) == hour_of(b.ts)
}

fn identity_hash(i: &Impression) -> u128 {
    let half = |salt: u8| {
        let mut h = DefaultHasher::new();
        salt.hash(&mut h);
        i.key.hash(&mut h);
        i.flag.hash(&mut h);
        i.treatment.hash(&mut h);
        i.version.hash(&mut h);
        i.label.hash(&mut h);
        hour_of(i.ts).hash(&mut h);
        h.finish()
    };
    (u128::from(half(0)) << 64) | u128::from(half(1))
}

/// Turns held late counts into the impression that carries them.
fn release(mut late: Impression) -> Impression {
    late.id = crate::ids::new_id();
    late
}

impl Deduper {
    /// An empty cache remembering at most `max_identities` identities (at least 1).
    pub fn new(max_identities: usize) -> Self {
        Deduper {
            hours: Vec::new(),
            len: 0,
            cap: max_identities.max(1),
            generation: 0,
            late_entries: 0,
            late_total: 0,
        }
    }

    /// Folds `impression` into what is already known and returns None (a duplicate: counted in
    /// its pending impression or held as a late count), or returns it back when it must travel
    /// as a new impression; the caller then pushes it and calls [`Self::record`].
    pub fn absorb(
        &mut self,
        impression: Impression,
        pending: &mut [Impression],
    ) -> Option<Impression> {
        let hash = identity_hash(&impression);
        let generation = self.generation;
        let Some(entry) = self
            .hour_mut(hour_of(impression.ts))
            .and_then(|m| m.get_mut(&hash))
        else {
            return Some(impression);
        };
        let add = impression.count.max(1);
        if let Some((g, pos)) = entry.pending
            && g == generation
        {
            let Some(first) = pending.get_mut(pos) else {
                return Some(impression);
            };
            if !same_identity(first, &impression) {
                return Some(impression);
            }
            return match first.count.checked_add(add) {
                Some(sum) => {
                    first.count = sum;
                    None
                }
                // Saturated: let it travel as a separate impression rather than lose counts.
                None => Some(impression),
            };
        }
        match &mut entry.late {
            Some(late) => {
                if !same_identity(late, &impression) {
                    return Some(impression);
                }
                match late.count.checked_add(add) {
                    Some(sum) => late.count = sum,
                    // Saturated: the newcomer travels on its own and takes further duplicates.
                    None => return Some(impression),
                }
            }
            None => {
                let mut late = impression;
                late.count = add;
                entry.late = Some(Box::new(late));
                self.late_entries += 1;
            }
        }
        self.late_total = self.late_total.saturating_add(u64::from(add));
        None
    }

    /// Remembers that `impression` now sits at `pos` in the pending batch. Returns the late
    /// counts of entries evicted to stay within the cap, for the caller to send.
    pub fn record(&mut self, impression: &Impression, pos: usize) -> Vec<Impression> {
        let hash = identity_hash(impression);
        let hour = hour_of(impression.ts);
        let generation = self.generation;
        if let Some(entry) = self.hour_mut(hour).and_then(|m| m.get_mut(&hash)) {
            // A saturated twin shares the identity; the newest position takes further duplicates.
            entry.pending = Some((generation, pos));
            return Vec::new();
        }
        let released = if self.len >= self.cap {
            self.evict()
        } else {
            Vec::new()
        };
        let entry = Entry {
            pending: Some((generation, pos)),
            late: None,
        };
        self.hour_or_insert(hour).insert(hash, entry);
        self.len += 1;
        released
    }

    /// Frees room for at least one identity: drops about an eighth of the cap from the oldest
    /// hour (the whole hour when it holds fewer), returning their late counts.
    fn evict(&mut self) -> Vec<Impression> {
        let mut released = Vec::new();
        let chunk = (self.cap / 8).max(1);
        let mut freed = 0;
        while freed < chunk && self.len > 0 {
            let Some((_, map)) = self.hours.first_mut() else {
                break;
            };
            if map.len() <= chunk - freed {
                let (_, map) = self.hours.remove(0);
                freed += map.len();
                self.forget(map.into_values(), &mut released);
            } else {
                let mut evicted = Vec::with_capacity(chunk - freed);
                map.retain(|_, e| {
                    if freed < chunk {
                        freed += 1;
                        evicted.push(std::mem::replace(
                            e,
                            Entry {
                                pending: None,
                                late: None,
                            },
                        ));
                        false
                    } else {
                        true
                    }
                });
                self.forget(evicted.into_iter(), &mut released);
            }
        }
        released
    }

    /// The identities seen in `hour`, if any.
    fn hour_mut(&mut self, hour: i64) -> Option<&mut Table<u128, Entry>> {
        let at = self.hour_index(hour).ok()?;
        Some(&mut self.hours[at].1)
    }

    /// The identities seen in `hour`, an empty set added in order if there are none.
    fn hour_or_insert(&mut self, hour: i64) -> &mut Table<u128, Entry> {
        let at = self.hour_index(hour).unwrap_or_else(|at| {
            self.hours.insert(at, (hour, Table::default()));
            at
        });
        &mut self.hours[at].1
    }

    /// Where `hour` is in `hours` (`Err`: where it would go).
    fn hour_index(&self, hour: i64) -> Result<usize, usize> {
        self.hours.binary_search_by_key(&hour, |(h, _)| *h)
    }

    /// Accounts for removed entries, collecting their late counts.
    fn forget(&mut self, entries: impl Iterator<Item = Entry>, out: &mut Vec<Impression>) {
        for e in entries {
            self.len = self.len.saturating_sub(1);
            if let Some(late) = e.late {
                self.late_entries = self.late_entries.saturating_sub(1);
                self.late_total = self.late_total.saturating_sub(u64::from(late.count));
                out.push(release(*late));
            }
        }
    }

    /// Forgets every hour before `current_hour` (their duplicates can no longer be counted
    /// against them), returning their late counts.
    pub fn expire(&mut self, current_hour: i64) -> Vec<Impression> {
        let mut released = Vec::new();
        while let Some((hour, _)) = self.hours.first() {
            if *hour >= current_hour {
                break;
            }
            let (_, map) = self.hours.remove(0);
            self.forget(map.into_values(), &mut released);
        }
        released
    }

    /// The earliest hour still remembered.
    pub fn oldest_hour(&self) -> Option<i64> {
        self.hours.first().map(|(hour, _)| *hour)
    }

    /// When (Unix ms) the oldest hour holding anything worth sending ends; None without late
    /// counts.
    pub fn next_release_ms(&self) -> Option<i64> {
        if self.late_entries == 0 {
            return None;
        }
        self.oldest_hour()
            .map(|h| h.saturating_add(1).saturating_mul(HOUR_MS))
    }

    /// Takes every late count out (the application asked for delivery); identities stay known,
    /// so later duplicates are still folded.
    pub fn take_late(&mut self) -> Vec<Impression> {
        let mut released = Vec::new();
        if self.late_entries == 0 {
            return released;
        }
        for (_, map) in &mut self.hours {
            for e in map.values_mut() {
                if let Some(late) = e.late.take() {
                    released.push(release(*late));
                }
            }
        }
        self.late_entries = 0;
        self.late_total = 0;
        released
    }

    /// The pending batch was sealed: its impressions take no more counts.
    pub fn sealed(&mut self) {
        self.generation = self.generation.wrapping_add(1);
    }

    /// Number of identities remembered.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Duplicates held as late counts, not yet sent.
    pub fn late_total(&self) -> u64 {
        self.late_total
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

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

    /// Pushes like the pipeline does; returns released late impressions.
    fn push(d: &mut Deduper, pending: &mut Vec<Impression>, i: Impression) -> Vec<Impression> {
        match d.absorb(i, pending) {
            Some(i) => {
                let out = d.record(&i, pending.len());
                pending.push(i);
                out
            }
            None => Vec::new(),
        }
    }

    #[test]
    fn counts_within_hour_and_splits_across_hours() {
        let mut d = Deduper::default();
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
        assert_eq!(d.len(), 3);
    }

    #[test]
    fn saturated_count_starts_a_new_impression() {
        let mut d = Deduper::default();
        let mut pending = Vec::new();
        let mut first = imp("u1", 0);
        first.count = u32::MAX;
        push(&mut d, &mut pending, first);
        push(&mut d, &mut pending, imp("u1", 1));
        push(&mut d, &mut pending, imp("u1", 2));
        assert_eq!(pending.len(), 2);
        assert_eq!(pending[1].count, 2);
    }

    #[test]
    fn duplicates_after_a_seal_are_held_as_late_counts() {
        let mut d = Deduper::default();
        let mut pending = Vec::new();
        push(&mut d, &mut pending, imp("u1", 10));
        pending.clear();
        d.sealed();
        for ts in 20..25 {
            push(&mut d, &mut pending, imp("u1", ts));
        }
        assert!(pending.is_empty());
        assert_eq!(d.late_total(), 5);
        assert_eq!(d.next_release_ms(), Some(HOUR_MS));
        let late = d.take_late();
        assert_eq!(late.len(), 1);
        assert_eq!((late[0].ts, late[0].count), (20, 5));
        assert_eq!(d.late_total(), 0);
        assert_eq!(d.len(), 1, "identity still known after take_late");
        push(&mut d, &mut pending, imp("u1", 30));
        assert!(pending.is_empty());
        let late = d.expire(1);
        assert_eq!((late.len(), late[0].count, late[0].ts), (1, 1, 30));
        assert!(d.is_empty());
    }

    #[test]
    fn saturated_late_count_travels_as_a_new_impression() {
        let mut d = Deduper::default();
        let mut pending = Vec::new();
        push(&mut d, &mut pending, imp("u1", 0));
        pending.clear();
        d.sealed();
        let mut big = imp("u1", 1);
        big.count = u32::MAX;
        push(&mut d, &mut pending, big);
        push(&mut d, &mut pending, imp("u1", 2));
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].ts, 2);
        push(&mut d, &mut pending, imp("u1", 3));
        assert_eq!(pending[0].count, 2, "the new pending row takes duplicates");
        assert_eq!(d.late_total(), u64::from(u32::MAX));
    }

    #[test]
    fn hours_seen_out_of_order_expire_oldest_first() {
        let mut d = Deduper::default();
        let mut pending = Vec::new();
        for hour in [5, 3, 4] {
            push(&mut d, &mut pending, imp("u1", hour * HOUR_MS));
        }
        pending.clear();
        d.sealed();
        for hour in [4, 5, 3, 3] {
            push(&mut d, &mut pending, imp("u1", hour * HOUR_MS + 1));
        }
        assert!(pending.is_empty(), "all duplicates of their hour");
        assert_eq!((d.len(), d.late_total()), (3, 4));
        assert_eq!(d.oldest_hour(), Some(3));
        let late = d.expire(4);
        assert_eq!((late.len(), late[0].count), (1, 2), "hour 3 only");
        assert_eq!(d.oldest_hour(), Some(4));
        let counts: Vec<(i64, u32)> = d
            .expire(6)
            .iter()
            .map(|i| (hour_of(i.ts), i.count))
            .collect();
        assert_eq!(counts, [(4, 1), (5, 1)]);
        assert!(d.is_empty());
    }

    #[test]
    fn cap_evicts_oldest_hour_first_and_releases_its_late_counts() {
        let mut d = Deduper::new(16);
        let mut pending = Vec::new();
        push(&mut d, &mut pending, imp("old", 5));
        pending.clear();
        d.sealed();
        push(&mut d, &mut pending, imp("old", 6));
        let mut released = Vec::new();
        for n in 0..1_000 {
            released.extend(push(
                &mut d,
                &mut pending,
                imp(&format!("u{n}"), HOUR_MS + n),
            ));
            assert!(d.len() <= 16);
        }
        assert_eq!(released.len(), 1);
        assert_eq!((released[0].key.as_str(), released[0].count), ("old", 1));
        assert_eq!(d.late_total(), 0);
    }
}
