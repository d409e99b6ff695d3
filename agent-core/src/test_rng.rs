//! A seeded xorshift64 stream for the randomized unit tests: the same inputs every run, so a
//! failure reproduces.

/// The generator; the field is the state (any non-zero seed).
pub(crate) struct XorShift(pub u64);

impl XorShift {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A draw from `0..bound`.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }
}
