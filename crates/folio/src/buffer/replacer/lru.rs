//! LRU: evicts the least recently accessed evictable frame. An intrusive
//! doubly linked list over frame ids, behind one mutex; O(1) access and
//! removal, O(frames) victim search in the worst case (all pinned).

use parking_lot::Mutex;

use super::Replacer;
use crate::buffer::FrameId;

const NIL: u32 = u32::MAX;

/// Least-recently-used replacement.
#[derive(Debug)]
pub struct LruReplacer {
    list: Mutex<List>,
}

/// `head` is the most recent frame, `tail` the least recent.
#[derive(Debug)]
struct List {
    prev: Vec<u32>,
    next: Vec<u32>,
    linked: Vec<bool>,
    head: u32,
    tail: u32,
}

impl List {
    fn unlink(&mut self, f: u32) {
        let (p, n) = (self.prev[f as usize], self.next[f as usize]);
        if p == NIL {
            self.head = n
        } else {
            self.next[p as usize] = n
        }
        if n == NIL {
            self.tail = p
        } else {
            self.prev[n as usize] = p
        }
        self.linked[f as usize] = false;
    }

    fn push_front(&mut self, f: u32) {
        self.prev[f as usize] = NIL;
        self.next[f as usize] = self.head;
        if self.head == NIL {
            self.tail = f
        } else {
            self.prev[self.head as usize] = f
        }
        self.head = f;
        self.linked[f as usize] = true;
    }
}

impl LruReplacer {
    /// An LRU replacer for `frames` frames.
    pub fn new(frames: usize) -> Self {
        LruReplacer {
            list: Mutex::new(List {
                prev: vec![NIL; frames],
                next: vec![NIL; frames],
                linked: vec![false; frames],
                head: NIL,
                tail: NIL,
            }),
        }
    }
}

impl Replacer for LruReplacer {
    fn record_access(&self, frame: FrameId) {
        let mut list = self.list.lock();
        if list.head == frame.0 {
            return;
        }
        if list.linked[frame.0 as usize] {
            list.unlink(frame.0);
        }
        list.push_front(frame.0);
    }

    fn victim(&self, evictable: &dyn Fn(FrameId) -> bool) -> Option<FrameId> {
        let list = self.list.lock();
        let mut f = list.tail;
        while f != NIL {
            if evictable(FrameId(f)) {
                return Some(FrameId(f));
            }
            f = list.prev[f as usize];
        }
        None
    }

    fn remove(&self, frame: FrameId) {
        let mut list = self.list.lock();
        if list.linked[frame.0 as usize] {
            list.unlink(frame.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recently_used_first() {
        let r = LruReplacer::new(4);
        for f in [0, 1, 2, 3] {
            r.record_access(FrameId(f));
        }
        r.record_access(FrameId(0)); // order now, oldest first: 1 2 3 0
        assert_eq!(r.victim(&|_| true), Some(FrameId(1)));
        r.remove(FrameId(1));
        assert_eq!(r.victim(&|_| true), Some(FrameId(2)));
        // A pinned frame is skipped, not forgotten.
        assert_eq!(r.victim(&|f| f != FrameId(2)), Some(FrameId(3)));
        r.remove(FrameId(3));
        assert_eq!(r.victim(&|_| true), Some(FrameId(2)));
    }
}
