//! A small seeded PRNG (xorshift64*), so the generated tree and the changes made to it are the
//! same on every run and every machine.

pub struct XorShift(u64);

impl XorShift {
    /// A generator for `seed`; the seed is scrambled first so nearby seeds give unrelated streams.
    pub fn new(seed: u64) -> XorShift {
        // SplitMix64 finalizer; `| 1` keeps the state non-zero (xorshift's one fixed point).
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        XorShift((z ^ (z >> 31)) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (`n` = 0 reads as 1). The modulo bias is irrelevant at these sizes.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo) + 1)
    }

    /// True with probability `per_mille` / 1000.
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_gives_the_same_stream() {
        let a: Vec<u64> = (0..8)
            .scan(XorShift::new(7), |r, _| Some(r.next_u64()))
            .collect();
        let b: Vec<u64> = (0..8)
            .scan(XorShift::new(7), |r, _| Some(r.next_u64()))
            .collect();
        let c: Vec<u64> = (0..8)
            .scan(XorShift::new(8), |r, _| Some(r.next_u64()))
            .collect();
        assert_eq!(a, b, "a seed must reproduce its stream");
        assert_ne!(a, c, "different seeds must give different streams");
    }

    #[test]
    fn between_stays_in_range() {
        let mut r = XorShift::new(1);
        for _ in 0..10_000 {
            let v = r.between(3, 5);
            assert!((3..=5).contains(&v), "{v} is outside 3..=5");
        }
    }
}
