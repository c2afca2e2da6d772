//! Striped key locks that make read-then-write commands atomic, and
//! multi-key reads see no multi-key write half done.
//!
//! The engine's calls are each atomic but it has no compare-and-set, so
//! `SET key value NX` is a `get` followed by a `put`. Every command that
//! writes locks the stripes of the keys it touches first, exclusively, so
//! a conditional set cannot interleave with another write to the same key.
//! Commands that read several keys (`MGET`, `EXISTS`) hold their stripes
//! shared, so an `MSET` or `FLUSHDB` is wholly before or after them, as in
//! Redis. Single-key reads take no lock. Stripes are locked in ascending
//! order, so multi-key commands cannot deadlock. Guards are not `Send`:
//! they cannot be held across an `.await`.
//!
//! A stripe another command holds for longer than [`WAIT_ON_WORKER`] is
//! waited for off the runtime ([`crate::commands::off_the_runtime`]): a
//! `FLUSHDB` holds every stripe while it deletes, and writers blocked on a
//! worker thread would stop it from serving every other connection. A
//! stripe free or freed within that time is taken with no hand-off.

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::commands::off_the_runtime;

/// Number of stripes; a power of two, plenty for a few cores.
const STRIPES: usize = 64;

/// A fixed set of locks, one picked per key by a seeded hash (clients
/// cannot aim their keys at one stripe without knowing the seed).
#[derive(Debug)]
pub(crate) struct KeyLocks {
    stripes: Vec<RwLock<()>>,
    seed: u64,
}

/// How a stripe is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// By a multi-key read.
    Shared,
    /// By a write.
    Exclusive,
}

/// One stripe, held until dropped.
#[allow(dead_code, reason = "the guards are held for their drop, never read")]
enum Held<'a> {
    Shared(RwLockReadGuard<'a, ()>),
    Exclusive(RwLockWriteGuard<'a, ()>),
}

/// Holds the stripes of some keys until dropped: one stripe (most commands
/// write one key: no allocation) or several.
pub(crate) struct KeyGuard<'a> {
    _one: Option<Held<'a>>,
    _many: Vec<Held<'a>>,
}

impl KeyLocks {
    /// A new set of unlocked stripes.
    pub(crate) fn new() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| RwLock::new(())).collect(),
            seed: rand::random(),
        }
    }

    /// Locks the stripes of every key in `keys` exclusively, in ascending
    /// stripe order: for a write.
    pub(crate) fn lock<'k>(&self, keys: impl IntoIterator<Item = &'k [u8]>) -> KeyGuard<'_> {
        self.lock_in(keys, Mode::Exclusive)
    }

    /// Locks the stripes of every key in `keys` shared, in ascending stripe
    /// order: for a read of several keys that must not see a multi-key
    /// write half done.
    pub(crate) fn lock_shared<'k>(&self, keys: impl IntoIterator<Item = &'k [u8]>) -> KeyGuard<'_> {
        self.lock_in(keys, Mode::Shared)
    }

    fn lock_in<'k>(&self, keys: impl IntoIterator<Item = &'k [u8]>, mode: Mode) -> KeyGuard<'_> {
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
                _one: Some(acquire(&self.stripes[first], mode)),
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
            .map(|(_, stripe)| acquire(stripe, mode))
            .collect();
        KeyGuard {
            _one: None,
            _many: guards,
        }
    }

    /// Locks every stripe exclusively, in ascending order: no write runs
    /// until the guard is dropped (`FLUSHDB`).
    pub(crate) fn lock_all(&self) -> KeyGuard<'_> {
        KeyGuard {
            _one: None,
            _many: self
                .stripes
                .iter()
                .map(|stripe| acquire(stripe, Mode::Exclusive))
                .collect(),
        }
    }

    /// The stripe of `key`.
    fn stripe(&self, key: &[u8]) -> usize {
        let hash = xxh3_64_with_seed(key, self.seed);
        usize::try_from(hash % STRIPES as u64).unwrap_or(0)
    }
}

/// How long a stripe is waited for on the runtime's worker before the
/// wait moves off it: a write holds its stripe for microseconds, and the
/// hand-off to `block_in_place` costs more than that; a `FLUSHDB`, or a
/// write to an engine that fsyncs under the stripe, holds it for
/// milliseconds or more.
const WAIT_ON_WORKER: std::time::Duration = std::time::Duration::from_micros(50);

/// Takes `stripe` in `mode`: on this thread when it is free within
/// [`WAIT_ON_WORKER`], else waiting off the runtime.
fn acquire(stripe: &RwLock<()>, mode: Mode) -> Held<'_> {
    let at_once = match mode {
        Mode::Shared => stripe.try_read_for(WAIT_ON_WORKER).map(Held::Shared),
        Mode::Exclusive => stripe.try_write_for(WAIT_ON_WORKER).map(Held::Exclusive),
    };
    at_once.unwrap_or_else(|| {
        off_the_runtime(|| match mode {
            Mode::Shared => Held::Shared(stripe.read()),
            Mode::Exclusive => Held::Exclusive(stripe.write()),
        })
    })
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
        assert!(locks.stripes.iter().all(RwLock::is_locked_exclusive));
    }

    #[test]
    fn shared_holds_share_and_keep_writers_out() {
        let locks = KeyLocks::new();
        let keys = [&b"a"[..], b"b", b"c"];
        let first = locks.lock_shared(keys);
        let second = locks.lock_shared(keys);
        let stripe = locks.stripe(b"a");
        assert!(locks.stripes[stripe].try_write().is_none());
        drop((first, second));
        assert!(locks.stripes[stripe].try_write().is_some());
    }

    /// Writers waiting for stripes a flush holds leave the runtime's
    /// workers free: more waiting writers than workers, and another task
    /// still runs.
    #[test]
    fn waiting_writers_do_not_stop_the_runtime() {
        let locks = std::sync::Arc::new(KeyLocks::new());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let all = locks.lock_all();
        let writers: Vec<_> = (0..4u8)
            .map(|i| {
                let locks = std::sync::Arc::clone(&locks);
                runtime.spawn(async move {
                    drop(locks.lock([&[i][..]]));
                })
            })
            .collect();
        let (ran, other) = std::sync::mpsc::channel();
        runtime.spawn(async move { ran.send(7).unwrap() });
        let waited = other.recv_timeout(std::time::Duration::from_secs(60));
        assert_eq!(waited, Ok(7), "no task ran while writers waited");
        drop(all);
        runtime.block_on(async {
            for writer in writers {
                writer.await.unwrap();
            }
        });
    }
}
