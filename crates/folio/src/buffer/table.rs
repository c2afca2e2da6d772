//! [`PageTable`]: page address → frame, read without locks.
//!
//! A [`SparseArray`] over segment ids, each segment a lazily allocated
//! array of `AtomicU32` indexed by page number:
//! 0 means "no frame", `f + 1` means frame `f`. A lookup is two `OnceLock`
//! reads and one atomic load — no write to shared memory, so hits on two cores
//! do not pass cache lines back and forth. Mappings change by compare-and-swap
//! only. Memory: 4 bytes per page of every segment touched (8 KiB per 16 MiB
//! segment of 8 KiB pages, 0.05%).

use std::sync::atomic::{AtomicU32, Ordering};

use super::FrameId;
use crate::disk::{PageAddr, MAX_SEGMENTS};
use crate::error::{Error, Result};
use crate::sparse::SparseArray;

const EMPTY: u32 = 0;

/// The page table of a buffer pool.
#[derive(Debug)]
pub(super) struct PageTable {
    pages_per_segment: usize,
    /// Per segment, the frame of each page.
    segments: SparseArray<Box<[AtomicU32]>>,
}

impl PageTable {
    /// A table for segments of `pages_per_segment` pages.
    pub(super) fn new(pages_per_segment: usize) -> Self {
        PageTable {
            pages_per_segment,
            segments: SparseArray::new(MAX_SEGMENTS as usize),
        }
    }

    /// The frame mapped from `addr`, if any.
    pub(super) fn get(&self, addr: PageAddr) -> Option<FrameId> {
        let pages = self.segments.get(addr.segment.0 as usize)?;
        decode(pages.get(addr.page.0 as usize)?.load(Ordering::Acquire))
    }

    /// Maps `addr` to `frame` unless it is mapped already; returns the
    /// frame it is mapped to in that case.
    pub(super) fn try_insert(&self, addr: PageAddr, frame: FrameId) -> Result<Result<(), FrameId>> {
        let cell = self.cell(addr)?;
        Ok(cell
            .compare_exchange(EMPTY, encode(frame), Ordering::AcqRel, Ordering::Acquire)
            .map(|_| ())
            .map_err(|current| decode(current).expect("a failed exchange saw a frame")))
    }

    /// Unmaps `addr` if it maps to `frame`; returns whether it did.
    pub(super) fn remove(&self, addr: PageAddr, frame: FrameId) -> bool {
        let Ok(cell) = self.cell(addr) else {
            return false;
        };
        cell.compare_exchange(encode(frame), EMPTY, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    fn cell(&self, addr: PageAddr) -> Result<&AtomicU32> {
        let pages = self.segments.get_or_init(addr.segment.0 as usize, || {
            (0..self.pages_per_segment)
                .map(|_| AtomicU32::new(EMPTY))
                .collect()
        });
        pages
            .and_then(|p| p.get(addr.page.0 as usize))
            .ok_or_else(|| {
                Error::corruption(
                    "",
                    None,
                    format!("page address {addr:?} is outside every segment"),
                )
            })
    }
}

fn encode(frame: FrameId) -> u32 {
    frame.0 + 1
}

fn decode(cell: u32) -> Option<FrameId> {
    cell.checked_sub(1).map(FrameId)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::{PageNo, SegmentId};

    fn addr(s: u32, p: u32) -> PageAddr {
        PageAddr {
            segment: SegmentId(s),
            page: PageNo(p),
        }
    }

    #[test]
    fn insert_get_remove() {
        let t = PageTable::new(2048);
        assert_eq!(t.get(addr(5, 7)), None);
        assert_eq!(t.try_insert(addr(5, 7), FrameId(0)).unwrap(), Ok(()));
        assert_eq!(
            t.try_insert(addr(5, 7), FrameId(3)).unwrap(),
            Err(FrameId(0))
        );
        assert_eq!(t.get(addr(5, 7)), Some(FrameId(0)));
        assert!(
            !t.remove(addr(5, 7), FrameId(3)),
            "only the mapped frame removes"
        );
        assert!(t.remove(addr(5, 7), FrameId(0)));
        assert_eq!(t.get(addr(5, 7)), None);
        assert_eq!(
            t.try_insert(addr(MAX_SEGMENTS - 1, 2047), FrameId(9))
                .unwrap(),
            Ok(())
        );
    }

    #[test]
    fn out_of_range_addresses_are_errors_not_panics() {
        let t = PageTable::new(2048);
        assert!(t.try_insert(addr(MAX_SEGMENTS, 0), FrameId(0)).is_err());
        assert!(t.try_insert(addr(0, 2048), FrameId(0)).is_err());
        assert_eq!(t.get(addr(0, 4096)), None);
        assert!(!t.remove(addr(MAX_SEGMENTS, 0), FrameId(0)));
    }
}
