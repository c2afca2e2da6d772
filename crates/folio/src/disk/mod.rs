//! Disk manager layer: segment files of 16 MiB, each holding slots of one
//! size class, with free lists for reuse.
//!
//! Invariants (checked by `restore` at open and by debug assertions):
//! - Every slot of a segment below its `fresh` mark is either referenced by
//!   exactly one index entry or on its class's free list — never both, never
//!   twice. Slots at or above `fresh` have never been handed out.
//! - A segment's page 0 is its header; data pages start at page 1. No byte
//!   of a slot belongs to anything but that slot's value (no in-slot header).
//! - A sub-page slot never straddles a page; a page-class slot is a run of
//!   whole contiguous pages.

mod born;
mod class;
mod manager;
mod segment;

pub use class::{ClassId, SizeClass, SizeClasses, SlotShape};
pub use manager::{Allocation, DiskManager, Extents, SegmentMeta, MAX_SEGMENTS};
pub use segment::{segment_file_name, SegmentHeader};

/// Bytes in a segment file, header page included.
pub const SEGMENT_BYTES: usize = 16 * 1024 * 1024;

/// Identifies a segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SegmentId(pub u32);

/// Index of a page inside a segment (page 0 is the header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PageNo(pub u32);

/// Index of a slot inside a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SlotNo(pub u32);

/// Address of a page: which segment, which page in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PageAddr {
    /// The segment.
    pub segment: SegmentId,
    /// The page inside the segment.
    pub page: PageNo,
}

/// Address of a slot: which segment, which slot in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SlotAddr {
    /// The segment.
    pub segment: SegmentId,
    /// The slot inside the segment.
    pub slot: SlotNo,
}

/// One page-sized piece of a value: bytes `offset..offset + len` of page
/// `page` hold bytes `value_offset..value_offset + len` of the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    /// The page.
    pub page: PageAddr,
    /// Offset of the piece inside the page.
    pub offset: usize,
    /// Length of the piece.
    pub len: usize,
    /// Offset of the piece inside the value.
    pub value_offset: usize,
    /// True when the slot owns the whole page (page-class slots): a writer
    /// may overwrite the page without reading it first.
    pub whole_page: bool,
}
