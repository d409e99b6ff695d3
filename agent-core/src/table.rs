//! A small hash table for the agent's lookups: flags and segments by name, large `in_list` and
//! segment key sets, the impression deduper's identities.
//!
//! Keys sit in insertion order in a `Vec` (values in a second `Vec` beside them), and an
//! open-addressing index (linear probing, at most half full) maps a key's hash to its
//! position. Only the index is hashed, so its code is the same for every value type: the
//! browser's wasm holds one small copy per key type instead of hashbrown's tables, grown,
//! cloned and dropped per value type (~6 KB of its download). Entries are never removed one
//! by one: [`Table::retain`] rebuilds the table, which the deduper does only when it evicts.

use std::hash::Hasher;

use crate::flags::hasher::FxHasher;

/// A key the table can hash: names by FxHash of their bytes, deduper identities (already
/// uniform 128-bit hashes) by folding their halves.
pub(crate) trait TableKey {
    /// What lookups pass (`str` for `String` keys).
    type Borrowed: ?Sized + Eq;
    /// The key as looked up.
    fn borrowed(&self) -> &Self::Borrowed;
    /// The hash of a looked-up key.
    fn hash(key: &Self::Borrowed) -> u64;
}

impl TableKey for String {
    type Borrowed = str;
    fn borrowed(&self) -> &str {
        self
    }
    fn hash(key: &str) -> u64 {
        let mut h = FxHasher::default();
        h.write(key.as_bytes());
        h.write_usize(key.len());
        spread(h.finish())
    }
}

impl TableKey for u128 {
    type Borrowed = u128;
    fn borrowed(&self) -> &u128 {
        self
    }
    fn hash(key: &u128) -> u64 {
        (*key as u64) ^ ((*key >> 64) as u64)
    }
}

/// Spreads every bit of `h` over its low bits, which pick the slot (murmur3's 64-bit finalizer).
/// FxHash's last multiply carries a word's bits only upwards: `user-1` … `user-999` differ in
/// their high bytes alone, and without this they crowded a few slots (2.8 slots per hit
/// instead of 1.4, see the test).
fn spread(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Keys in insertion order with their hash index: a set, and the key half of a [`Table`].
#[derive(Debug, Clone)]
pub(crate) struct Keys<K> {
    keys: Vec<K>,
    /// Open-addressing slots: 0 when empty, else the key's position + 1. A power of two long,
    /// at least twice the keys (or empty).
    slots: Vec<u32>,
}

impl<K> Default for Keys<K> {
    fn default() -> Self {
        Keys {
            keys: Vec::new(),
            slots: Vec::new(),
        }
    }
}

impl<K: TableKey> Keys<K> {
    /// Position of `key`, if present.
    pub fn find(&self, key: &K::Borrowed) -> Option<usize> {
        self.probe(key).ok()
    }

    /// True when `key` is present.
    pub fn contains(&self, key: &K::Borrowed) -> bool {
        self.find(key).is_some()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// The keys, in insertion order.
    pub fn iter(&self) -> std::slice::Iter<'_, K> {
        self.keys.iter()
    }

    /// Adds `key` unless present; returns its position and whether it was added.
    pub fn insert(&mut self, key: K) -> (usize, bool) {
        let slot = match self.probe(key.borrowed()) {
            Ok(at) => return (at, false),
            Err(slot) => slot,
        };
        let at = self.keys.len();
        self.keys.push(key);
        if self.keys.len() * 2 > self.slots.len() {
            // Re-slots every key, the new one included.
            self.grow();
        } else {
            self.slots[slot] = at as u32 + 1;
        }
        (at, true)
    }

    /// The slot holding `key` (`Ok`: its position) or the empty slot where it would go (`Err`).
    fn probe(&self, key: &K::Borrowed) -> Result<usize, usize> {
        if self.slots.is_empty() {
            return Err(0);
        }
        let mask = self.slots.len() - 1;
        let mut slot = K::hash(key) as usize & mask;
        loop {
            match self.slots[slot] {
                0 => return Err(slot),
                taken => {
                    let at = taken as usize - 1;
                    if self.keys.get(at).is_some_and(|k| k.borrowed() == key) {
                        return Ok(at);
                    }
                }
            }
            slot = (slot + 1) & mask;
        }
    }

    /// Slots a lookup of `key` visits (tests measure the clustering).
    #[cfg(test)]
    fn probes(&self, key: &K::Borrowed) -> usize {
        let mask = self.slots.len() - 1;
        let mut slot = K::hash(key) as usize & mask;
        let mut visited = 1;
        while self.slots[slot] != 0
            && self
                .keys
                .get(self.slots[slot] as usize - 1)
                .map(K::borrowed)
                != Some(key)
        {
            slot = (slot + 1) & mask;
            visited += 1;
        }
        visited
    }

    /// Doubles the index (at least 8 slots) and re-slots every key.
    fn grow(&mut self) {
        let len = (self.slots.len() * 2).max(8);
        self.reindex(len);
    }

    /// A fresh index of `len` slots (a power of two above twice the keys).
    fn reindex(&mut self, len: usize) {
        self.slots = vec![0; len];
        let mask = len - 1;
        for (at, key) in self.keys.iter().enumerate() {
            let mut slot = K::hash(key.borrowed()) as usize & mask;
            while self.slots[slot] != 0 {
                slot = (slot + 1) & mask;
            }
            self.slots[slot] = at as u32 + 1;
        }
    }
}

impl<K: TableKey> FromIterator<K> for Keys<K> {
    fn from_iter<I: IntoIterator<Item = K>>(iter: I) -> Self {
        let mut keys = Keys::default();
        for key in iter {
            keys.insert(key);
        }
        keys
    }
}

/// A map: [`Keys`] with a value beside each key.
#[derive(Debug, Clone)]
pub(crate) struct Table<K, V> {
    keys: Keys<K>,
    values: Vec<V>,
}

impl<K, V> Default for Table<K, V> {
    fn default() -> Self {
        Table {
            keys: Keys::default(),
            values: Vec::new(),
        }
    }
}

impl<K: TableKey, V> Table<K, V> {
    /// The value of `key`, if present.
    pub fn get(&self, key: &K::Borrowed) -> Option<&V> {
        self.keys.find(key).and_then(|at| self.values.get(at))
    }

    /// The value of `key`, if present, to change.
    pub fn get_mut(&mut self, key: &K::Borrowed) -> Option<&mut V> {
        self.keys.find(key).and_then(|at| self.values.get_mut(at))
    }

    /// Sets the value of `key` (replacing any it had, which keeps its position).
    pub fn insert(&mut self, key: K, value: V) {
        match self.keys.insert(key) {
            (_, true) => self.values.push(value),
            (at, false) => {
                if let Some(v) = self.values.get_mut(at) {
                    *v = value;
                }
            }
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The keys, in insertion order.
    pub fn keys(&self) -> std::slice::Iter<'_, K> {
        self.keys.iter()
    }

    /// The values, in insertion order.
    pub fn values(&self) -> std::slice::Iter<'_, V> {
        self.values.iter()
    }

    /// The values, in insertion order, to change.
    pub fn values_mut(&mut self) -> std::slice::IterMut<'_, V> {
        self.values.iter_mut()
    }

    /// The values, in insertion order, moved out.
    pub fn into_values(self) -> std::vec::IntoIter<V> {
        self.values.into_iter()
    }

    /// Keeps the entries `keep` says yes to (in order) and rebuilds the index.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        let keys = std::mem::take(&mut self.keys.keys);
        let values = std::mem::take(&mut self.values);
        for (key, mut value) in keys.into_iter().zip(values) {
            if keep(&key, &mut value) {
                self.keys.keys.push(key);
                self.values.push(value);
            }
        }
        let mut len = 8;
        while len < self.keys.keys.len() * 2 {
            len *= 2;
        }
        self.keys.reindex(len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Linear probing at most half full averages about 1.5 slots per hit when the hash spreads
    /// keys; names that differ only in a few bytes (`user-1` … `user-999`, hence FxHash's high
    /// bits) must spread as well as any.
    #[test]
    fn similar_names_spread_over_the_slots() {
        let families: [fn(usize) -> String; 5] = [
            |i| format!("user-{i}"),
            |i| format!("flag_{i}"),
            |i| i.to_string(),
            |i| format!("00000000-0000-4000-8000-{i:012}"),
            |i| format!("{}{i}", "a-long-shared-prefix-of-forty-characters"),
        ];
        for family in families {
            for n in [1_000, 10_000] {
                let keys: Keys<String> = (0..n).map(family).collect();
                let total: usize = (0..n).map(|i| keys.probes(&family(i))).sum();
                let mean = total as f64 / n as f64;
                assert!(
                    mean < 2.5,
                    "{:?}…: {mean} probes per hit over {n}",
                    family(0)
                );
            }
        }
    }

    #[test]
    fn behaves_as_a_hash_map_under_random_operations() {
        let mut rng = crate::test_rng::XorShift(0x243f_6a88_85a3_08d3);
        let mut ours: Table<String, u64> = Table::default();
        let mut reference: HashMap<String, u64> = HashMap::new();
        for step in 0..60_000u64 {
            // Few enough distinct keys that replacements and misses both happen often.
            let key = format!("k{}", rng.next_u64() % 5_000);
            match rng.next_u64() % 10 {
                0..=5 => {
                    ours.insert(key.clone(), step);
                    reference.insert(key, step);
                }
                6 => {
                    if let Some(v) = ours.get_mut(&key) {
                        *v += 1;
                    }
                    if let Some(v) = reference.get_mut(&key) {
                        *v += 1;
                    }
                }
                7 if step % 97 == 0 => {
                    let cut = rng.next_u64() % 7;
                    ours.retain(|_, v| *v % 7 != cut);
                    reference.retain(|_, v| *v % 7 != cut);
                }
                _ => assert_eq!(ours.get(&key), reference.get(&key), "{key}"),
            }
            assert_eq!(ours.len(), reference.len());
        }
        assert!(ours.len() > 1_000, "{}", ours.len());
        for (key, value) in &reference {
            assert_eq!(ours.get(key), Some(value), "{key}");
        }
        let mut keys: Vec<&String> = ours.keys().collect();
        keys.dedup();
        assert_eq!(keys.len(), reference.len(), "each key once");
        assert_eq!(ours.get("absent"), None);
    }

    #[test]
    fn keeps_insertion_order_and_replaces_in_place() {
        let mut t: Table<String, u32> = Table::default();
        for (i, name) in ["b", "a", "c", "a"].into_iter().enumerate() {
            t.insert(name.to_owned(), i as u32);
        }
        assert_eq!(
            t.keys().map(String::as_str).collect::<Vec<_>>(),
            ["b", "a", "c"]
        );
        assert_eq!(t.into_values().collect::<Vec<_>>(), [0, 3, 2]);
    }

    #[test]
    fn identity_keys_and_sets_find_what_they_hold() {
        let mut rng = crate::test_rng::XorShift(0x1319_8a2e_0370_7344);
        let ids: Vec<u128> = (0..20_000)
            .map(|_| (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64()))
            .collect();
        let mut t: Table<u128, usize> = Table::default();
        for (i, id) in ids.iter().enumerate() {
            t.insert(*id, i);
        }
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(t.get(id), Some(&i));
        }
        // Keys that differ only in one half, or that fold to the same 64 bits.
        let (a, b) = (1u128 << 64 | 5, 5u128 << 64 | 1);
        let mut t: Table<u128, u8> = Table::default();
        t.insert(a, 1);
        t.insert(b, 2);
        assert_eq!(
            (t.get(&a), t.get(&b), t.get(&(a + 1))),
            (Some(&1), Some(&2), None)
        );
        // Prefixes and padding must hash apart.
        let s: Keys<String> = ["a", "a\0", "ab", "", "a"]
            .map(str::to_owned)
            .into_iter()
            .collect();
        assert_eq!(s.len(), 4);
        assert!(s.contains("a\0") && s.contains("") && !s.contains("b"));
    }
}
