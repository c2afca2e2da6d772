//! Striped key locks that make read-then-write commands atomic.
//!
//! The engine's calls are each atomic but it has no compare-and-set, so
//! `SET key value NX` is a `get` followed by a `put`. Every command that
//! writes locks the stripes of the keys it touches first, so a conditional
//! set cannot interleave with another write to the same key. Reads take no
//! lock. Stripes are locked in ascending order, so multi-key commands cannot
//! deadlock. Guards are not `Send`: they cannot be held across an `.await`.

use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Number of stripes; a power of two, plenty for a few cores.
const STRIPES: usize = 64;

/// A fixed set of mutexes, one picked per key by hash.
#[derive(Debug)]
pub(crate) struct KeyLocks {
    stripes: Vec<Mutex<()>>,
    hasher: std::collections::hash_map::RandomState,
}

/// Holds the stripes of some keys until dropped.
pub(crate) struct KeyGuard<'a> {
    _guards: Vec<MutexGuard<'a, ()>>,
}

impl KeyLocks {
    /// A new set of unlocked stripes.
    pub(crate) fn new() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    /// Locks the stripes of every key in `keys`, in ascending stripe order.
    pub(crate) fn lock<'k>(&self, keys: impl IntoIterator<Item = &'k [u8]>) -> KeyGuard<'_> {
        let mut wanted = [false; STRIPES];
        for key in keys {
            wanted[self.stripe(key)] = true;
        }
        let guards = wanted
            .iter()
            .zip(&self.stripes)
            .filter(|(want, _)| **want)
            // The mutexes guard no data, so a panic elsewhere cannot have
            // left anything inconsistent: ignore poisoning.
            .map(|(_, stripe)| stripe.lock().unwrap_or_else(PoisonError::into_inner))
            .collect();
        KeyGuard { _guards: guards }
    }

    /// The stripe of `key`.
    fn stripe(&self, key: &[u8]) -> usize {
        let hash = self.hasher.hash_one(key);
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
        assert_eq!(guard._guards.len(), STRIPES);
        drop(guard);
        let _again = locks.lock([&b"x"[..]]);
    }
}
