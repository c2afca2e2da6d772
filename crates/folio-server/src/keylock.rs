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
//! other wait stays on the worker (most holds are microseconds; the
//! longest, a large `MGET` reading from disk, are milliseconds): leaving
//! it costs a thread hand-off, and tokio keeps the threads it starts for
//! that, each with its own allocator heap (over the Redis comparison's
//! runs, 8 more threads and 24 MiB more RSS when every wait past 50 µs
//! left the worker, 1–3 threads and 10–16 MiB past 2 ms).

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

    /// Takes stripe `i` in `mode` on this thread, in tries of
    /// [`FIRST_SLICE`] doubling up to [`LONGEST_SLICE`]; off the runtime
    /// with a blocking wait as soon as a `lock_all` is under way. A try
    /// that times out gives up its place in the lock's queue (readers
    /// parked behind a writer get in), so a writer retrying with one short
    /// slice could starve behind overlapping shared holds; a doubling one
    /// soon outlasts them.
    fn acquire(&self, i: usize, mode: Mode) -> Held<'_> {
        let stripe = &self.stripes[i];
        let mut slice = FIRST_SLICE;
        loop {
            let taken = match mode {
                Mode::Shared => stripe.try_read_for(slice).map(Held::Shared),
                Mode::Exclusive => stripe.try_write_for(slice).map(Held::Exclusive),
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
            slice = (slice * 2).min(LONGEST_SLICE);
        }
    }

    /// The stripe of `key`.
    fn stripe(&self, key: &[u8]) -> usize {
        let hash = xxh3_64_with_seed(key, self.seed);
        usize::try_from(hash % STRIPES as u64).unwrap_or(0)
    }
}

/// The first try at a taken stripe; each next one is twice as long.
const FIRST_SLICE: std::time::Duration = std::time::Duration::from_micros(100);

/// The longest try: how late a wait on a worker may notice a `lock_all`.
const LONGEST_SLICE: std::time::Duration = std::time::Duration::from_millis(10);

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

    /// A writer gets its stripe while readers keep it held shared, each
    /// hold overlapping the next (a liveness check: its tries grow until
    /// one outlasts the holds; on this machine a fixed 100 µs try also got
    /// through, so this does not show that one would starve).
    #[test]
    fn a_writer_is_not_starved_by_overlapping_shared_holds() {
        let locks = std::sync::Arc::new(KeyLocks::new());
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        // Four readers holding 400 µs each, a quarter of a hold apart: at
        // any instant one of them has more than 100 µs of its hold left.
        let readers: Vec<_> = (0..4u64)
            .map(|i| {
                let (locks, stop) = (std::sync::Arc::clone(&locks), std::sync::Arc::clone(&stop));
                std::thread::spawn(move || {
                    std::thread::sleep(std::time::Duration::from_micros(100 * i));
                    while !stop.load(Ordering::Relaxed) {
                        let _held = locks.lock_shared([&b"k"[..], b"other"]);
                        std::thread::sleep(std::time::Duration::from_micros(400));
                    }
                })
            })
            .collect();
        let (done, wrote) = std::sync::mpsc::channel();
        let writer_locks = std::sync::Arc::clone(&locks);
        std::thread::spawn(move || {
            for _ in 0..20 {
                drop(writer_locks.lock([&b"k"[..]]));
            }
            done.send(()).unwrap();
        });
        let waited = wrote.recv_timeout(std::time::Duration::from_secs(60));
        stop.store(true, Ordering::Relaxed);
        for reader in readers {
            reader.join().unwrap();
        }
        assert!(waited.is_ok(), "the writer never got its stripe");
    }
}
