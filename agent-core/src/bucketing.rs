//! Split-compatible bucketing: which of 100 buckets a key falls in for a flag's seed.
//!
//! `bucket = murmur3_x86_32(utf8(key), seed as u32) % 100 + 1`, exactly as Split's SDKs compute
//! it, so users migrating from Split keep their treatments. The hash is implemented here over a
//! byte slice (no `io::Read`, no allocation) and tested against the `murmur3` crate and Split's
//! conformance vectors.

const C1: u32 = 0xcc9e_2d51;
const C2: u32 = 0x1b87_3593;

/// MurmurHash3 x86 32-bit of `data` with `seed`.
pub fn murmur3_x86_32(data: &[u8], seed: u32) -> u32 {
    let mut h = seed;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        h ^= mix_k(k);
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        let mut k = 0u32;
        for (i, b) in tail.iter().enumerate() {
            k |= u32::from(*b) << (8 * i);
        }
        h ^= mix_k(k);
    }
    // The reference algorithm mixes in the length modulo 2^32.
    h ^= data.len() as u32;
    fmix32(h)
}

#[inline(always)]
fn mix_k(k: u32) -> u32 {
    k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2)
}

#[inline(always)]
fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// The bucket (1..=100) of `key` for `seed` (a Split seed: signed, hashed as its bit pattern).
pub fn bucket(key: &str, seed: i32) -> u32 {
    murmur3_x86_32(key.as_bytes(), seed as u32) % 100 + 1
}

/// Index of the share a bucket falls in: the first whose cumulative weight reaches `bucket`.
///
/// `weights` are percentages in rollout order; `None` when they sum to less than `bucket`
/// (impossible for validated flags, whose weights sum to 100).
pub fn pick(weights: impl IntoIterator<Item = u32>, bucket: u32) -> Option<usize> {
    let mut covered = 0u32;
    for (i, w) in weights.into_iter().enumerate() {
        covered = covered.saturating_add(w);
        if covered >= bucket {
            return Some(i);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn crate_hash(data: &[u8], seed: u32) -> u32 {
        murmur3::murmur3_32(&mut Cursor::new(data), seed).expect("reading a slice cannot fail")
    }

    #[test]
    fn agrees_with_the_murmur3_crate_for_every_tail_length() {
        let text = "The quick brown fox jumps over the lazy dog ünïcödé 🦀";
        for seed in [0u32, 1, 42, 0x9747_b28c, u32::MAX] {
            for end in 0..=text.len() {
                let bytes = &text.as_bytes()[..end];
                assert_eq!(
                    murmur3_x86_32(bytes, seed),
                    crate_hash(bytes, seed),
                    "len {end}"
                );
            }
        }
    }

    #[test]
    fn known_vectors() {
        // Published MurmurHash3_x86_32 test vectors.
        assert_eq!(murmur3_x86_32(b"", 0), 0);
        assert_eq!(murmur3_x86_32(b"", 1), 0x514e_28b7);
        assert_eq!(murmur3_x86_32(b"", 0xffff_ffff), 0x81f1_6f39);
        assert_eq!(murmur3_x86_32(b"\xff\xff\xff\xff", 0), 0x7629_3b50);
        assert_eq!(murmur3_x86_32(b"Hello, world!", 1234), 0xfaf6_cdb3);
    }

    #[test]
    fn buckets_are_in_range_and_negative_seeds_use_their_bit_pattern() {
        for i in 0..1000 {
            let b = bucket(&format!("user-{i}"), -1_234_567);
            assert!((1..=100).contains(&b));
            let h = murmur3_x86_32(format!("user-{i}").as_bytes(), (-1_234_567i32) as u32);
            assert_eq!(b, h % 100 + 1);
        }
    }

    #[test]
    fn pick_walks_cumulative_weights() {
        assert_eq!(pick([50, 50], 1), Some(0));
        assert_eq!(pick([50, 50], 50), Some(0));
        assert_eq!(pick([50, 50], 51), Some(1));
        assert_eq!(pick([50, 50], 100), Some(1));
        assert_eq!(pick([0, 100], 1), Some(1));
        assert_eq!(pick([10, 20, 70], 30), Some(1));
        assert_eq!(pick([10, 20, 70], 31), Some(2));
        assert_eq!(pick([10, 20], 31), None);
    }
}
