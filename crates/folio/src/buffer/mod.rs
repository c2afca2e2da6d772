//! Buffer pool layer: a fixed number of page frames caching the pages of the
//! segment files, with a pluggable [`Replacer`].
//!
//! Invariants (kept by `pool.rs`):
//! - The page table maps a page to at most one frame, and a frame's
//!   `mapped` field names the page mapped to it; both change together, only
//!   while the frame's write latch is held.
//! - A frame's content label is `Some(page)` only when its bytes are that
//!   page's current bytes, and then `page` is the frame's mapped page.
//! - The latch is the pin: a frame is evicted only when its latch can be
//!   taken for writing without waiting (no guard holds it), and only when it
//!   is clean. A dirty frame is written back while still mapped, so a page is
//!   never newer in memory than on disk once it leaves the pool.
//! - The hit path takes no lock but the frame latch (and, with the LRU
//!   replacer, its list's lock: exact recency needs one); a reader that
//!   finds a frame recycled for another page (label mismatch) looks the
//!   page up again.
//! - A thread holds at most one frame latch (one guard) at a time: the
//!   engine copies a value page by page, releasing each page before the next.
//!   (Two held latches could deadlock with a lookup blocked on a recycled
//!   frame.)

mod guard;
mod pool;
pub mod replacer;
mod table;

pub use guard::{PageReadGuard, PageWriteGuard};
pub use pool::{BufferPool, PoolStats};
pub use replacer::Replacer;

use crate::disk::PageAddr;
use crate::error::Result;

/// Index of a frame in the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FrameId(pub u32);

/// Where the pool reads pages from and writes them back to.
///
/// Contract: `read_page` fills all of `buf` (a page) with the page's bytes,
/// zeros for a page never written; `write_page` stores all of `buf`. Both
/// may be called concurrently for different pages. Errors are returned, never
/// swallowed.
pub trait PageDevice: Send + Sync + std::fmt::Debug {
    /// Reads page `addr` into `buf`.
    fn read_page(&self, addr: PageAddr, buf: &mut [u8]) -> Result<()>;
    /// Writes `buf` as page `addr`.
    fn write_page(&self, addr: PageAddr, buf: &[u8]) -> Result<()>;
}
