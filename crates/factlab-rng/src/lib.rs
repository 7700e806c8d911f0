//! A small seeded generator (xoshiro256++ seeded through SplitMix64).
//!
//! The toolkit owns its generator instead of borrowing one from a crate so that a seed means the
//! same stream forever: outputs are promised byte-identical for the same seed, and a dependency
//! upgrade must not be able to break that promise. Independent streams are derived from a seed
//! and a key path (`Rng::derive(seed, &[paragraph_index])`), which is what makes parallel work
//! deterministic whatever the thread count.

/// xoshiro256++ state. `Clone` + `state()` / `from_state()` let a checkpoint store it exactly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng {
    state: [u64; 4],
}

fn splitmix64(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        let mut sm = seed;
        let state = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        Rng { state }
    }

    /// A stream that depends on `seed` and every element of `keys`, in order.
    pub fn derive(seed: u64, keys: &[u64]) -> Self {
        let mut mixed = seed;
        for &key in keys {
            let mut sm = mixed ^ key.wrapping_mul(0xD6E8_FEB8_6659_FD93);
            mixed = splitmix64(&mut sm);
        }
        Rng::new(mixed)
    }

    pub fn state(&self) -> [u64; 4] {
        self.state
    }

    pub fn from_state(state: [u64; 4]) -> Self {
        Rng { state }
    }

    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.state;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform integer in `0..n` without modulo bias. Panics if `n == 0`.
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "Rng::below(0)");
        let n = n as u64;
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let x = self.next_u64();
            if x < zone {
                return (x % n) as usize;
            }
        }
    }

    /// Uniform integer in `lo..=hi`.
    pub fn range_inclusive(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// Uniform float in `[0, 1)` with 53 random bits.
    pub fn unit_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal sample (Box–Muller; one value per call, for simplicity of state).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit_f64(); // in (0, 1], so ln is finite
        let u2 = self.unit_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit_f64() < p
    }

    pub fn choose<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }

    /// `k` distinct indices from `0..n`, in random order. Panics if `k > n`.
    pub fn sample_indices(&mut self, n: usize, k: usize) -> Vec<usize> {
        assert!(k <= n, "cannot sample {k} distinct indices from {n}");
        let mut all: Vec<usize> = (0..n).collect();
        for i in 0..k {
            let j = i + self.below(n - i);
            all.swap(i, j);
        }
        all.truncate(k);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_different_seed_differs() {
        let a: Vec<u64> = (0..8)
            .map({
                let mut r = Rng::new(7);
                move |_| r.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..8)
            .map({
                let mut r = Rng::new(7);
                move |_| r.next_u64()
            })
            .collect();
        let mut c = Rng::new(8);
        assert_eq!(a, b);
        assert_ne!(a[0], c.next_u64());
    }

    #[test]
    fn derived_streams_depend_on_every_key() {
        let x = Rng::derive(1, &[2, 3]).next_u64();
        assert_ne!(x, Rng::derive(1, &[3, 2]).next_u64());
        assert_ne!(x, Rng::derive(1, &[2]).next_u64());
        assert_eq!(x, Rng::derive(1, &[2, 3]).next_u64());
    }

    #[test]
    fn below_covers_range_evenly() {
        let mut r = Rng::new(42);
        let mut counts = [0usize; 5];
        for _ in 0..50_000 {
            counts[r.below(5)] += 1;
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "uneven counts {counts:?}");
        }
    }

    #[test]
    fn normal_has_unit_moments() {
        let mut r = Rng::new(3);
        let xs: Vec<f64> = (0..100_000).map(|_| r.normal()).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
        assert!(mean.abs() < 0.02, "mean {mean}");
        assert!((var - 1.0).abs() < 0.03, "variance {var}");
    }

    #[test]
    fn state_round_trips() {
        let mut r = Rng::new(5);
        r.next_u64();
        let mut s = Rng::from_state(r.state());
        assert_eq!(r.next_u64(), s.next_u64());
    }

    #[test]
    fn sample_indices_are_distinct() {
        let mut r = Rng::new(9);
        let mut picked = r.sample_indices(30, 12);
        picked.sort();
        picked.dedup();
        assert_eq!(picked.len(), 12);
        assert!(picked.iter().all(|&i| i < 30));
    }

    // Known answers, computed once from this code and frozen. Every recorded result (generated
    // facts, shard orders, initial weights, sampled batches) is a function of these streams:
    // if one of these constants has to change, every result recorded so far stops being
    // reproducible from its seed. Do not "fix" this test by updating the numbers.

    #[test]
    fn new_gives_the_known_stream() {
        let expected: [(u64, [u64; 4]); 4] = [
            (
                0,
                [
                    0x5317_5D61_490B_23DF,
                    0x61DA_6F3D_C380_D507,
                    0x5C0F_DF91_EC9A_7BFC,
                    0x02EE_BF8C_3BBE_5E1A,
                ],
            ),
            (
                1,
                [
                    0xCFC5_D07F_6F03_C29B,
                    0xBF42_4132_963F_E08D,
                    0x19A3_7D57_57AA_F520,
                    0xBF08_119F_05CD_56D6,
                ],
            ),
            (
                42,
                [
                    0xD076_4D4F_4476_689F,
                    0x519E_4174_576F_3791,
                    0xFBE0_7CFB_0C24_ED8C,
                    0xB37D_9F60_0CD8_35B8,
                ],
            ),
            (
                u64::MAX,
                [
                    0x56CC_F8CE_948E_27B2,
                    0xE685_8843_2E5A_5B90,
                    0xE3E9_B5A4_8119_CA8B,
                    0x460F_1949_5532_AE73,
                ],
            ),
        ];
        for (seed, values) in expected {
            let mut r = Rng::new(seed);
            let got: Vec<u64> = (0..4).map(|_| r.next_u64()).collect();
            assert_eq!(got, values, "Rng::new({seed})");
        }
        let mut r = Rng::new(42);
        r.next_u64();
        assert_eq!(
            r.state(),
            [
                14_781_993_660_996_615_170,
                15_162_131_492_471_177_412,
                4_387_123_674_275_312_071,
                9_390_829_987_253_819_269,
            ]
        );
    }

    #[test]
    fn derive_gives_the_known_streams() {
        let expected: [(u64, &[u64], [u64; 3]); 5] = [
            (
                0,
                &[],
                [
                    0x5317_5D61_490B_23DF,
                    0x61DA_6F3D_C380_D507,
                    0x5C0F_DF91_EC9A_7BFC,
                ],
            ),
            (
                7,
                &[0],
                [
                    0xF088_CF8D_BFD5_8037,
                    0xAD3D_4E90_559A_A92D,
                    0x8F4F_06F9_A0BB_9209,
                ],
            ),
            (
                7,
                &[1, 2],
                [
                    0x8D3A_08FE_D7B6_479E,
                    0x45A7_0BF5_E6E9_ED52,
                    0xD59B_6355_CA1C_BB53,
                ],
            ),
            (
                7,
                &[2, 1],
                [
                    0x4A1B_8E4A_4C75_A256,
                    0x4E5D_EF2A_B134_7FDD,
                    0x45CC_6BA9_0E0B_364F,
                ],
            ),
            (
                1234,
                &[u64::MAX, 0, 3],
                [
                    0x00F6_E09D_6207_CDBC,
                    0xD7B5_D915_D034_1F2C,
                    0x73C7_D89B_A48E_B591,
                ],
            ),
        ];
        for (seed, keys, values) in expected {
            let mut r = Rng::derive(seed, keys);
            let got: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
            assert_eq!(got, values, "Rng::derive({seed}, {keys:?})");
        }
    }

    #[test]
    fn below_shuffle_sample_and_unit_give_the_known_values() {
        let mut r = Rng::new(42);
        let bounds = [1, 2, 3, 5, 10, 100, 1000, 1_000_003, u32::MAX as usize];
        let got: Vec<usize> = bounds.iter().map(|&n| r.below(n)).collect();
        assert_eq!(got, [0, 1, 0, 4, 1, 65, 78, 943_076, 633_520_290]);

        let mut items: Vec<u32> = (0..10).collect();
        Rng::new(42).shuffle(&mut items);
        assert_eq!(items, [6, 9, 7, 8, 0, 5, 3, 4, 2, 1]);

        assert_eq!(Rng::new(42).sample_indices(20, 5), [11, 17, 8, 7, 3]);

        let mut r = Rng::new(42);
        let got: Vec<f64> = (0..3).map(|_| r.unit_f64()).collect();
        assert_eq!(
            got,
            [0.8143051451229099, 0.3188210400616611, 0.9838941681774888]
        );
    }
}
