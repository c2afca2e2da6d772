//! `SCAN`'s cursor: a position in the 63-bit space of a seeded hash of the
//! keys (63 bits, so that every cursor fits the signed 64-bit integer many
//! client libraries parse cursors into).
//!
//! The engine's hash table has no stable order to resume from, so each call
//! visits every key and returns, of those whose hash is at or past the
//! cursor, the ones with the smallest hashes (a bounded heap holds just
//! those, so a call's memory follows its page, not the key count); the next cursor is the hash
//! after the last one returned. The hash ranges of successive calls do not
//! overlap and together cover the space, so a key present for the whole
//! iteration is returned exactly once (Redis promises at least once), and a
//! key with the same hash as the last one returned is returned with it.
//!
//! Cost: each call reads the whole key set, so a call returns at least
//! 1/[`MIN_PASSES_FRACTION`] of it whatever `COUNT` says (`COUNT` is a hint
//! in Redis too): a full iteration costs at most that many passes over the
//! keys rather than one per `COUNT` keys.

use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::{Keyspace, Result};

/// A call returns at least 1/this of the keys.
pub(crate) const MIN_PASSES_FRACTION: u64 = 64;

/// Most key bytes one page holds (each key counted with
/// [`KEY_OVERHEAD_BYTES`]); a page over it ends early, at a hash boundary.
pub(crate) const MAX_PAGE_BYTES: usize = 256 * 1024 * 1024;

/// What a listed key costs besides its bytes (its reply and allocation).
pub(crate) const KEY_OVERHEAD_BYTES: usize = 64;

/// The position of `key` in the cursor space.
fn position(key: &[u8], seed: u64) -> u64 {
    xxh3_64_with_seed(key, seed) >> 1
}

/// One page of a `SCAN` iteration.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ScanPage {
    /// Where the next call starts; 0 when the iteration is over.
    pub next_cursor: u64,
    /// Keys of this page, expired ones left out.
    pub keys: Vec<Vec<u8>>,
}

/// The page of `keyspace` starting at hash `cursor` (0: the beginning).
pub(super) fn scan(
    keyspace: &Keyspace,
    cursor: u64,
    count: usize,
    now_ms: u64,
) -> Result<ScanPage> {
    let total = keyspace.store.len()?;
    let wanted = usize::try_from(total.div_ceil(MIN_PASSES_FRACTION))
        .unwrap_or(usize::MAX)
        .max(count)
        .max(1);
    let mut smallest = Smallest::new(wanted, MAX_PAGE_BYTES);
    // In place: the visitor only hashes and keeps a page's worth, so the
    // engine need not copy out its whole key set for every call.
    keyspace.store.for_each_key_in_place(&mut |key| {
        let hash = position(key, keyspace.scan_seed);
        if hash >= cursor {
            smallest.offer(hash, key);
        }
        std::ops::ControlFlow::Continue(())
    })?;
    let (candidates, next_cursor) = smallest.finish();
    if keyspace.is_clearing() {
        // A flush began meanwhile: the key space is empty, and so is the
        // rest of the iteration.
        return Ok(ScanPage::default());
    }
    let keys = candidates
        .into_iter()
        .filter(|(_, key)| !keyspace.expiries.is_key_expired(key, now_ms))
        .map(|(_, key)| key)
        .collect();
    Ok(ScanPage { next_cursor, keys })
}

/// What a kept key counts against a page's byte budget.
fn cost(key: &[u8]) -> usize {
    key.len() + KEY_OVERHEAD_BYTES
}

/// The keys with the `wanted` smallest positions of those offered, and
/// every key sharing a position with one of them, as long as they fit
/// `max_bytes` (the first position's keys are kept whatever their size, so
/// that the iteration moves on); a page that does not fit ends at a
/// position boundary. Holds at most those keys at any time (and the ties
/// of its largest), so a call's memory follows its page, not the key
/// count.
struct Smallest {
    wanted: usize,
    max_bytes: usize,
    /// A max-heap by position: the top is the first to go.
    heap: std::collections::BinaryHeap<(u64, Vec<u8>)>,
    /// [`cost`] of the keys in `heap`.
    bytes: usize,
    /// The smallest position of a key offered and not kept: no key at or
    /// past it may be kept after it, or the page would have a gap.
    limit: Option<u64>,
}

impl Smallest {
    fn new(wanted: usize, max_bytes: usize) -> Self {
        Self {
            wanted,
            max_bytes,
            heap: std::collections::BinaryHeap::new(),
            bytes: 0,
            limit: None,
        }
    }

    fn offer(&mut self, hash: u64, key: &[u8]) {
        let past_limit = self.limit.is_some_and(|limit| hash >= limit);
        // It would be the largest position, alone, and not fit.
        let would_go = self.heap.peek().is_some_and(|(top, _)| hash > *top)
            && (self.heap.len() >= self.wanted || self.bytes + cost(key) > self.max_bytes);
        if past_limit || would_go {
            self.left_out(hash);
            return;
        }
        self.bytes += cost(key);
        self.heap.push((hash, key.to_vec()));
        self.shed_largest_groups();
    }

    fn left_out(&mut self, hash: u64) {
        self.limit = Some(self.limit.map_or(hash, |limit| limit.min(hash)));
    }

    /// Drops the keys of the largest position while the rest still number
    /// `wanted`, or while they are over `max_bytes` and others remain.
    fn shed_largest_groups(&mut self) {
        while self.heap.len() > self.wanted || self.bytes > self.max_bytes {
            let Some(&(top, _)) = self.heap.peek() else {
                return;
            };
            let over_bytes = self.bytes > self.max_bytes;
            let mut group = Vec::new();
            while self.heap.peek().is_some_and(|(h, _)| *h == top) {
                group.extend(self.heap.pop());
            }
            let rest = self.heap.len();
            if rest >= self.wanted || (over_bytes && rest > 0) {
                self.left_out(top);
                self.bytes -= group.iter().map(|(_, k)| cost(k)).sum::<usize>();
            } else {
                self.heap.extend(group);
                return;
            }
        }
    }

    /// The kept keys and the next cursor: past the largest kept position
    /// when a key was left out, else 0 (the iteration is over).
    fn finish(self) -> (Vec<(u64, Vec<u8>)>, u64) {
        // Positions are below 2^63, so `+ 1` cannot overflow.
        let next = match self.heap.peek() {
            Some((top, _)) if self.limit.is_some() => top + 1,
            _ => 0,
        };
        (self.heap.into_vec(), next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keep(wanted: usize, offers: &[(u64, u8)]) -> (Vec<(u64, u8)>, u64) {
        let mut smallest = Smallest::new(wanted, usize::MAX);
        for &(hash, byte) in offers {
            smallest.offer(hash, &[byte]);
        }
        let (kept, next) = smallest.finish();
        let mut kept: Vec<(u64, u8)> = kept.into_iter().map(|(h, k)| (h, k[0])).collect();
        kept.sort_unstable();
        (kept, next)
    }

    #[test]
    fn the_smallest_positions_are_kept_with_their_ties() {
        assert_eq!(
            keep(2, &[(5, 1), (3, 2), (9, 3), (1, 4)]),
            (vec![(1, 4), (3, 2)], 4)
        );
        // A tie of the largest kept position stays, offered before or after.
        assert_eq!(
            keep(2, &[(3, 1), (1, 2), (3, 3), (7, 4)]),
            (vec![(1, 2), (3, 1), (3, 3)], 4)
        );
        assert_eq!(
            keep(2, &[(7, 4), (3, 1), (3, 3), (1, 2), (3, 5)]),
            (vec![(1, 2), (3, 1), (3, 3), (3, 5)], 4)
        );
        // Everything fits: the iteration is over.
        assert_eq!(keep(5, &[(4, 1), (2, 2)]), (vec![(2, 2), (4, 1)], 0));
        assert_eq!(keep(1, &[]), (vec![], 0));
    }

    #[test]
    fn the_heap_matches_a_sort_on_random_offers() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        for _ in 0..200 {
            let n = rng.gen_range(0..60);
            let wanted = rng.gen_range(1..20);
            let offers: Vec<(u64, u8)> = (0..n).map(|i| (rng.gen_range(0..30), i)).collect();
            let mut sorted = offers.clone();
            sorted.sort_unstable();
            let expected: Vec<(u64, u8)> = match sorted.get(wanted - 1) {
                Some(&(last, _)) if sorted.len() > wanted => {
                    sorted.iter().copied().filter(|(h, _)| *h <= last).collect()
                }
                _ => sorted.clone(),
            };
            let (kept, next) = keep(wanted, &offers);
            assert_eq!(kept, expected, "{offers:?} wanted {wanted}");
            let more = expected.len() < offers.len();
            assert_eq!(
                next,
                if more {
                    expected.last().unwrap().0 + 1
                } else {
                    0
                }
            );
        }
    }

    #[test]
    fn a_page_over_the_byte_limit_ends_at_a_position_boundary() {
        let run = |max_bytes: usize, offers: &[(u64, u8)]| {
            let mut smallest = Smallest::new(usize::MAX, max_bytes);
            for &(hash, byte) in offers {
                smallest.offer(hash, &[byte; 36]); // 100 bytes each
                let positions: std::collections::BTreeSet<u64> =
                    smallest.heap.iter().map(|(h, _)| *h).collect();
                assert!(
                    smallest.bytes <= max_bytes || positions.len() == 1,
                    "never over the budget but for the first position's keys"
                );
            }
            let bytes = smallest.bytes;
            let (kept, next) = smallest.finish();
            assert_eq!(bytes, kept.len() * 100);
            let mut kept: Vec<(u64, u8)> = kept.into_iter().map(|(h, k)| (h, k[0])).collect();
            kept.sort_unstable();
            (kept, next)
        };
        let offers = [(9, 1), (3, 2), (5, 3), (5, 4), (7, 5)];
        assert_eq!(run(1000, &offers).1, 0, "under the limit");
        assert_eq!(run(250, &offers), (vec![(3, 2)], 4), "the 5s go together");
        assert_eq!(
            run(250, &[(9, 1), (3, 2), (5, 3), (5, 4), (4, 6), (7, 5)]),
            (vec![(3, 2), (4, 6)], 5),
            "once the 5s are out, 7 stays out though it fits, and 4 comes in"
        );
        assert_eq!(
            run(300, &offers),
            (vec![(3, 2), (5, 3), (5, 4)], 6),
            "the 5s fit together"
        );
        assert_eq!(
            run(50, &[(8, 3), (4, 1), (4, 2)]),
            (vec![(4, 1), (4, 2)], 5),
            "the first position always goes"
        );
    }
}
