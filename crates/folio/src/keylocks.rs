//! [`KeyLocks`]: striped per-key mutexes that order writes to one key, in
//! both engines (`store`, `memory`).
//!
//! A writer holds the stripe of its key from the moment its WAL record gets
//! an LSN until its index entry (or table entry) is swapped, so for any one
//! key, index order equals LSN order — replay after a crash rebuilds
//! exactly what readers saw. Writers of different keys almost never share a stripe, so they wait
//! for the same group-commit fsync together.
//!
//! A checkpoint that read the last LSN `c` then cycles through every stripe
//! ([`KeyLocks::quiesce`]): each writer holding an LSN at or below `c`
//! held its stripe when `c` was read, so once every stripe has been taken
//! and released, every such write is in the index.
//!
//! Lock order: the stripes of a batch are taken in ascending order; no
//! stripe is held while taking the view gate shared.

use std::hash::BuildHasher;

use foldhash::fast::RandomState;
use parking_lot::{Mutex, MutexGuard};

const STRIPES: usize = 4096;

/// Striped mutexes keyed by key hash.
pub struct KeyLocks {
    stripes: Box<[Mutex<()>]>,
    hasher: RandomState,
}

/// Holds the stripes of one or more keys.
#[must_use]
pub struct KeyGuard<'a>(#[allow(dead_code)] Vec<MutexGuard<'a, ()>>);

impl std::fmt::Debug for KeyLocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyLocks")
            .field("stripes", &self.stripes.len())
            .finish()
    }
}

impl Default for KeyLocks {
    fn default() -> Self {
        KeyLocks {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            hasher: RandomState::default(),
        }
    }
}

impl KeyLocks {
    fn stripe(&self, key: &[u8]) -> usize {
        // The modulo keeps the value below STRIPES, which fits usize.
        #[allow(clippy::cast_possible_truncation)]
        let i = (self.hasher.hash_one(key) % STRIPES as u64) as usize;
        i
    }

    /// Locks the stripe of `key`.
    pub fn lock(&self, key: &[u8]) -> KeyGuard<'_> {
        KeyGuard(vec![self.stripes[self.stripe(key)].lock()])
    }

    /// Locks the stripes of every key, in ascending order (no deadlock
    /// between batches), each once.
    pub fn lock_all<'k>(&self, keys: impl Iterator<Item = &'k [u8]>) -> KeyGuard<'_> {
        let mut ids: Vec<usize> = keys.map(|k| self.stripe(k)).collect();
        ids.sort_unstable();
        ids.dedup();
        KeyGuard(ids.into_iter().map(|i| self.stripes[i].lock()).collect())
    }

    /// Takes and releases every stripe once: every writer that held one
    /// when this was called has finished.
    pub fn quiesce(&self) {
        for stripe in self.stripes.iter() {
            drop(stripe.lock());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn quiesce_waits_for_a_holder() {
        let locks = KeyLocks::default();
        let released = AtomicBool::new(false);
        std::thread::scope(|s| {
            let held = locks.lock(b"k");
            s.spawn(|| {
                locks.quiesce();
                assert!(released.load(Ordering::SeqCst), "quiesce passed a holder");
            });
            std::thread::sleep(std::time::Duration::from_millis(30));
            released.store(true, Ordering::SeqCst);
            drop(held);
        });
    }

    #[test]
    fn lock_all_takes_each_stripe_once() {
        let locks = KeyLocks::default();
        let keys: Vec<Vec<u8>> = (0..10_000u32).map(|i| i.to_le_bytes().to_vec()).collect();
        let guard = locks.lock_all(keys.iter().map(Vec::as_slice));
        assert!(guard.0.len() <= STRIPES);
    }
}
