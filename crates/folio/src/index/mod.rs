//! Index layer: a concurrent hash map from key to the value's location and
//! metadata. It never touches the disk.
//!
//! Keys are hashed once with xxh3 under a per-process random seed (clients
//! cannot precompute colliding keys); the high bits pick the shard, the hash
//! itself places the key in the shard's table. Each shard is a read-write
//! lock, so readers never take a global lock and never block each other.
//!
//! Reclamation rule (with the store): a reader holds its key's shard read
//! lock while it copies the value out of the buffer pool, and a writer frees
//! an old slot only after replacing the entry under the shard write lock. So a
//! freed slot is never reused while a reader can still reach it.

use hashbrown::HashTable;
use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::disk::SlotAddr;

/// Where a value lives and how to check it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The slot holding the value; `None` for the empty value.
    pub slot: Option<SlotAddr>,
    /// Length of the value in bytes.
    pub len: u32,
    /// xxh3-64 of the value bytes.
    pub checksum: u64,
}

type Table = HashTable<(Box<[u8]>, Entry)>;

/// The index of one store.
#[derive(Debug)]
pub struct Index {
    seed: u64,
    shard_bits: u32,
    shards: Box<[RwLock<Table>]>,
}

/// Write access to several shards at once, for atomic batches. Holds the
/// write locks of the shards it was built for, taken in ascending order.
pub struct WriteSet<'a> {
    index: &'a Index,
    guards: Vec<(usize, RwLockWriteGuard<'a, Table>)>,
}

impl Index {
    /// An empty index with `shards` shards (a power of two).
    pub fn new(shards: usize) -> Self {
        assert!(
            shards.is_power_of_two(),
            "shard count must be a power of two"
        );
        Index {
            seed: rand::random(),
            shard_bits: shards.trailing_zeros(),
            shards: (0..shards).map(|_| RwLock::new(HashTable::new())).collect(),
        }
    }

    /// The seeded hash of `key`.
    pub fn hash(&self, key: &[u8]) -> u64 {
        xxh3_64_with_seed(key, self.seed)
    }

    fn shard_of(&self, hash: u64) -> usize {
        if self.shard_bits == 0 {
            0
        } else {
            // hashbrown uses the low bits and the top 7; take the next ones.
            usize::try_from((hash >> (57 - self.shard_bits)) & ((1 << self.shard_bits) - 1))
                .expect("shard index fits usize")
        }
    }

    /// Runs `f` with the entry of `key` while holding its shard's read lock.
    pub fn with_entry<R>(&self, key: &[u8], f: impl FnOnce(Option<&Entry>) -> R) -> R {
        let hash = self.hash(key);
        let shard = self.shards[self.shard_of(hash)].read();
        let entry = shard.find(hash, |(k, _)| **k == *key).map(|(_, e)| e);
        f(entry)
    }

    /// Sets (`Some`) or removes (`None`) the entry of `key`; returns the
    /// previous entry.
    pub fn replace(&self, key: &[u8], entry: Option<Entry>) -> Option<Entry> {
        let hash = self.hash(key);
        let mut shard = self.shards[self.shard_of(hash)].write();
        replace_in(&mut shard, self.seed, hash, key, entry)
    }

    /// Locks the shards of all `keys` for writing.
    pub fn write_set<'k>(&self, keys: impl IntoIterator<Item = &'k [u8]>) -> WriteSet<'_> {
        let mut ids: Vec<usize> = keys
            .into_iter()
            .map(|k| self.shard_of(self.hash(k)))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let guards = ids
            .into_iter()
            .map(|i| (i, self.shards[i].write()))
            .collect();
        WriteSet {
            index: self,
            guards,
        }
    }

    /// Number of keys.
    pub fn len(&self) -> u64 {
        self.shards.iter().map(|s| s.read().len() as u64).sum()
    }

    /// True when the index holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of shards.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// A copy of the keys of shard `shard`, taken under its read lock.
    pub fn shard_keys(&self, shard: usize) -> Vec<Box<[u8]>> {
        self.shards[shard]
            .read()
            .iter()
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Visits every entry under the shards' read locks (for checkpoints;
    /// the visitor must not touch the index).
    pub fn for_each_entry(&self, mut visit: impl FnMut(&[u8], &Entry)) {
        for shard in self.shards.iter() {
            let shard: RwLockReadGuard<'_, Table> = shard.read();
            for (k, e) in shard.iter() {
                visit(k, e);
            }
        }
    }
}

impl WriteSet<'_> {
    /// Sets or removes the entry of `key`, whose shard must be locked by this
    /// set; returns the previous entry.
    pub fn replace(&mut self, key: &[u8], entry: Option<Entry>) -> Option<Entry> {
        let hash = self.index.hash(key);
        let shard = self.index.shard_of(hash);
        let pos = self
            .guards
            .binary_search_by_key(&shard, |(i, _)| *i)
            .expect("write set holds the shard of every key it was built for");
        replace_in(&mut self.guards[pos].1, self.index.seed, hash, key, entry)
    }
}

fn replace_in(
    table: &mut Table,
    seed: u64,
    hash: u64,
    key: &[u8],
    entry: Option<Entry>,
) -> Option<Entry> {
    let rehash = |(k, _): &(Box<[u8]>, Entry)| xxh3_64_with_seed(k, seed);
    match (table.find_entry(hash, |(k, _)| **k == *key), entry) {
        (Ok(mut slot), Some(new)) => Some(std::mem::replace(&mut slot.get_mut().1, new)),
        (Ok(slot), None) => Some(slot.remove().0 .1),
        (Err(_), Some(new)) => {
            table.insert_unique(hash, (key.into(), new), rehash);
            None
        }
        (Err(_), None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(len: u32) -> Entry {
        Entry {
            slot: None,
            len,
            checksum: 0,
        }
    }

    #[test]
    fn insert_replace_remove() {
        let ix = Index::new(4);
        assert_eq!(ix.replace(b"a", Some(entry(1))), None);
        assert_eq!(ix.replace(b"a", Some(entry(2))), Some(entry(1)));
        assert_eq!(ix.with_entry(b"a", |e| e.copied()), Some(entry(2)));
        assert_eq!(ix.len(), 1);
        assert_eq!(ix.replace(b"a", None), Some(entry(2)));
        assert_eq!(ix.replace(b"a", None), None);
        assert!(ix.is_empty());
    }

    #[test]
    fn write_set_spans_shards() {
        let ix = Index::new(8);
        let keys: Vec<Vec<u8>> = (0..100u32).map(|i| i.to_le_bytes().to_vec()).collect();
        {
            let mut set = ix.write_set(keys.iter().map(|k| k.as_slice()));
            for k in &keys {
                set.replace(k, Some(entry(3)));
            }
        }
        assert_eq!(ix.len(), 100);
        let seen: usize = (0..ix.shard_count()).map(|i| ix.shard_keys(i).len()).sum();
        assert_eq!(seen, 100);
    }

    #[test]
    fn many_keys_spread_over_shards() {
        let ix = Index::new(16);
        for i in 0..10_000u32 {
            ix.replace(&i.to_be_bytes(), Some(entry(i)));
        }
        let sizes: Vec<usize> = ix.shards.iter().map(|s| s.read().len()).collect();
        assert!(sizes.iter().all(|&n| n > 400), "{sizes:?}");
        for i in 0..10_000u32 {
            assert_eq!(
                ix.with_entry(&i.to_be_bytes(), |e| e.map(|e| e.len)),
                Some(i)
            );
        }
    }
}
