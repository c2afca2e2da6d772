//! Replacement policies: which unpinned frame the buffer pool evicts.
//!
//! # Contract
//!
//! What the pool (the caller) guarantees:
//! - `record_access(f)` is called each time frame `f` is latched for a page,
//!   on a hit or after a load; `f < frames`.
//! - `remove(f)` is called when `f` stops holding a page (it was evicted).
//! - `victim` gets a predicate telling which frames may be evicted right now
//!   (not latched). The answer can change as soon as the predicate returns:
//!   the pool re-checks under the frame's latch and calls `victim` again if
//!   the frame was taken in the meantime. The predicate never blocks.
//! - Calls may come from any thread at any time. `record_access` and
//!   `remove` are called while the frame's latch is held; `victim` is called
//!   with no latch held.
//!
//! What an implementation must do:
//! - `victim` returns a frame that is tracked (accessed and not removed since)
//!   and for which the predicate is true, chosen by its policy; or `None` when
//!   no tracked frame satisfies the predicate. It keeps tracking the returned
//!   frame until `remove`.
//! - `victim` terminates after O(frames) predicate calls.
//! - Every method is safe to call concurrently (`&self`, interior locking).
//! - `record_access` should be cheap: it is on every buffer-pool hit.

mod clock;
mod lru;

pub use clock::ClockReplacer;
pub use lru::LruReplacer;

use super::FrameId;
use crate::config::ReplacerKind;

/// A buffer-pool replacement policy. See the module docs for the contract.
pub trait Replacer: Send + Sync + std::fmt::Debug {
    /// Frame `frame` was latched (pinned) for a page.
    fn record_access(&self, frame: FrameId);
    /// Picks an evictable frame, or `None` when no tracked frame is one.
    fn victim(&self, evictable: &dyn Fn(FrameId) -> bool) -> Option<FrameId>;
    /// Frame `frame` no longer holds a page.
    fn remove(&self, frame: FrameId);
}

/// Builds the replacer of kind `kind` for `frames` frames.
pub fn new_replacer(kind: ReplacerKind, frames: usize) -> Box<dyn Replacer> {
    match kind {
        ReplacerKind::Lru => Box::new(LruReplacer::new(frames)),
        ReplacerKind::Clock => Box::new(ClockReplacer::new(frames)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Properties every replacer must have.
    fn contract(r: &dyn Replacer) {
        assert_eq!(r.victim(&|_| true), None, "nothing tracked yet");
        for f in 0..4 {
            r.record_access(FrameId(f));
        }
        let v = r.victim(&|_| true).unwrap();
        assert!(v.0 < 4);
        assert_eq!(r.victim(&|_| false), None, "predicate is respected");
        let only = r.victim(&|f| f == FrameId(2)).unwrap();
        assert_eq!(only, FrameId(2));
        for f in 0..4 {
            r.remove(FrameId(f));
        }
        assert_eq!(r.victim(&|_| true), None, "removed frames are forgotten");
    }

    #[test]
    fn lru_meets_the_contract() {
        contract(&LruReplacer::new(8));
    }

    #[test]
    fn clock_meets_the_contract() {
        contract(&ClockReplacer::new(8));
    }
}
