//! Per-key locks for engines whose delete does not say whether the key was
//! there (RocksDB, fjall).
//!
//! `KvStore::delete` returns whether the key was present, and each call is
//! atomic with respect to the others. On these engines that takes a read
//! and a write; holding the key's stripe across both, and across every
//! other write of the key, keeps a concurrent put from landing between
//! them. A batch takes the stripes of all its keys in ascending order, so
//! two batches cannot deadlock. Reads take none.

use parking_lot::{Mutex, MutexGuard};

/// Number of stripes (a power of two).
const STRIPES: usize = 1024;

/// The stripe locks.
pub(crate) struct Stripes {
    locks: Box<[Mutex<()>]>,
}

impl Stripes {
    /// Every stripe unlocked.
    pub(crate) fn new() -> Self {
        Stripes {
            locks: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }

    fn index(key: &[u8]) -> usize {
        let [a, b, ..] = xxhash_rust::xxh3::xxh3_64(key).to_le_bytes();
        usize::from(u16::from_le_bytes([a, b])) & (STRIPES - 1)
    }

    /// Locks the stripe of `key`.
    pub(crate) fn lock(&self, key: &[u8]) -> MutexGuard<'_, ()> {
        self.locks[Self::index(key)].lock()
    }

    /// Locks the stripes of all `keys`, each once, in ascending order.
    pub(crate) fn lock_all<'k>(
        &self,
        keys: impl Iterator<Item = &'k [u8]>,
    ) -> Vec<MutexGuard<'_, ()>> {
        let mut indexes: Vec<usize> = keys.map(Self::index).collect();
        indexes.sort_unstable();
        indexes.dedup();
        indexes.into_iter().map(|i| self.locks[i].lock()).collect()
    }
}
