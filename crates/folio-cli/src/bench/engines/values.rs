//! Values a run can check: every value names its record and version in a
//! 16-byte header, and its body is a slice of one random pool picked by
//! (record, version). Bodies are incompressible and cost nothing to make,
//! and a read is checked with one comparison against the pool.

use anyhow::{bail, ensure};
use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Header bytes: record id and version, little-endian `u64`s.
pub const HEADER_BYTES: usize = 16;

const POOL_BYTES: usize = 4 << 20;
const ALIGN: usize = 64;

/// The random bytes every value's body is cut from.
pub struct Pool {
    bytes: Vec<u8>,
    seed: u64,
}

impl Pool {
    /// A pool of random bytes from `seed`.
    pub fn new(seed: u64) -> Pool {
        let mut bytes = vec![0u8; POOL_BYTES];
        SmallRng::seed_from_u64(seed).fill_bytes(&mut bytes);
        Pool { bytes, seed }
    }

    /// The largest value a pool can make.
    pub fn max_len_bytes() -> usize {
        POOL_BYTES / 2
    }

    fn body(&self, id: u64, version: u64, len: usize) -> &[u8] {
        let slots = (POOL_BYTES - len) / ALIGN;
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&id.to_le_bytes());
        key[8..].copy_from_slice(&version.to_le_bytes());
        let start = usize::try_from(xxh3_64_with_seed(&key, self.seed) % slots as u64)
            .expect("slot index fits usize")
            * ALIGN;
        &self.bytes[start..start + len]
    }

    /// Writes the `len`-byte value of `id` at `version` into `out`.
    pub fn fill(&self, out: &mut Vec<u8>, id: u64, version: u64, len: usize) {
        debug_assert!((HEADER_BYTES..=Self::max_len_bytes()).contains(&len));
        out.clear();
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&version.to_le_bytes());
        out.extend_from_slice(self.body(id, version, len - HEADER_BYTES));
    }

    /// Checks that `value` is a value of record `id`, `len` bytes, whose
    /// version is one of `versions` (those the read may see); returns that
    /// version.
    pub fn check(
        &self,
        value: &[u8],
        id: u64,
        len: usize,
        versions: std::ops::RangeInclusive<u64>,
    ) -> anyhow::Result<u64> {
        ensure!(
            value.len() == len,
            "record {id}: read {} bytes, wrote {len}",
            value.len()
        );
        let (found_id, version) = header(value);
        ensure!(
            found_id == id,
            "record {id}: read the value of record {found_id}"
        );
        if !versions.contains(&version) {
            bail!(
                "record {id}: read version {version}, where versions {} to {} were \
                 acknowledged or being written",
                versions.start(),
                versions.end()
            );
        }
        ensure!(
            &value[HEADER_BYTES..] == self.body(id, version, len - HEADER_BYTES),
            "record {id} version {version}: the value's bytes differ from those written"
        );
        Ok(version)
    }
}

fn header(value: &[u8]) -> (u64, u64) {
    let word = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&value[at..at + 8]);
        u64::from_le_bytes(b)
    };
    (word(0), word(8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_checks_against_its_own_record_and_version_only() {
        let pool = Pool::new(7);
        let mut v = Vec::new();
        pool.fill(&mut v, 3, 5, 100);
        assert_eq!(pool.check(&v, 3, 100, 5..=5).unwrap(), 5);
        assert!(pool.check(&v, 4, 100, 0..=9).is_err());
        assert!(pool.check(&v, 3, 100, 0..=4).is_err(), "not written yet");
        assert!(pool.check(&v, 3, 100, 6..=9).is_err(), "stale");
        assert!(pool.check(&v[..99], 3, 100, 0..=9).is_err());
        let mut damaged = v.clone();
        damaged[50] ^= 1;
        assert!(pool.check(&damaged, 3, 100, 0..=9).is_err());
        let mut other = Vec::new();
        pool.fill(&mut other, 3, 6, 100);
        assert_ne!(other[HEADER_BYTES..], v[HEADER_BYTES..]);
    }
}
