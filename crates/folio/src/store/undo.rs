//! [`CopyUndo`]: a copy of the index as of one instant, taken while
//! writers go on (stores without a WAL).
//!
//! With a WAL a checkpoint's copy of the index may be fuzzy: recovery
//! replays the log over it. Without one nothing replays, so the copy must
//! be the state of one instant, and it used to hold every index swap while
//! it read the whole index (300 ms per checkpoint at a million keys on the
//! development VM). Instead, from the instant the copy begins, the first
//! change to each key records the key's entry as it was then (its undo
//! entry: `None` when absent). The copy then reads the live index and takes
//! every key it finds unchanged, and after that the undo entries of the
//! changed keys it did not take.
//!
//! Invariants, for a copy that began at instant `t`:
//! - a key is recorded before its first change after `t` reaches the
//!   index, under the key's stripe (writers of one key are serialised), so
//!   the recorded entry is the key's entry at `t`;
//! - [`CopyUndo::begin`] and [`CopyUndo::end`] run under the `snapshot`
//!   write lock and every recording write under its read lock, so no
//!   change falls between a check of [`CopyUndo::is_active`] and its swap
//!   without being recorded;
//! - the copy reads an entry before it asks [`CopyUndo::is_changed`]: an
//!   entry it read is the key's entry at `t` unless the key was recorded by
//!   then, and a key recorded is never taken from the live index;
//! - so every key of the instant `t` is in the copy exactly once, with its
//!   entry at `t`, and no key that was absent at `t` is.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use foldhash::fast::RandomState;

use crate::index::Entry;

/// A key's entry when the copy began; `None`: absent.
pub(super) type Undo = HashMap<Box<[u8]>, Option<Entry>>;

/// The undo entries of the copy in progress, if any. A concurrent map: the
/// copy asks about every key while writers record theirs, and neither
/// waits for the other.
pub(super) struct CopyUndo {
    active: AtomicBool,
    recorded: papaya::HashMap<Box<[u8]>, Option<Entry>, RandomState>,
}

impl std::fmt::Debug for CopyUndo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CopyUndo")
            .field("active", &self.is_active())
            .finish_non_exhaustive()
    }
}

impl CopyUndo {
    pub(super) fn new() -> Self {
        CopyUndo {
            active: AtomicBool::new(false),
            recorded: papaya::HashMap::builder()
                .hasher(RandomState::default())
                .build(),
        }
    }

    /// Starts recording, with no entry left from an earlier copy (one that
    /// unwound before taking its entries). The caller holds the `snapshot`
    /// write lock.
    pub(super) fn begin(&self) {
        debug_assert!(!self.is_active(), "one copy at a time");
        self.recorded.pin().clear();
        self.active.store(true, Ordering::Release);
    }

    /// Whether a copy is recording. Writers check it under the `snapshot`
    /// read lock.
    pub(super) fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Records `key`'s entry before a change, unless it was recorded since
    /// the copy began; `current` reads it. The caller holds the key's
    /// stripe (no other writer records the key meanwhile) and the
    /// `snapshot` read lock, and has seen [`CopyUndo::is_active`].
    pub(super) fn record(&self, key: &[u8], current: impl FnOnce() -> Option<Entry>) {
        let recorded = self.recorded.pin();
        if !recorded.contains_key(key) {
            recorded.insert(key.into(), current());
        }
    }

    /// Whether `key` changed since the copy began (as far as recorded by
    /// now).
    pub(super) fn is_changed(&self, key: &[u8]) -> bool {
        self.recorded.pin().contains_key(key)
    }

    /// Stops recording. The caller holds the `snapshot` write lock, so no
    /// writer is recording, and none records after it lets go.
    pub(super) fn end(&self) {
        self.active.store(false, Ordering::Release);
    }

    /// Every undo entry of the copy that ended, taken out (no lock held:
    /// nobody records any more).
    pub(super) fn take(&self) -> Undo {
        debug_assert!(!self.is_active(), "the copy ended");
        let recorded = self.recorded.pin();
        let all = recorded.iter().map(|(k, e)| (k.clone(), *e)).collect();
        recorded.clear();
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::{SegmentId, SlotAddr, SlotNo};

    fn entry(n: u32) -> Entry {
        Entry {
            slot: Some(SlotAddr {
                segment: SegmentId(0),
                slot: SlotNo(n),
            }),
            len: n,
            checksum: u64::from(n),
        }
    }

    #[test]
    fn the_first_record_of_a_key_wins_until_the_end() {
        let undo = CopyUndo::new();
        undo.begin();
        undo.record(b"a", || Some(entry(1)));
        undo.record(b"a", || panic!("recorded already: not read again"));
        undo.record(b"new", || None);
        assert!(undo.is_changed(b"a") && undo.is_changed(b"new"));
        assert!(!undo.is_changed(b"b"));
        undo.end();
        assert!(!undo.is_active());
        let all = undo.take();
        assert_eq!(all.len(), 2);
        assert_eq!(all[&b"a"[..]], Some(entry(1)));
        assert_eq!(all[&b"new"[..]], None);
        undo.begin();
        assert!(!undo.is_changed(b"a"), "a new copy starts empty");
        undo.end();
        assert!(undo.take().is_empty());
    }
}
