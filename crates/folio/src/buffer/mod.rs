//! Buffer pool layer: a fixed number of page frames caching the pages of the
//! segment files, with a pluggable [`Replacer`].
//!
//! Invariants (kept by `pool.rs`):
//! - A frame is mapped from at most one page address, and a page address to
//!   at most one frame. A frame's content label equals its mapped address
//!   only when its bytes are that page's current bytes.
//! - A pin is taken only while holding the page-table shard lock of the
//!   frame's page; a frame is unmapped (evicted) only under that shard's write
//!   lock, when its pin count is zero and it is clean. So a pinned frame
//!   keeps its page, and an evicted page is never newer in memory than on disk.
//! - A dirty frame is written back while still mapped; only clean frames are
//!   evicted.
//! - Guards release the latch before the pin.

mod guard;
mod pool;
pub mod replacer;

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
