//! [`BornBits`]: which slots of a segment were handed out since the last
//! checkpoint copied the index, for a store without a WAL.
//!
//! Such a store's checkpoint copies the index as of one instant (the
//! `snapshot` lock keeps index swaps out at that instant; see
//! `store/undo.rs`). A slot handed out after that instant and freed
//! before the next copy's instant was in no checkpoint's index: nothing
//! durable names it, and it can be written over at once instead of
//! waiting for the next checkpoint (docs/ARCHITECTURE.md, decision 28).
//!
//! Invariant: a slot's bit is set only between its allocation and its
//! free, and every copy clears all bits at its instant, so a set bit at
//! free time means the slot was handed out after the last copy's instant:
//! no copy names it.

use std::sync::atomic::{AtomicU64, Ordering};

/// One bit per slot of a segment.
#[derive(Debug)]
pub(super) struct BornBits {
    words: Box<[AtomicU64]>,
}

impl BornBits {
    /// All clear, for a segment of `slots` slots.
    pub(super) fn new(slots: u32) -> Self {
        let words = (slots as usize).div_ceil(64);
        BornBits {
            words: (0..words).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Marks `slot` handed out since the last copy (a slot beyond the
    /// segment's is ignored).
    pub(super) fn set(&self, slot: u32) {
        let (word, bit) = Self::at(slot);
        if let Some(word) = self.words.get(word) {
            word.fetch_or(bit, Ordering::AcqRel);
        }
    }

    /// Clears `slot`'s bit; returns whether it was set.
    pub(super) fn take(&self, slot: u32) -> bool {
        let (word, bit) = Self::at(slot);
        self.words
            .get(word)
            .is_some_and(|word| word.fetch_and(!bit, Ordering::AcqRel) & bit != 0)
    }

    /// Clears every bit: a copy of the index is about to be read.
    pub(super) fn clear(&self) {
        for word in self.words.iter() {
            word.store(0, Ordering::Release);
        }
    }

    fn at(slot: u32) -> (usize, u64) {
        ((slot / 64) as usize, 1u64 << (slot % 64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bit_is_taken_once_and_cleared_by_a_copy() {
        let bits = BornBits::new(130);
        assert!(!bits.take(129));
        bits.set(129);
        bits.set(0);
        assert!(bits.take(129));
        assert!(!bits.take(129), "taken once");
        bits.clear();
        assert!(!bits.take(0), "a copy clears every bit");
    }
}
