//! The in-memory index of keys that have a deadline, ordered by deadline.
//!
//! It is a cache of the deadlines stored in the values (`envelope`), rebuilt
//! when the server starts. Writers change a key's entry while they hold the
//! key's stripe lock and after the engine write succeeded, so under that
//! lock the index agrees with the store.
//!
//! Counting the expired keys (`DBSIZE`, `INFO keyspace`) walks no more
//! than the keys that expired since the last count: the index keeps the
//! count and sum of the deadlines before a watermark, moves the watermark
//! to each count's time and walks only the deadlines it passes. Each entry
//! is walked once as time advances (again only if the clock goes back), so
//! a mass expiry costs one walk, not one per `DBSIZE`.
//!
//! Invariants (checked by `assert_invariants` in tests):
//! - `by_key` and `by_deadline` hold the same (key, deadline) pairs;
//! - `due` holds the number and sum of the deadlines before
//!   `due.before_ms`, which are the keys expired at that time.

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

/// A key, shared between the two maps.
type Key = Arc<[u8]>;

/// Keys with a deadline.
#[derive(Debug, Default)]
pub(crate) struct ExpiryIndex {
    inner: Mutex<Inner>,
    /// Number of keys in the index, readable without the lock: while it
    /// is 0, removing a deadline and looking one up take no lock (the
    /// common case of a key space without expiry).
    len: AtomicUsize,
}

#[derive(Debug, Default)]
struct Inner {
    by_key: HashMap<Key, u64>,
    by_deadline: BTreeSet<(u64, Key)>,
    /// Sum of the deadlines, for the mean time left without a walk.
    deadline_sum: u128,
    /// The deadlines passed at the watermark.
    due: Due,
}

/// Number and sum of the deadlines before `before_ms`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Due {
    before_ms: u64,
    count: usize,
    sum: u128,
}

/// True when a key with `deadline_ms` is gone at `now_ms`. Redis's rule: a
/// key lives through its deadline's millisecond.
pub(crate) fn is_expired(deadline_ms: u64, now_ms: u64) -> bool {
    now_ms > deadline_ms
}

impl ExpiryIndex {
    /// Records `key`'s deadline (`None` removes it) and returns the one it
    /// had.
    pub(crate) fn set(&self, key: &[u8], deadline_ms: Option<u64>) -> Option<u64> {
        // A writer holds the key's stripe lock, so no other writer can be
        // adding this key's deadline while the count reads 0.
        if deadline_ms.is_none() && self.len.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut inner = self.inner.lock();
        let previous = match deadline_ms {
            None => inner.remove(key),
            Some(deadline) => inner.insert(key, deadline),
        };
        self.len.store(inner.by_key.len(), Ordering::Release);
        previous
    }

    /// `key`'s deadline, if it has one.
    pub(crate) fn deadline(&self, key: &[u8]) -> Option<u64> {
        if self.len.load(Ordering::Acquire) == 0 {
            return None;
        }
        self.inner.lock().by_key.get(key).copied()
    }

    /// True when `key` has a deadline that has passed at `now_ms`.
    pub(crate) fn is_key_expired(&self, key: &[u8], now_ms: u64) -> bool {
        self.deadline(key).is_some_and(|d| is_expired(d, now_ms))
    }

    /// Up to `max` keys expired at `now_ms`, earliest deadline first.
    pub(crate) fn due(&self, now_ms: u64, max: usize) -> Vec<(Key, u64)> {
        let inner = self.inner.lock();
        inner
            .by_deadline
            .iter()
            .take_while(|(deadline, _)| is_expired(*deadline, now_ms))
            .take(max)
            .map(|(deadline, key)| (Arc::clone(key), *deadline))
            .collect()
    }

    /// Number of keys expired at `now_ms` (the engine still holds them
    /// until the sweep deletes them).
    pub(crate) fn count_due(&self, now_ms: u64) -> u64 {
        let due = self.inner.lock().due_at(now_ms);
        u64::try_from(due.count).unwrap_or(u64::MAX)
    }

    /// Keys with a deadline, and the mean time left of those not yet
    /// expired at `now_ms` (ms; 0 when none), for `INFO keyspace`.
    pub(crate) fn summary(&self, now_ms: u64) -> (u64, u64) {
        let mut inner = self.inner.lock();
        let due = inner.due_at(now_ms);
        let live = inner.by_key.len() - due.count;
        let live_sum = inner.deadline_sum - due.sum;
        let mean_left = live_sum
            .checked_div(live as u128)
            .map_or(0, |mean| mean.saturating_sub(u128::from(now_ms)));
        (
            u64::try_from(live).unwrap_or(u64::MAX),
            u64::try_from(mean_left).unwrap_or(u64::MAX),
        )
    }

    /// Panics when the two maps disagree.
    #[cfg(test)]
    pub(crate) fn assert_invariants(&self) {
        let inner = self.inner.lock();
        assert_eq!(inner.by_key.len(), inner.by_deadline.len());
        assert_eq!(self.len.load(Ordering::Acquire), inner.by_key.len());
        let sum: u128 = inner.by_key.values().map(|&d| u128::from(d)).sum();
        assert_eq!(inner.deadline_sum, sum);
        for (deadline, key) in &inner.by_deadline {
            assert_eq!(inner.by_key.get(key), Some(deadline));
        }
        let passed = inner
            .by_key
            .values()
            .filter(|&&d| is_expired(d, inner.due.before_ms));
        let (count, sum) = passed.fold((0, 0u128), |(n, s), &d| (n + 1, s + u128::from(d)));
        assert_eq!((inner.due.count, inner.due.sum), (count, sum));
    }
}

impl Inner {
    /// Sets `key`'s deadline; returns the previous one.
    fn insert(&mut self, key: &[u8], deadline: u64) -> Option<u64> {
        let previous = self.by_key.get(key).copied();
        if let Some(old) = previous {
            if old == deadline {
                return previous;
            }
            self.remove(key);
        }
        let key: Key = Arc::from(key);
        self.by_deadline.insert((deadline, Arc::clone(&key)));
        self.by_key.insert(key, deadline);
        self.deadline_sum += u128::from(deadline);
        if is_expired(deadline, self.due.before_ms) {
            self.due.count += 1;
            self.due.sum += u128::from(deadline);
        }
        previous
    }

    /// Removes `key`'s deadline; returns it.
    fn remove(&mut self, key: &[u8]) -> Option<u64> {
        let (key, deadline) = self.by_key.remove_entry(key)?;
        self.by_deadline.remove(&(deadline, key));
        self.deadline_sum -= u128::from(deadline);
        if is_expired(deadline, self.due.before_ms) {
            self.due.count -= 1;
            self.due.sum -= u128::from(deadline);
        }
        Some(deadline)
    }

    /// Moves the watermark to `now_ms`, walking only the deadlines between
    /// the old watermark and the new one, and returns the count there.
    fn due_at(&mut self, now_ms: u64) -> Due {
        let from = self.due.before_ms;
        let forward = now_ms >= from;
        let (low, high) = if forward {
            (from, now_ms)
        } else {
            (now_ms, from)
        };
        // Deadlines in [low, high): expired at `high` but not at `low`.
        let range = (
            Bound::Included((low, Key::from(&[][..]))),
            Bound::Excluded((high, Key::from(&[][..]))),
        );
        let (count, sum) = self
            .by_deadline
            .range(range)
            .fold((0usize, 0u128), |(n, s), (d, _)| {
                (n + 1, s + u128::from(*d))
            });
        if forward {
            self.due.count += count;
            self.due.sum += sum;
        } else {
            self.due.count -= count;
            self.due.sum -= sum;
        }
        self.due.before_ms = now_ms;
        self.due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_by_deadline_and_replaces() {
        let index = ExpiryIndex::default();
        index.set(b"c", Some(30));
        index.set(b"a", Some(10));
        index.set(b"b", Some(20));
        index.set(b"c", Some(5));
        index.assert_invariants();
        let due: Vec<_> = index
            .due(20, 10)
            .into_iter()
            .map(|(k, d)| (k.to_vec(), d))
            .collect();
        assert_eq!(due, vec![(b"c".to_vec(), 5), (b"a".to_vec(), 10)]);
        assert_eq!(index.count_due(20), 2);
        assert_eq!(index.due(100, 1).len(), 1);
        index.set(b"a", None);
        index.set(b"missing", None);
        index.assert_invariants();
        assert_eq!(index.deadline(b"a"), None);
        assert!(index.is_key_expired(b"c", 6));
        assert!(
            !index.is_key_expired(b"c", 5),
            "a key lives through its deadline"
        );
        assert_eq!(index.summary(10), (1, 10));
    }

    /// The counts kept at the watermark match a walk of every deadline,
    /// whatever the order of writes and counts, the clock going back
    /// included.
    mod model {
        use proptest::prelude::*;

        use super::*;

        #[derive(Debug, Clone)]
        enum Op {
            Set(Vec<u8>, Option<u64>),
            Count(u64),
        }

        /// Small times, and times at the top of the range.
        fn time() -> impl Strategy<Value = u64> {
            prop_oneof![0u64..70, (u64::MAX - 3)..=u64::MAX]
        }

        fn op() -> impl Strategy<Value = Op> {
            // The empty key sorts first, as the walk's bounds do.
            let key = prop_oneof![Just(Vec::new()), any::<u8>().prop_map(|k| vec![k])];
            prop_oneof![
                (key, proptest::option::of(time())).prop_map(|(k, d)| Op::Set(k, d)),
                time().prop_map(Op::Count),
            ]
        }

        proptest! {
            #[test]
            fn counts_match_a_full_walk(ops in proptest::collection::vec(op(), 1..200)) {
                let index = ExpiryIndex::default();
                let mut model: HashMap<Vec<u8>, u64> = HashMap::new();
                for op in ops {
                    match op {
                        Op::Set(key, deadline) => {
                            let previous = index.set(&key, deadline);
                            let expected = match deadline {
                                Some(d) => model.insert(key, d),
                                None => model.remove(&key),
                            };
                            prop_assert_eq!(previous, expected);
                        }
                        Op::Count(now_ms) => {
                            let due: Vec<u64> =
                                model.values().copied().filter(|&d| is_expired(d, now_ms)).collect();
                            prop_assert_eq!(index.count_due(now_ms), due.len() as u64);
                            let live: Vec<u64> =
                                model.values().copied().filter(|&d| !is_expired(d, now_ms)).collect();
                            let mean_left = (live.iter().map(|&d| u128::from(d)).sum::<u128>())
                                .checked_div(live.len() as u128)
                                .map_or(0, |m| m.saturating_sub(u128::from(now_ms)));
                            prop_assert_eq!(
                                index.summary(now_ms),
                                (live.len() as u64, u64::try_from(mean_left).expect("a u64 mean"))
                            );
                        }
                    }
                    index.assert_invariants();
                }
            }
        }
    }
}
