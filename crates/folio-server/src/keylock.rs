//! Striped key locks that make read-then-write commands atomic.
//!
//! The engine's calls are each atomic but it has no compare-and-set, so
//! `SET key value NX` is a `get` followed by a `put`. Every command that
//! writes locks the stripes of the keys it touches first, so a conditional
//! set cannot interleave with another write to the same key. Reads take no
//! lock. Stripes are locked in ascending order, so multi-key commands cannot
//! deadlock. Guards are not `Send`: they cannot be held across an `.await`.

use parking_lot::{Mutex, MutexGuard};
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Number of stripes; a power of two, plenty for a few cores.
const STRIPES: usize = 64;

/// A fixed set of mutexes, one picked per key by a seeded hash (clients
/// cannot aim their keys at one stripe without knowing the seed).
#[derive(Debug)]
pub(crate) struct KeyLocks {
    stripes: Vec<Mutex<()>>,
    seed: u64,
}

/// Holds the stripes of some keys until dropped: one stripe (most commands
/// write one key: no allocation) or several.
pub(crate) struct KeyGuard<'a> {
    _one: Option<MutexGuard<'a, ()>>,
    _many: Vec<MutexGuard<'a, ()>>,
}

impl KeyLocks {
    /// A new set of unlocked stripes.
    pub(crate) fn new() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            seed: rand::random(),
        }
    }

    /// Locks the stripes of every key in `keys`, in ascending stripe order.
    pub(crate) fn lock<'k>(&self, keys: impl IntoIterator<Item = &'k [u8]>) -> KeyGuard<'_> {
        let mut keys = keys.into_iter();
        let Some(first) = keys.next() else {
            return KeyGuard {
                _one: None,
                _many: Vec::new(),
            };
        };
        let first = self.stripe(first);
        let Some(second) = keys.next() else {
            return KeyGuard {
                _one: Some(self.stripes[first].lock()),
                _many: Vec::new(),
            };
        };
        let mut wanted = [false; STRIPES];
        wanted[first] = true;
        wanted[self.stripe(second)] = true;
        for key in keys {
            wanted[self.stripe(key)] = true;
        }
        let guards = wanted
            .iter()
            .zip(&self.stripes)
            .filter(|(want, _)| **want)
            .map(|(_, stripe)| stripe.lock())
            .collect();
        KeyGuard {
            _one: None,
            _many: guards,
        }
    }

    /// Locks every stripe, in ascending order: no write runs until the
    /// guard is dropped (`FLUSHDB`).
    pub(crate) fn lock_all(&self) -> KeyGuard<'_> {
        KeyGuard {
            _one: None,
            _many: self.stripes.iter().map(Mutex::lock).collect(),
        }
    }

    /// The stripe of `key`.
    fn stripe(&self, key: &[u8]) -> usize {
        let hash = xxh3_64_with_seed(key, self.seed);
        usize::try_from(hash % STRIPES as u64).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_many_keys_including_repeats() {
        let locks = KeyLocks::new();
        let keys: Vec<Vec<u8>> = (0..1000u32).map(|i| i.to_be_bytes().to_vec()).collect();
        let guard = locks.lock(keys.iter().map(Vec::as_slice).chain([&b"x"[..], b"x"]));
        assert_eq!(guard._many.len(), STRIPES);
        drop(guard);
        let one = locks.lock([&b"x"[..]]);
        assert!(one._one.is_some() && one._many.is_empty());
        drop(one);
        // A key twice is one stripe, locked once (no self-deadlock).
        let twice = locks.lock([&b"x"[..], b"x"]);
        assert_eq!(twice._many.len(), 1);
        drop(twice);
        let none = locks.lock([]);
        assert!(none._one.is_none() && none._many.is_empty());
        let all = locks.lock_all();
        assert_eq!(all._many.len(), STRIPES);
        assert!(locks.stripes.iter().all(Mutex::is_locked));
    }
}
