//! The sample's user table: open addressing on 128-bit key fingerprints, one 32-byte entry per
//! slot (fingerprint and exposure together), with a prefetch so the per-event lookups of a
//! recalculation overlap their memory latency instead of waiting for each in turn.

use super::attribution::Found;

#[derive(Debug, Clone, Copy)]
#[repr(C, align(32))]
struct Entry {
    /// 0 marks an empty slot (fingerprints are never 0).
    fp: u128,
    found: Found,
}

const EMPTY: Entry = Entry {
    fp: 0,
    found: Found {
        entry_ms: 0,
        user: 0,
        treatment: 0,
    },
};

/// Fingerprint -> exposure, linear probing, at most half full.
#[derive(Debug, Clone)]
pub struct UserTable {
    mask: usize,
    entries: Vec<Entry>,
    len: usize,
}

impl Default for UserTable {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

/// Hints the CPU to load the cache line at `p` (no effect where unsupported).
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: a prefetch is only a hint; it never faults, even on an invalid address.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

impl UserTable {
    /// A table for up to `n` users.
    pub fn with_capacity(n: usize) -> Self {
        let slots = (n.max(4) * 2).next_power_of_two();
        UserTable {
            mask: slots - 1,
            entries: vec![EMPTY; slots],
            len: 0,
        }
    }

    fn slot(&self, fp: u128) -> usize {
        // The fingerprint is already uniformly distributed.
        (fp as u64 as usize) & self.mask
    }

    /// Inserts or replaces; returns the previous value.
    pub fn insert(&mut self, fp: u128, found: Found) -> Option<Found> {
        debug_assert!(fp != 0);
        if (self.len + 1) * 2 > self.entries.len() {
            self.grow();
        }
        let mut i = self.slot(fp);
        loop {
            let e = &mut self.entries[i];
            if e.fp == 0 {
                *e = Entry { fp, found };
                self.len += 1;
                return None;
            }
            if e.fp == fp {
                return Some(std::mem::replace(&mut e.found, found));
            }
            i = (i + 1) & self.mask;
        }
    }

    fn grow(&mut self) {
        let old = std::mem::replace(self, Self::with_capacity(self.entries.len()));
        for e in old.entries.into_iter().filter(|e| e.fp != 0) {
            self.insert(e.fp, e.found);
        }
    }

    /// The exposure stored for `fp`.
    #[inline]
    pub fn get(&self, fp: u128) -> Option<Found> {
        let mut i = self.slot(fp);
        loop {
            let e = &self.entries[i];
            if e.fp == fp {
                return Some(e.found);
            }
            if e.fp == 0 {
                return None;
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Starts loading the slot of `fp` into cache.
    #[inline]
    pub fn prefetch(&self, fp: u128) {
        prefetch(self.entries.as_ptr().wrapping_add(self.slot(fp)));
    }

    /// Every (fingerprint, exposure) pair, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (u128, Found)> + '_ {
        self.entries
            .iter()
            .filter(|e| e.fp != 0)
            .map(|e| (e.fp, e.found))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fingerprint::fingerprint;

    #[test]
    fn insert_get_grow() {
        let mut t = UserTable::with_capacity(2);
        let f = |u: u32| Found {
            entry_ms: u as i64 * 10,
            user: u,
            treatment: (u % 3) as u16,
        };
        for u in 0..10_000 {
            assert!(t.insert(fingerprint(&format!("k{u}")), f(u)).is_none());
        }
        assert_eq!(t.len(), 10_000);
        for u in (0..10_000).step_by(7) {
            assert_eq!(t.get(fingerprint(&format!("k{u}"))), Some(f(u)));
        }
        assert_eq!(t.get(fingerprint("absent")), None);
        assert_eq!(t.insert(fingerprint("k5"), f(6)), Some(f(5)));
    }
}
