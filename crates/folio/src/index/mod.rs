//! Index layer: a concurrent hash map from key to the value's location and
//! metadata. It never touches the disk.
//!
//! The map is `papaya`'s lock-free hash table with a randomly seeded
//! foldhash (clients cannot precompute colliding keys). A lookup takes no
//! lock and writes no shared memory: readers on different cores do not
//! contend, whatever keys they read.
//!
//! Reclamation: each value ([`Located`]) owns its slot and gives it back to
//! its [`SlotReclaimer`] when it is dropped. The map drops a replaced or
//! removed value at the earliest once every reader that was pinned when it
//! was retired has unpinned ([`IndexGuard`]); papaya retires values in
//! batches of 32 per thread, so a few freed slots wait a little longer. So
//! a slot is reused only when no reader can still reach it — with no lock
//! on the read path and nothing for writers to remember.

use std::fmt;
use std::ops::ControlFlow;
use std::sync::Arc;

use foldhash::fast::RandomState;

use crate::disk::SlotAddr;

mod key;

use key::IndexKey;
pub use key::INLINE_KEY_BYTES;

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

/// Takes back slots that no reader can reach any more.
///
/// Contract: `reclaim(slot)` is called exactly once per slot handed to a
/// [`Located`] value, after the last reader of the entry holding it is gone;
/// the implementation makes the slot available for reuse. It must not panic and
/// must not call back into the index.
pub trait SlotReclaimer: Send + Sync + fmt::Debug + 'static {
    /// `slot` is free.
    fn reclaim(&self, slot: SlotAddr);
}

/// An index value: the entry and the reclaimer that takes its slot (if it
/// has one) back once the value is dropped (unused, replaced or removed).
/// The reclaimer is a concrete type behind a thin `Arc`, so that a map
/// entry (an `IndexKey` and a `Located`) fits 64 bytes.
pub struct Located<R: SlotReclaimer> {
    entry: Entry,
    reclaimer: Arc<R>,
}

impl<R: SlotReclaimer> Drop for Located<R> {
    fn drop(&mut self) {
        if let Some(slot) = self.entry.slot {
            self.reclaimer.reclaim(slot);
        }
    }
}

impl<R: SlotReclaimer> fmt::Debug for Located<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.entry.fmt(f)
    }
}

impl<R: SlotReclaimer> Located<R> {
    /// The entry.
    pub fn entry(&self) -> &Entry {
        &self.entry
    }
}

type Map<R> = papaya::HashMap<IndexKey, Located<R>, RandomState>;

/// The index of one store; its values' slots go back to an `R`.
pub struct Index<R: SlotReclaimer> {
    map: Map<R>,
    reclaimer: Arc<R>,
}

impl<R: SlotReclaimer> fmt::Debug for Index<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Index").field("keys", &self.len()).finish()
    }
}

/// A pinned view of the index: entries read through it, and their slots,
/// stay valid until it is dropped.
pub struct IndexGuard<'a, R: SlotReclaimer> {
    map: papaya::HashMapRef<'a, IndexKey, Located<R>, RandomState, papaya::LocalGuard<'a>>,
}

impl<R: SlotReclaimer> IndexGuard<'_, R> {
    /// The entry of `key`, if present.
    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        self.map.get(key).map(Located::entry)
    }
}

impl<R: SlotReclaimer> Index<R> {
    /// An empty index whose values give slots back to `reclaimer`.
    pub fn new(reclaimer: Arc<R>) -> Self {
        Index {
            map: papaya::HashMap::builder()
                .hasher(RandomState::default())
                .build(),
            reclaimer,
        }
    }

    /// Wraps `entry` into an index value that owns its slot: dropping the
    /// value (unused, replaced or removed) reclaims the slot.
    pub fn located(&self, entry: Entry) -> Located<R> {
        Located {
            entry,
            reclaimer: self.reclaimer.clone(),
        }
    }

    /// Pins the index for reading.
    pub fn pin(&self) -> IndexGuard<'_, R> {
        IndexGuard {
            map: self.map.pin(),
        }
    }

    /// Sets the value of `key`; returns whether a value was replaced. The
    /// replaced value's slot is reclaimed once its readers are gone.
    pub fn insert(&self, key: &[u8], value: Located<R>) -> bool {
        self.map.pin().insert(IndexKey::new(key), value).is_some()
    }

    /// Removes `key`; returns whether it was present.
    pub fn remove(&self, key: &[u8]) -> bool {
        self.map.pin().remove(key).is_some()
    }

    /// Number of keys (exact when no write is in flight).
    pub fn len(&self) -> u64 {
        self.map.len() as u64
    }

    /// True when the index holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Visits every key until the visitor breaks. The keys are copied out
    /// first and the index unpinned before the first visit: a visitor that
    /// rewrites keys must not hold back the reclamation of the slots it
    /// frees (a pinned scan would keep every replaced value alive to its
    /// end, doubling the space a scan-and-rewrite needs).
    pub fn for_each_key(&self, visit: &mut dyn FnMut(&[u8]) -> ControlFlow<()>) {
        let keys: Vec<IndexKey> = self.map.pin().keys().cloned().collect();
        for key in keys {
            if visit(key.as_slice()).is_break() {
                return;
            }
        }
    }

    /// Visits every key in place, the index pinned throughout: no copy of
    /// the key set, but entries replaced meanwhile (and the slots they
    /// name) are reclaimed only after the walk, so the visitor must be
    /// quick and must not write. The guarantees are `for_each_entry`'s.
    pub fn for_each_key_in_place(&self, visit: &mut dyn FnMut(&[u8]) -> ControlFlow<()>) {
        for key in self.map.pin().keys() {
            if visit(key.as_slice()).is_break() {
                return;
            }
        }
    }

    /// Visits every entry (for checkpoints). Every key present for the
    /// whole walk is visited once; a key removed and inserted again during
    /// it may be visited twice (papaya walks its table by position, and the
    /// key comes back further along its probe sequence), or not at all.
    pub fn for_each_entry(&self, mut visit: impl FnMut(&[u8], &Entry)) {
        for (key, value) in self.map.pin().iter() {
            visit(key.as_slice(), &value.entry);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::{SegmentId, SlotNo};
    use parking_lot::Mutex;

    #[derive(Debug, Default)]
    struct Recorder(Mutex<Vec<SlotAddr>>);

    impl SlotReclaimer for Recorder {
        fn reclaim(&self, slot: SlotAddr) {
            self.0.lock().push(slot);
        }
    }

    fn entry(slot: u32) -> Entry {
        Entry {
            slot: Some(SlotAddr {
                segment: SegmentId(0),
                slot: SlotNo(slot),
            }),
            len: 1,
            checksum: 0,
        }
    }

    #[test]
    fn a_map_entry_is_one_cache_line() {
        // papaya allocates each entry as a (key, value) pair.
        assert_eq!(std::mem::size_of::<(IndexKey, Located<Recorder>)>(), 64);
    }

    #[test]
    fn insert_replace_remove() {
        let rec = Arc::new(Recorder::default());
        let ix = Index::new(rec.clone());
        assert!(!ix.insert(b"a", ix.located(entry(1))));
        assert!(ix.insert(b"a", ix.located(entry(2))));
        assert_eq!(ix.pin().get(b"a"), Some(&entry(2)));
        assert_eq!(ix.len(), 1);
        assert!(ix.remove(b"a"));
        assert!(!ix.remove(b"a"));
        assert!(ix.is_empty());
        drop(ix);
        let mut freed = rec.0.lock().clone();
        freed.sort();
        assert_eq!(freed, vec![entry(1).slot.unwrap(), entry(2).slot.unwrap()]);
    }

    #[test]
    fn a_pinned_reader_delays_reclamation() {
        let rec = Arc::new(Recorder::default());
        let ix = Index::new(rec.clone());
        ix.insert(b"k", ix.located(entry(7)));
        let reader = ix.pin();
        let seen = *reader.get(b"k").unwrap();
        ix.insert(b"k", ix.located(entry(8)));
        ix.remove(b"k");
        assert!(
            !rec.0.lock().contains(&seen.slot.unwrap()),
            "slot 7 was reclaimed while a reader could still see it"
        );
        drop(reader);
        drop(ix);
        assert!(rec.0.lock().contains(&seen.slot.unwrap()));
    }

    #[test]
    fn many_keys() {
        let ix = Index::new(Arc::new(Recorder::default()));
        for i in 0..10_000u32 {
            ix.insert(
                &i.to_be_bytes(),
                ix.located(Entry {
                    slot: None,
                    len: i,
                    checksum: 0,
                }),
            );
        }
        let mut seen = 0;
        ix.for_each_key(&mut |_| {
            seen += 1;
            ControlFlow::Continue(())
        });
        assert_eq!(seen, 10_000);
        let guard = ix.pin();
        for i in 0..10_000u32 {
            assert_eq!(guard.get(&i.to_be_bytes()).map(|e| e.len), Some(i));
        }
    }
}
