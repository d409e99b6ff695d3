//! A fast, non-cryptographic hasher for names in the agent's tables (flags by key, segment
//! members, `in_list` values; see `crate::table`).
//!
//! SipHash (std's default) was a third of an evaluation's instructions. Its flood resistance is
//! not needed here: the maps' contents come from the collector's admins, and a caller choosing
//! the looked-up key cannot make the stored keys collide. The mixing is FxHash's (rustc).

use std::hash::Hasher;

const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// FxHash over the written bytes, a word at a time.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(K);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes([
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
            ]));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}
