//! [`LogIndex`]: for every page, the sorted LSNs of its stored versions.
//!
//! A map from page id to a sorted vector of LSNs, split into shards, each
//! behind its own reader-writer lock. GetPage@LSN is a binary search under a
//! shard's read lock; writers and vacuum hold a shard's write lock for one
//! page's edit at a time, never across I/O.
//!
//! Invariants (checked by [`LogIndex::assert_invariants`] in tests):
//! - every page's LSN vector is non-empty and strictly ascending (a page with
//!   no version has no entry);
//! - each shard's `versions` is the sum of its vectors' lengths and
//!   `heap_bytes` the heap memory its ids and spilled vectors own.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::mem::size_of;
use std::ops::ControlFlow;

use foldhash::fast::RandomState;
use parking_lot::RwLock;
use smallvec::SmallVec;

use super::key::PageLsn;

const SHARDS: usize = 256;

/// Versions kept inline before the vector spills to the heap.
const INLINE_VERSIONS: usize = 4;

type Lsns = SmallVec<[u64; INLINE_VERSIONS]>;

#[derive(Default)]
struct Shard {
    pages: HashMap<Box<[u8]>, Lsns, RandomState>,
    versions: usize,
    heap_bytes: usize,
}

/// Heap bytes one entry owns outside the map's table.
fn heap_bytes(id: &[u8], lsns: &Lsns) -> usize {
    let spilled = if lsns.spilled() {
        lsns.capacity() * size_of::<u64>()
    } else {
        0
    };
    id.len() + spilled
}

/// Memory and size figures of a [`LogIndex`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogIndexStats {
    /// Pages with at least one version.
    pub pages: u64,
    /// Versions over all pages.
    pub versions: u64,
    /// Bytes of memory the index holds: hash tables at their capacity,
    /// page ids and spilled LSN vectors (allocator overhead not counted).
    pub memory_bytes: u64,
}

impl LogIndexStats {
    /// Memory per stored version, in bytes (0 when empty).
    pub fn bytes_per_version(&self) -> f64 {
        if self.versions == 0 {
            0.0
        } else {
            self.memory_bytes as f64 / self.versions as f64
        }
    }
}

/// A concurrent map from page id to the sorted LSNs of its versions.
pub struct LogIndex {
    shards: Box<[RwLock<Shard>]>,
    hasher: RandomState,
}

impl std::fmt::Debug for LogIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogIndex")
            .field("stats", &self.stats())
            .finish()
    }
}

impl Default for LogIndex {
    fn default() -> Self {
        LogIndex {
            shards: (0..SHARDS).map(|_| RwLock::new(Shard::default())).collect(),
            hasher: RandomState::default(),
        }
    }
}

impl LogIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    fn shard(&self, id: &[u8]) -> &RwLock<Shard> {
        // The modulo keeps the value below SHARDS, which fits usize.
        #[allow(clippy::cast_possible_truncation)]
        let i = (self.hasher.hash_one(id) % SHARDS as u64) as usize;
        &self.shards[i]
    }

    /// Adds version `lsn` of page `id`; returns false when it was there.
    pub fn insert(&self, id: &[u8], lsn: PageLsn) -> bool {
        let mut shard = self.shard(id).write();
        let shard = &mut *shard;
        if let Some(lsns) = shard.pages.get_mut(id) {
            let at = match lsns.binary_search(&lsn.0) {
                Ok(_) => return false,
                Err(at) => at,
            };
            let before = heap_bytes(id, lsns);
            lsns.insert(at, lsn.0);
            shard.heap_bytes = shard.heap_bytes - before + heap_bytes(id, lsns);
        } else {
            let lsns: Lsns = smallvec::smallvec![lsn.0];
            shard.heap_bytes += heap_bytes(id, &lsns);
            shard.pages.insert(id.into(), lsns);
        }
        shard.versions += 1;
        true
    }

    /// True when page `id` has version `lsn`.
    pub fn contains(&self, id: &[u8], lsn: PageLsn) -> bool {
        let shard = self.shard(id).read();
        shard
            .pages
            .get(id)
            .is_some_and(|lsns| lsns.binary_search(&lsn.0).is_ok())
    }

    /// The newest version of page `id` at or below `lsn`.
    pub fn floor(&self, id: &[u8], lsn: PageLsn) -> Option<PageLsn> {
        let shard = self.shard(id).read();
        let lsns = shard.pages.get(id)?;
        let above = lsns.partition_point(|&v| v <= lsn.0);
        above.checked_sub(1).map(|i| PageLsn(lsns[i]))
    }

    /// Every version of page `id`, oldest first.
    pub fn versions(&self, id: &[u8]) -> Vec<PageLsn> {
        let shard = self.shard(id).read();
        shard
            .pages
            .get(id)
            .map(|lsns| lsns.iter().map(|&v| PageLsn(v)).collect())
            .unwrap_or_default()
    }

    /// Removes version `lsn` of page `id`; returns whether it was there.
    pub fn remove(&self, id: &[u8], lsn: PageLsn) -> bool {
        let mut shard = self.shard(id).write();
        let shard = &mut *shard;
        let Some(lsns) = shard.pages.get_mut(id) else {
            return false;
        };
        let Ok(at) = lsns.binary_search(&lsn.0) else {
            return false;
        };
        let before = heap_bytes(id, lsns);
        lsns.remove(at);
        shard.versions -= 1;
        if lsns.is_empty() {
            shard.heap_bytes -= before;
            shard.pages.remove(id);
        } else {
            shard.heap_bytes = shard.heap_bytes - before + heap_bytes(id, lsns);
        }
        true
    }

    /// Removes the versions of page `id` that vacuum at `horizon` drops:
    /// all older than the newest at or below `horizon`. Returns them.
    pub fn trim(&self, id: &[u8], horizon: PageLsn) -> Vec<PageLsn> {
        let mut shard = self.shard(id).write();
        let shard = &mut *shard;
        let Some(lsns) = shard.pages.get_mut(id) else {
            return Vec::new();
        };
        let drop = lsns.partition_point(|&v| v <= horizon.0).saturating_sub(1);
        if drop == 0 {
            return Vec::new();
        }
        let before = heap_bytes(id, lsns);
        let dropped = lsns.drain(..drop).map(PageLsn).collect::<Vec<_>>();
        if lsns.spilled() && lsns.len() <= INLINE_VERSIONS {
            lsns.shrink_to_fit();
        }
        shard.heap_bytes = shard.heap_bytes - before + heap_bytes(id, lsns);
        shard.versions -= dropped.len();
        dropped
    }

    /// The ids of shard `shard`'s pages that vacuum at `horizon` would
    /// trim, collected in one pass under the shard's read lock.
    fn trim_candidates(&self, shard: usize, horizon: PageLsn) -> Vec<Box<[u8]>> {
        let shard = self.shards[shard].read();
        shard
            .pages
            .iter()
            .filter(|(_, lsns)| lsns.len() >= 2 && lsns[1] <= horizon.0)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Calls `visit` for every page that vacuum at `horizon` would trim,
    /// until it returns `Break`. Candidates are gathered one shard at a
    /// time; no lock is held during the calls.
    pub fn for_each_trim_candidate(
        &self,
        horizon: PageLsn,
        mut visit: impl FnMut(&[u8]) -> ControlFlow<()>,
    ) {
        for shard in 0..self.shards.len() {
            for id in self.trim_candidates(shard, horizon) {
                if visit(&id).is_break() {
                    return;
                }
            }
        }
    }

    /// Size and memory figures.
    pub fn stats(&self) -> LogIndexStats {
        let slot = size_of::<(Box<[u8]>, Lsns)>() + 1;
        let mut stats = LogIndexStats::default();
        for shard in self.shards.iter() {
            let shard = shard.read();
            stats.pages += shard.pages.len() as u64;
            stats.versions += shard.versions as u64;
            stats.memory_bytes += (shard.pages.capacity() * slot + shard.heap_bytes) as u64;
        }
        stats.memory_bytes += (self.shards.len() * size_of::<RwLock<Shard>>()) as u64;
        stats
    }

    /// Panics when an invariant in the module documentation is broken.
    pub fn assert_invariants(&self) {
        for shard in self.shards.iter() {
            let shard = shard.read();
            let mut versions = 0;
            let mut heap = 0;
            for (id, lsns) in &shard.pages {
                assert!(!lsns.is_empty(), "a page entry with no version");
                assert!(
                    lsns.windows(2).all(|w| w[0] < w[1]),
                    "LSNs not strictly ascending: {lsns:?}"
                );
                versions += lsns.len();
                heap += heap_bytes(id, lsns);
            }
            assert_eq!(versions, shard.versions, "version count drifted");
            assert_eq!(heap, shard.heap_bytes, "heap byte count drifted");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_is_the_newest_at_or_below() {
        let index = LogIndex::new();
        for lsn in [30, 10, 20] {
            assert!(index.insert(b"p", PageLsn(lsn)));
        }
        assert!(!index.insert(b"p", PageLsn(20)));
        assert_eq!(index.floor(b"p", PageLsn(9)), None);
        assert_eq!(index.floor(b"p", PageLsn(10)), Some(PageLsn(10)));
        assert_eq!(index.floor(b"p", PageLsn(29)), Some(PageLsn(20)));
        assert_eq!(index.floor(b"p", PageLsn(u64::MAX)), Some(PageLsn(30)));
        assert_eq!(index.floor(b"q", PageLsn(u64::MAX)), None);
        assert_eq!(
            index.versions(b"p"),
            vec![PageLsn(10), PageLsn(20), PageLsn(30)]
        );
        index.assert_invariants();
    }

    #[test]
    fn trim_keeps_the_floor_of_the_horizon_and_everything_above() {
        let index = LogIndex::new();
        for lsn in 1..=10 {
            index.insert(b"p", PageLsn(lsn * 10));
        }
        index.insert(b"single", PageLsn(5));
        let mut candidates = Vec::new();
        index.for_each_trim_candidate(PageLsn(45), |id| {
            candidates.push(id.to_vec());
            ControlFlow::Continue(())
        });
        assert_eq!(candidates, vec![b"p".to_vec()]);
        let dropped = index.trim(b"p", PageLsn(45));
        assert_eq!(dropped, vec![PageLsn(10), PageLsn(20), PageLsn(30)]);
        assert_eq!(index.versions(b"p").first(), Some(&PageLsn(40)));
        assert!(index.trim(b"p", PageLsn(45)).is_empty());
        assert!(index.trim(b"single", PageLsn(100)).is_empty());
        assert_eq!(index.stats().versions, 8);
        index.assert_invariants();
    }

    #[test]
    fn memory_is_counted_and_returned() {
        let index = LogIndex::new();
        for page in 0u32..100 {
            for lsn in 0..8 {
                index.insert(&page.to_be_bytes(), PageLsn(lsn));
            }
        }
        let full = index.stats();
        assert_eq!((full.pages, full.versions), (100, 800));
        assert!(full.bytes_per_version() > 8.0);
        for page in 0u32..100 {
            for lsn in 0..8 {
                assert!(index.remove(&page.to_be_bytes(), PageLsn(lsn)));
            }
        }
        index.assert_invariants();
        let empty = index.stats();
        assert_eq!((empty.pages, empty.versions), (0, 0));
        assert!(empty.memory_bytes < full.memory_bytes);
    }
}
