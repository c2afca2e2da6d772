//! Key choosers: YCSB's scrambled zipfian and a uniform one.
//!
//! The zipfian generator is YCSB's (Gray et al., "Quickly generating
//! billion-record synthetic databases"): a zipfian over 10^10 items with
//! constant 0.99, hashed with FNV-1a 64 and reduced modulo the record
//! count, so the popular records are scattered over the key space.

use rand::Rng;

const THETA: f64 = 0.99;
const ITEMS: u64 = 10_000_000_000;
/// zeta(10^10, 0.99), as YCSB hard-codes it.
const ZETA_ITEMS: f64 = 26.469_028_201_783_02;

/// How a workload picks the record of each operation.
#[derive(Debug, Clone, Copy)]
pub enum Chooser {
    /// Every record equally likely.
    Uniform {
        /// Records.
        n: u64,
    },
    /// YCSB's scrambled zipfian.
    Zipf {
        /// Records.
        n: u64,
        /// Precomputed constant of the generator.
        eta: f64,
        /// 1 + 0.5^theta.
        two_cut: f64,
    },
}

impl Chooser {
    /// Uniform over `0..n`.
    pub fn uniform(n: u64) -> Chooser {
        Chooser::Uniform { n }
    }

    /// Scrambled zipfian over `0..n`.
    pub fn zipf(n: u64) -> Chooser {
        let zeta2 = 1.0 + 0.5f64.powf(THETA);
        #[allow(clippy::cast_precision_loss)] // 10^10 is exact in f64
        let eta = (1.0 - (2.0 / ITEMS as f64).powf(1.0 - THETA)) / (1.0 - zeta2 / ZETA_ITEMS);
        Chooser::Zipf {
            n,
            eta,
            two_cut: zeta2,
        }
    }

    /// The next record.
    pub fn next(&self, rng: &mut impl Rng) -> u64 {
        match *self {
            Chooser::Uniform { n } => rng.gen_range(0..n),
            Chooser::Zipf { n, eta, two_cut } => {
                let item = zipf_item(rng.gen::<f64>(), eta, two_cut);
                fnv1a_64(item) % n
            }
        }
    }
}

#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)] // the float formula of the generator; the result is < 10^10
fn zipf_item(u: f64, eta: f64, two_cut: f64) -> u64 {
    let uz = u * ZETA_ITEMS;
    if uz < 1.0 {
        return 0;
    }
    if uz < two_cut {
        return 1;
    }
    let alpha = 1.0 / (1.0 - THETA);
    ((ITEMS as f64) * (eta * u - eta + 1.0).powf(alpha)) as u64
}

/// YCSB's `fnvhash64`: FNV-1a over the 8 bytes, low byte first.
fn fnv1a_64(mut value: u64) -> u64 {
    let mut hash: u64 = 0xCBF2_9CE4_8422_2325;
    for _ in 0..8 {
        hash ^= value & 0xff;
        hash = hash.wrapping_mul(1_099_511_628_211);
        value >>= 8;
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    #[test]
    fn zipf_is_skewed_and_in_range() {
        let n = 10_000;
        let chooser = Chooser::zipf(n);
        let mut rng = SmallRng::seed_from_u64(1);
        let mut counts = vec![0u32; 10_000];
        for _ in 0..200_000 {
            let k = chooser.next(&mut rng);
            assert!(k < n);
            counts[usize::try_from(k).unwrap()] += 1;
        }
        counts.sort_unstable_by(|a, b| b.cmp(a));
        let top_1_percent: u32 = counts[..100].iter().sum();
        // Zipf 0.99 puts far more than 1% of accesses on 1% of records.
        assert!(top_1_percent > 200_000 / 10, "top 1%: {top_1_percent}");
    }

    #[test]
    fn uniform_covers_the_range() {
        let chooser = Chooser::uniform(10);
        let mut rng = SmallRng::seed_from_u64(2);
        let mut seen = [false; 10];
        for _ in 0..1000 {
            seen[usize::try_from(chooser.next(&mut rng)).unwrap()] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }
}
