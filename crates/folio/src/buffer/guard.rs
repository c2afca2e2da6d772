//! RAII page guards: a guard holds a pin and a latch on one frame and
//! releases the latch, then the pin, when dropped.

use std::ops::{Deref, DerefMut};

use parking_lot::{RwLockReadGuard, RwLockWriteGuard};

use super::pool::{BufferPool, FrameData};
use super::FrameId;

/// Shared access to a pinned page.
#[derive(Debug)]
pub struct PageReadGuard<'a> {
    pub(super) pool: &'a BufferPool,
    pub(super) frame: FrameId,
    pub(super) data: Option<RwLockReadGuard<'a, FrameData>>,
}

/// Exclusive access to a pinned page; the page is marked dirty.
#[derive(Debug)]
pub struct PageWriteGuard<'a> {
    pub(super) pool: &'a BufferPool,
    pub(super) frame: FrameId,
    pub(super) data: Option<RwLockWriteGuard<'a, FrameData>>,
}

impl Deref for PageReadGuard<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self
            .data
            .as_ref()
            .expect("guard holds its latch until dropped")
            .bytes
    }
}

impl Deref for PageWriteGuard<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self
            .data
            .as_ref()
            .expect("guard holds its latch until dropped")
            .bytes
    }
}

impl DerefMut for PageWriteGuard<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self
            .data
            .as_mut()
            .expect("guard holds its latch until dropped")
            .bytes
    }
}

impl Drop for PageReadGuard<'_> {
    fn drop(&mut self) {
        self.data.take();
        self.pool.unpin(self.frame);
    }
}

impl Drop for PageWriteGuard<'_> {
    fn drop(&mut self) {
        self.data.take();
        self.pool.unpin(self.frame);
    }
}
