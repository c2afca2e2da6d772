//! CLOCK second chance: a reference bit per frame, set on every access
//! without a lock; a hand sweeps the frames, clearing set bits and evicting
//! the first evictable frame whose bit is already clear. Two full turns find
//! a victim if any frame is evictable.

use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use super::Replacer;
use crate::buffer::FrameId;

/// CLOCK second-chance replacement.
#[derive(Debug)]
pub struct ClockReplacer {
    referenced: Box<[AtomicBool]>,
    tracked: Box<[AtomicBool]>,
    hand: Mutex<usize>,
}

impl ClockReplacer {
    /// A CLOCK replacer for `frames` frames.
    pub fn new(frames: usize) -> Self {
        ClockReplacer {
            referenced: (0..frames).map(|_| AtomicBool::new(false)).collect(),
            tracked: (0..frames).map(|_| AtomicBool::new(false)).collect(),
            hand: Mutex::new(0),
        }
    }
}

/// Sets `flag` without dirtying its cache line when it is already set.
fn set(flag: &AtomicBool) {
    if !flag.load(Ordering::Relaxed) {
        flag.store(true, Ordering::Relaxed);
    }
}

impl Replacer for ClockReplacer {
    fn record_access(&self, frame: FrameId) {
        let i = frame.0 as usize;
        set(&self.tracked[i]);
        set(&self.referenced[i]);
    }

    fn victim(&self, evictable: &dyn Fn(FrameId) -> bool) -> Option<FrameId> {
        let n = self.referenced.len();
        let mut hand = self.hand.lock();
        for _ in 0..2 * n {
            let i = *hand;
            *hand = (i + 1) % n;
            let frame = FrameId(u32::try_from(i).expect("frame ids fit u32"));
            if !self.tracked[i].load(Ordering::Relaxed) || !evictable(frame) {
                continue;
            }
            if self.referenced[i].swap(false, Ordering::Relaxed) {
                continue; // second chance
            }
            return Some(frame);
        }
        None
    }

    fn remove(&self, frame: FrameId) {
        let i = frame.0 as usize;
        self.tracked[i].store(false, Ordering::Relaxed);
        self.referenced[i].store(false, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referenced_frames_get_a_second_chance() {
        let r = ClockReplacer::new(4);
        for f in 0..4 {
            r.record_access(FrameId(f));
        }
        // All bits set: the first turn clears them, the second evicts frame 0.
        assert_eq!(r.victim(&|_| true), Some(FrameId(0)));
        r.remove(FrameId(0));
        // Frame 1 is touched again: it survives, frame 2 goes.
        r.record_access(FrameId(1));
        assert_eq!(r.victim(&|_| true), Some(FrameId(2)));
        r.remove(FrameId(2));
        // Pinned frames are skipped.
        assert_eq!(r.victim(&|f| f == FrameId(1)), Some(FrameId(1)));
    }
}
