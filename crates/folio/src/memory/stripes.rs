//! [`Stripes`]: striped per-key mutexes that order writes to one key —
//! the pattern of the paged engine's `store/keylocks.rs`, kept here so the
//! two engines can change independently.
//!
//! A writer holds its key's stripe from the moment its WAL record gets an
//! LSN until the table holds the new value, so for any one key, table order
//! equals LSN order: replay rebuilds exactly what readers saw.
//!
//! A snapshot that read the last LSN `c` cycles through every stripe
//! ([`Stripes::quiesce`]): each write with an LSN at or below `c` held its
//! stripe when `c` was read, so afterwards every such write is in the table.
//!
//! Lock order: a batch takes its stripes in ascending order, each once.

use std::hash::BuildHasher;

use foldhash::fast::RandomState;
use parking_lot::{Mutex, MutexGuard};

const STRIPES: usize = 1024;

/// Striped mutexes keyed by key hash.
pub(super) struct Stripes {
    stripes: Box<[Mutex<()>]>,
    hasher: RandomState,
}

/// Holds the stripes of one or more keys.
#[must_use]
pub(super) struct StripeGuard<'a>(#[allow(dead_code)] Vec<MutexGuard<'a, ()>>);

impl std::fmt::Debug for Stripes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stripes")
            .field("stripes", &self.stripes.len())
            .finish()
    }
}

impl Default for Stripes {
    fn default() -> Self {
        Stripes {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            hasher: RandomState::default(),
        }
    }
}

impl Stripes {
    fn index(&self, key: &[u8]) -> usize {
        // The modulo keeps the value below STRIPES, which fits usize.
        #[allow(clippy::cast_possible_truncation)]
        let i = (self.hasher.hash_one(key) % STRIPES as u64) as usize;
        i
    }

    /// Locks the stripe of `key`.
    pub(super) fn lock(&self, key: &[u8]) -> StripeGuard<'_> {
        StripeGuard(vec![self.stripes[self.index(key)].lock()])
    }

    /// Locks the stripes of every key, in ascending order, each once.
    pub(super) fn lock_all<'k>(&self, keys: impl Iterator<Item = &'k [u8]>) -> StripeGuard<'_> {
        let mut ids: Vec<usize> = keys.map(|k| self.index(k)).collect();
        ids.sort_unstable();
        ids.dedup();
        StripeGuard(ids.into_iter().map(|i| self.stripes[i].lock()).collect())
    }

    /// Takes and releases every stripe once: every writer that held one
    /// when this was called has finished.
    pub(super) fn quiesce(&self) {
        for stripe in self.stripes.iter() {
            drop(stripe.lock());
        }
    }
}
