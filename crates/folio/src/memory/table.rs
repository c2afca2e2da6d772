//! [`Table`]: the memory engine's sharded hash table.
//!
//! 64 shards, each a `RwLock<HashMap>` chosen by a seeded hash of the key
//! (foldhash with a random seed: a network client cannot aim keys at one
//! shard or one bucket). Keys and values are `Arc<[u8]>`, so a reader
//! clones a pointer under the shard's read lock and copies the bytes after
//! releasing it, and a snapshot copies pointers, not bytes.
//!
//! The table knows nothing of ordering: the engine calls it under the key's
//! stripe (`stripes`) and, for batches, under the view gate.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;

use foldhash::fast::RandomState;
use parking_lot::RwLock;

/// Number of shards; a power of two.
const SHARDS: usize = 64;

/// A key or a value as the table holds it.
pub(super) type Bytes = Arc<[u8]>;

#[derive(Debug, Default)]
#[repr(align(128))]
struct Shard(RwLock<HashMap<Bytes, Bytes, RandomState>>);

/// The sharded map from key to value.
#[derive(Debug)]
pub(super) struct Table {
    shards: Box<[Shard]>,
    hasher: RandomState,
}

impl Default for Table {
    fn default() -> Self {
        Table {
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
            hasher: RandomState::default(),
        }
    }
}

impl Table {
    fn shard(&self, key: &[u8]) -> &RwLock<HashMap<Bytes, Bytes, RandomState>> {
        // The mask keeps the value below SHARDS, which fits usize.
        #[allow(clippy::cast_possible_truncation)]
        let i = (self.hasher.hash_one(key) as usize) & (SHARDS - 1);
        &self.shards[i].0
    }

    /// The value of `key`: a pointer cloned under the shard's read lock.
    pub(super) fn get(&self, key: &[u8]) -> Option<Bytes> {
        self.shard(key).read().get(key).cloned()
    }

    /// True when `key` is present.
    pub(super) fn contains(&self, key: &[u8]) -> bool {
        self.shard(key).read().contains_key(key)
    }

    /// Sets `key` to `value`.
    pub(super) fn insert(&self, key: &[u8], value: Bytes) {
        let mut shard = self.shard(key).write();
        match shard.get_mut(key) {
            Some(slot) => *slot = value,
            None => {
                shard.insert(Arc::from(key), value);
            }
        }
    }

    /// Removes `key`; returns whether it was present.
    pub(super) fn remove(&self, key: &[u8]) -> bool {
        self.shard(key).write().remove(key).is_some()
    }

    /// Number of keys (shard by shard: not a snapshot).
    pub(super) fn len(&self) -> u64 {
        self.shards.iter().map(|s| s.0.read().len() as u64).sum()
    }

    /// The keys of shard `i`, copied out so the caller may visit them
    /// without holding the lock (a visitor may write to the store).
    pub(super) fn shard_keys(&self, i: usize) -> Vec<Bytes> {
        self.shards[i].0.read().keys().cloned().collect()
    }

    /// Number of shards, for [`Table::shard_keys`].
    pub(super) fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// The entries of shard `i`, as pointers, as of one instant.
    pub(super) fn shard_entries(&self, i: usize) -> Vec<(Bytes, Bytes)> {
        let shard = self.shards[i].0.read();
        shard.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Every entry, as pointers, shard by shard: each shard as of one
    /// instant, the table as a whole only if no writer runs.
    pub(super) fn entries(&self) -> Vec<(Bytes, Bytes)> {
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let shard = shard.0.read();
            out.reserve(shard.len());
            out.extend(shard.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_overwrite_remove() {
        let t = Table::default();
        assert!(t.get(b"").is_none());
        t.insert(b"", Arc::from(&b"a"[..]));
        t.insert(b"\0k", Arc::from(&b""[..]));
        t.insert(b"", Arc::from(&b"b"[..]));
        assert_eq!(&*t.get(b"").unwrap(), b"b");
        assert_eq!(t.len(), 2);
        assert!(t.remove(b"\0k"));
        assert!(!t.remove(b"\0k"));
        assert_eq!(t.entries().len(), 1);
        let keys: usize = (0..t.shard_count()).map(|i| t.shard_keys(i).len()).sum();
        assert_eq!(keys, 1);
    }
}
