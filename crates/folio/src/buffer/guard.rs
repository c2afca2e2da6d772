//! RAII page guards. A guard holds its frame's latch, which is also what
//! keeps the frame from being evicted; dropping the guard releases both.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::Ordering;

use parking_lot::{RwLockReadGuard, RwLockWriteGuard};

use super::pool::FrameData;

/// Shared access to a page held in the pool.
#[derive(Debug)]
pub struct PageReadGuard<'a> {
    pub(super) data: RwLockReadGuard<'a, FrameData>,
}

/// Exclusive access to a page held in the pool; the page is dirty.
#[derive(Debug)]
pub struct PageWriteGuard<'a> {
    pub(super) data: RwLockWriteGuard<'a, FrameData>,
}

impl PageReadGuard<'_> {
    /// The checksum this page's bytes were verified against as one whole
    /// value since they last changed, or 0.
    pub fn verified_checksum(&self) -> u64 {
        self.data.verified.load(Ordering::Acquire)
    }

    /// Records that these bytes, as one whole value, match `checksum`. The
    /// caller must have checked exactly this page's bytes while holding this
    /// guard.
    pub fn mark_verified(&self, checksum: u64) {
        self.data.verified.store(checksum, Ordering::Release);
    }
}

impl Deref for PageReadGuard<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.data.bytes
    }
}

impl Deref for PageWriteGuard<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.data.bytes
    }
}

impl DerefMut for PageWriteGuard<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.data.bytes
    }
}
