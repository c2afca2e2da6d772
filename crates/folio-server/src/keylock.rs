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
//! While a `FLUSHDB` holds every stripe (for as long as it deletes), a
//! command waiting for one waits off the runtime
//! ([`crate::commands::off_the_runtime`]): writers blocked on the worker
//! threads would stop every other connection until the flush ended. Any
//! other wait is short (a write holds its stripe for microseconds) and
//! stays on the worker: moving it off costs a thread hand-off, and tokio
//! keeps the threads it starts for that (each with its own allocator
//! heap: 8 more threads and 24 MiB more RSS over the Redis comparison's
//! runs when every wait past 50 µs moved off).

use std::sync::atomic::{AtomicUsize, Ordering};

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
    /// `lock_all` holds taken or being taken: waits go off the runtime.
    long_holds: AtomicUsize,
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
    /// For `lock_all`: counts out of `long_holds` once the stripes are
    /// released (fields drop in order).
    _long: Option<LongHold<'a>>,
}

/// One count in [`KeyLocks::long_holds`], given back on drop.
struct LongHold<'a>(&'a AtomicUsize);

impl Drop for LongHold<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Release);
    }
}

impl KeyLocks {
    /// A new set of unlocked stripes.
    pub(crate) fn new() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| RwLock::new(())).collect(),
            seed: rand::random(),
            long_holds: AtomicUsize::new(0),
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
                _long: None,
            };
        };
        let first = self.stripe(first);
        let Some(second) = keys.next() else {
            return KeyGuard {
                _one: Some(self.acquire(first, mode)),
                _many: Vec::new(),
                _long: None,
            };
        };
        let mut wanted = [false; STRIPES];
        wanted[first] = true;
        wanted[self.stripe(second)] = true;
        for key in keys {
            wanted[self.stripe(key)] = true;
        }
        let guards = (0..STRIPES)
            .filter(|&i| wanted[i])
            .map(|i| self.acquire(i, mode))
            .collect();
        KeyGuard {
            _one: None,
            _many: guards,
            _long: None,
        }
    }

    /// Locks every stripe exclusively, in ascending order: no write runs
    /// until the guard is dropped (`FLUSHDB`). Counted in `long_holds`
    /// from before the first stripe until after the last is released, so
    /// every command that waits for one meanwhile waits off the runtime.
    pub(crate) fn lock_all(&self) -> KeyGuard<'_> {
        self.long_holds.fetch_add(1, Ordering::AcqRel);
        let long = LongHold(&self.long_holds);
        KeyGuard {
            _one: None,
            _many: (0..STRIPES)
                .map(|i| self.acquire(i, Mode::Exclusive))
                .collect(),
            _long: Some(long),
        }
    }

    /// Takes stripe `i` in `mode`, waiting on this thread in slices of
    /// [`WAIT_SLICE`] while no `lock_all` is under way, and off the runtime
    /// once one is.
    fn acquire(&self, i: usize, mode: Mode) -> Held<'_> {
        let stripe = &self.stripes[i];
        loop {
            let taken = match mode {
                Mode::Shared => stripe.try_read_for(WAIT_SLICE).map(Held::Shared),
                Mode::Exclusive => stripe.try_write_for(WAIT_SLICE).map(Held::Exclusive),
            };
            if let Some(held) = taken {
                return held;
            }
            if self.long_holds.load(Ordering::Acquire) > 0 {
                return off_the_runtime(|| match mode {
                    Mode::Shared => Held::Shared(stripe.read()),
                    Mode::Exclusive => Held::Exclusive(stripe.write()),
                });
            }
        }
    }

    /// The stripe of `key`.
    fn stripe(&self, key: &[u8]) -> usize {
        let hash = xxh3_64_with_seed(key, self.seed);
        usize::try_from(hash % STRIPES as u64).unwrap_or(0)
    }
}

/// How often a wait on the worker looks whether a `lock_all` began.
const WAIT_SLICE: std::time::Duration = std::time::Duration::from_micros(100);

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
        assert_eq!(locks.long_holds.load(Ordering::Acquire), 1);
        drop(all);
        assert_eq!(locks.long_holds.load(Ordering::Acquire), 0);
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
