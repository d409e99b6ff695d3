//! Random (version 4) ids for batches, impressions and events.
//!
//! Natively each id is `Uuid::new_v4()`: the OS's randomness per id, which also stays right
//! across `fork`. In the browser every id would be a call out to `crypto.getRandomValues`, most
//! of the cost of a `treatment` call (Node: ~4.5 µs of ~6); there the bytes come from a pool
//! refilled 4 KB at a time from the same source, so 256 ids cost one call.

use uuid::Uuid;

/// A new random id.
pub fn new_id() -> Uuid {
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    {
        thread_local! {
            static POOL: std::cell::RefCell<Pool> = const { std::cell::RefCell::new(Pool::new()) };
        }
        POOL.with(|pool| {
            pool.try_borrow_mut()
                .ok()?
                .next(|buf| getrandom::fill(buf).is_ok())
        })
        .unwrap_or_else(Uuid::new_v4)
    }
    #[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
    Uuid::new_v4()
}

/// Bytes of randomness fetched at once: 256 ids.
#[cfg(any(test, all(target_arch = "wasm32", target_os = "unknown")))]
const POOL_BYTES: usize = 4096;

/// Random bytes drawn 16 at a time, refilled when used up.
#[cfg(any(test, all(target_arch = "wasm32", target_os = "unknown")))]
struct Pool {
    bytes: [u8; POOL_BYTES],
    /// Next unused byte; `POOL_BYTES` when empty.
    at: usize,
}

#[cfg(any(test, all(target_arch = "wasm32", target_os = "unknown")))]
impl Pool {
    const fn new() -> Pool {
        Pool {
            bytes: [0; POOL_BYTES],
            at: POOL_BYTES,
        }
    }

    /// The next id, refilling with `fill` first when empty; `None` if `fill` fails (the caller
    /// then asks the source for this one id itself).
    fn next(&mut self, fill: impl FnOnce(&mut [u8]) -> bool) -> Option<Uuid> {
        if self.at + 16 > POOL_BYTES {
            if !fill(&mut self.bytes) {
                return None;
            }
            self.at = 0;
        }
        let mut id = [0u8; 16];
        id.copy_from_slice(self.bytes.get(self.at..self.at + 16)?);
        self.at += 16;
        Some(uuid::Builder::from_random_bytes(id).into_uuid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_hands_out_each_byte_once_and_refills_when_used_up() {
        let mut pool = Pool::new();
        let mut fills = 0;
        // A byte stream that never repeats within the test: every id must differ.
        let mut rng = crate::test_rng::XorShift(0x2545_F491_4F6C_DD1D);
        let mut ids = Vec::new();
        for _ in 0..600 {
            let id = pool.next(|buf| {
                fills += 1;
                for b in buf.iter_mut() {
                    *b = rng.next_u64() as u8;
                }
                true
            });
            ids.push(id.expect("fill succeeded"));
        }
        assert_eq!(fills, 3, "600 ids = 256 + 256 + 88");
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), 600);
        assert!(
            ids.iter()
                .all(|id| id.get_version_num() == 4 && id.get_variant() == uuid::Variant::RFC4122)
        );
    }

    #[test]
    fn a_failed_refill_gives_none_and_the_next_one_serves() {
        let mut pool = Pool::new();
        assert_eq!(pool.next(|_| false), None);
        assert!(
            pool.next(|buf| {
                buf.fill(7);
                true
            })
            .is_some()
        );
        assert!(
            pool.next(|_| false).is_some(),
            "255 ids left: no refill needed"
        );
    }

    #[test]
    fn native_ids_are_random_v4() {
        let (a, b) = (new_id(), new_id());
        assert_ne!(a, b);
        assert_eq!(a.get_version_num(), 4);
    }
}
