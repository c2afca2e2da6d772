//! [`DiskManager`]: owns the segment files, hands out slots and takes them
//! back.
//!
//! Allocation for a value of `len` bytes picks the smallest class that holds
//! it, then takes, in order: a slot from the class's free list, the next
//! never-used ("fresh") slot of the class's newest segment, or the first slot
//! of a new segment. A freed slot waits in its class's limbo until the
//! operation that freed it is durable (see [`crate::reuse`]), then moves to
//! the free list; without a WAL, one that no checkpoint can name goes to
//! the free list at once (see `born.rs`).
//!
//! Locks: one mutex per class (allocation and free of that class) and one
//! mutex serialising segment creation; never both at once. No class mutex
//! is held across I/O: a segment is created (file, header, two fsyncs)
//! with its class marked `creating` and unlocked, so a `free` — which runs
//! on whatever thread drops the last reference to a value, a reader's
//! included — never waits for an fsync; allocations of that class that
//! need the new segment wait for it on a condition variable.
//! The segment table itself is a [`SparseArray`]: segments are only ever
//! added, and finding one for a page I/O writes no shared memory.

#[cfg(debug_assertions)]
use std::collections::HashSet;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use super::born::BornBits;
use super::segment::SegmentHeader;
use super::{
    segment_file_name, ClassId, Extent, PageAddr, PageNo, SegmentId, SizeClass, SizeClasses,
    SlotAddr, SlotNo, SlotShape, SEGMENT_BYTES,
};
use crate::buffer::PageDevice;
use crate::error::{Error, Result};
use crate::index::SlotReclaimer;
use crate::io::{read_full, Vfs, VfsFile};
use crate::reuse::ReuseClock;
use crate::sparse::SparseArray;

/// The page pieces of one value: almost always one, so kept inline (a get
/// allocates nothing for them).
pub type Extents = smallvec::SmallVec<[Extent; 1]>;

/// Most segments a store may have (16 TiB of 16 MiB segments).
pub const MAX_SEGMENTS: u32 = 1 << 20;

/// What the checkpoint records about a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentMeta {
    /// The segment.
    pub id: SegmentId,
    /// Its size class.
    pub class: ClassId,
    /// Slots below this were handed out at some point; slots from here on
    /// never were.
    pub fresh: u32,
}

/// A slot handed out by [`DiskManager::allocate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allocation {
    /// The slot.
    pub slot: SlotAddr,
    /// True when the slot was never used before: its pages may be beyond the
    /// end of the file, and nothing on them needs to be read first when the
    /// slot starts a page.
    pub fresh: bool,
}

#[derive(Debug)]
struct Segment {
    class: ClassId,
    file: Arc<dyn VfsFile>,
    /// Next never-used slot; changed only under the class mutex.
    fresh: AtomicU32,
    /// Slots handed out since the last copy of the index (kept only when
    /// [`DiskManager::reuse_unnamed`] is on).
    born: BornBits,
}

#[derive(Debug, Default)]
struct ClassState {
    free: Vec<SlotAddr>,
    /// Freed slots waiting for their stamp to become durable, in stamp
    /// order (each stamp is read under this class's lock).
    limbo: VecDeque<(u64, SlotAddr)>,
    /// The segment new fresh slots come from, if it has any left.
    filling: Option<SegmentId>,
    /// A thread is creating this class's next segment, unlocked.
    creating: bool,
    /// Debug bookkeeping: the slots of `free` and `limbo`, to catch double
    /// frees.
    #[cfg(debug_assertions)]
    free_set: HashSet<SlotAddr>,
}

/// Clears a class's `creating` mark and wakes its waiters when dropped
/// while still armed: a segment creation that unwound.
struct UnmarkOnUnwind<'a>(Option<(&'a Mutex<ClassState>, &'a Condvar)>);

impl Drop for UnmarkOnUnwind<'_> {
    fn drop(&mut self) {
        if let Some((state, created)) = self.0.take() {
            state.lock().creating = false;
            created.notify_all();
        }
    }
}

/// The disk manager of one store.
#[derive(Debug)]
pub struct DiskManager {
    vfs: Arc<dyn Vfs>,
    dir: PathBuf,
    page_bytes: usize,
    classes: SizeClasses,
    class_state: Box<[Mutex<ClassState>]>,
    /// Indexed by segment id; ids are dense from 0 to `segment_count`.
    segments: SparseArray<Segment>,
    /// Segments created; set after the segment's cell.
    segment_count: AtomicU32,
    /// Held while a segment is created.
    creating: Mutex<()>,
    /// Per class: signalled when its segment creation ends
    /// (`ClassState::creating`). One per class, as a condition variable
    /// serves one mutex.
    segment_created: Box<[Condvar]>,
    /// Why a new segment's fsync failed, once one has: no creation is tried
    /// again (a retried fsync can succeed without the data being on disk).
    failed: std::sync::OnceLock<String>,
    /// Says when a freed slot may be reused.
    clock: Arc<ReuseClock>,
    /// A freed slot handed out since the last copy of the index is reused
    /// at once (a store without a WAL, whose checkpoints copy the index as
    /// of one instant: [`DiskManager::begin_copy`]).
    reuse_unnamed: bool,
}

impl DiskManager {
    /// A disk manager over `dir`, with no segments yet; freed slots are
    /// reused once `clock` says their stamp is durable.
    pub fn new(vfs: Arc<dyn Vfs>, dir: &Path, page_bytes: usize, clock: Arc<ReuseClock>) -> Self {
        let classes = SizeClasses::new(page_bytes, SEGMENT_BYTES);
        let class_state = (0..classes.len()).map(|_| Mutex::default()).collect();
        let segment_created = (0..classes.len()).map(|_| Condvar::new()).collect();
        DiskManager {
            vfs,
            dir: dir.to_path_buf(),
            page_bytes,
            classes,
            class_state,
            segments: SparseArray::new(MAX_SEGMENTS as usize),
            segment_count: AtomicU32::new(0),
            creating: Mutex::new(()),
            segment_created,
            failed: std::sync::OnceLock::new(),
            clock,
            reuse_unnamed: false,
        }
    }

    /// As [`DiskManager::new`], for a store without a WAL: a freed slot
    /// that no copy of the index can name (handed out after the last
    /// [`DiskManager::begin_copy`]) is reused at once. The caller calls
    /// `begin_copy` before each copy, while no index swap can run.
    pub fn new_reusing_unnamed(
        vfs: Arc<dyn Vfs>,
        dir: &Path,
        page_bytes: usize,
        clock: Arc<ReuseClock>,
    ) -> Self {
        DiskManager {
            reuse_unnamed: true,
            ..Self::new(vfs, dir, page_bytes, clock)
        }
    }

    /// A checkpoint is about to copy the index: every slot handed out so
    /// far may be named by it, and waits for the clock when freed.
    pub fn begin_copy(&self) {
        if self.reuse_unnamed {
            for (_, segment) in self.all_segments() {
                segment.born.clear();
            }
        }
    }

    /// The page size.
    pub fn page_bytes(&self) -> usize {
        self.page_bytes
    }

    /// The size classes.
    pub fn classes(&self) -> &SizeClasses {
        &self.classes
    }

    /// Opens the segments a checkpoint lists and rebuilds the free lists:
    /// every slot below a segment's fresh mark that `used` does not name is
    /// free. Fails with `Corruption` when a used slot is out of range, named
    /// twice, or does not fit its value.
    pub fn restore(
        &self,
        metas: &[SegmentMeta],
        used: impl IntoIterator<Item = (SlotAddr, usize)>,
    ) -> Result<()> {
        if metas.len() > MAX_SEGMENTS as usize {
            return Err(self.corrupt(format!(
                "checkpoint lists {} segments; the limit is {MAX_SEGMENTS}",
                metas.len()
            )));
        }
        let mut used_bits: Vec<Vec<bool>> = Vec::with_capacity(metas.len());
        for (i, meta) in metas.iter().enumerate() {
            if meta.id.0 as usize != i {
                return Err(self.corrupt(format!(
                    "checkpoint lists segment {} at position {i}",
                    meta.id.0
                )));
            }
            let class = self.class(meta.class)?;
            if meta.fresh > class.slots_per_segment {
                return Err(self.corrupt(format!(
                    "segment {} fresh mark {} over capacity",
                    meta.id.0, meta.fresh
                )));
            }
            self.open_segment(meta)?;
            used_bits.push(vec![false; meta.fresh as usize]);
        }
        for (slot, len) in used {
            let meta = metas.get(slot.segment.0 as usize).ok_or_else(|| {
                self.corrupt(format!("index names missing segment {}", slot.segment.0))
            })?;
            let bit = used_bits[slot.segment.0 as usize]
                .get_mut(slot.slot.0 as usize)
                .ok_or_else(|| {
                    self.corrupt(format!("index names never-allocated slot {slot:?}"))
                })?;
            if std::mem::replace(bit, true) {
                return Err(self.corrupt(format!("slot {slot:?} is used by two keys")));
            }
            if len > self.class(meta.class)?.slot_bytes as usize {
                return Err(
                    self.corrupt(format!("value of {len} bytes in too small slot {slot:?}"))
                );
            }
        }
        for (meta, bits) in metas.iter().zip(used_bits) {
            let mut state = self.class_state[usize::from(meta.class.0)].lock();
            for (slot, used) in bits.into_iter().enumerate() {
                if !used {
                    let addr = SlotAddr {
                        segment: meta.id,
                        slot: SlotNo(u32::try_from(slot).expect("slot fits u32")),
                    };
                    push_free(&mut state, addr);
                }
            }
            if meta.fresh < self.class(meta.class)?.slots_per_segment {
                state.filling = Some(meta.id);
            }
        }
        Ok(())
    }

    /// What a checkpoint must record about every segment.
    pub fn segment_metas(&self) -> Vec<SegmentMeta> {
        self.all_segments()
            .map(|(id, s)| SegmentMeta {
                id,
                class: s.class,
                fresh: s.fresh.load(Ordering::Acquire),
            })
            .collect()
    }

    fn all_segments(&self) -> impl Iterator<Item = (SegmentId, &Segment)> {
        (0..self.segment_count.load(Ordering::Acquire)).filter_map(|id| {
            let segment = self.segments.get(id as usize)?;
            Some((SegmentId(id), segment))
        })
    }

    /// Hands out a slot for a value of `len` bytes (`len >= 1`). Fails
    /// with `Poisoned` when a new segment's fsync failed: the caller must
    /// refuse writes from then on.
    pub fn allocate(&self, len: usize) -> Result<Allocation> {
        let allocation = self.take_slot(len)?;
        self.note_born(allocation.slot);
        Ok(allocation)
    }

    /// [`DiskManager::allocate`]'s choice of slot.
    fn take_slot(&self, len: usize) -> Result<Allocation> {
        let class_id = self
            .classes
            .class_for(len)
            .ok_or_else(|| Error::ValueTooLarge {
                len,
                max: SEGMENT_BYTES - self.page_bytes,
            })?;
        let class = *self.class(class_id)?;
        let class_state = &self.class_state[usize::from(class_id.0)];
        let created = &self.segment_created[usize::from(class_id.0)];
        let mut state = class_state.lock();
        loop {
            if let Some(allocation) = self.take_existing(&mut state, &class)? {
                return Ok(allocation);
            }
            if !state.creating {
                break;
            }
            // Another thread is creating this class's next segment.
            created.wait(&mut state);
        }
        state.creating = true;
        drop(state);
        // Should the creation unwind (a panicking Vfs), the class must not
        // stay marked: its allocations would wait forever.
        let mut unmark = UnmarkOnUnwind(Some((class_state, created)));
        let made = self.create_segment(class_id, &class);
        unmark.0 = None;
        let mut state = class_state.lock();
        state.creating = false;
        created.notify_all();
        let id = made?;
        let segment = self.segment(id)?;
        segment.fresh.store(1, Ordering::Release);
        state.filling = (class.slots_per_segment > 1).then_some(id);
        Ok(Allocation {
            slot: SlotAddr {
                segment: id,
                slot: SlotNo(0),
            },
            fresh: true,
        })
    }

    /// A free slot of the class, else the next fresh slot of its filling
    /// segment; `None` when a new segment is needed.
    fn take_existing(
        &self,
        state: &mut ClassState,
        class: &SizeClass,
    ) -> Result<Option<Allocation>> {
        self.release_ripe(state);
        if let Some(slot) = state.free.pop() {
            #[cfg(debug_assertions)]
            assert!(
                state.free_set.remove(&slot),
                "free list and free set disagree"
            );
            return Ok(Some(Allocation { slot, fresh: false }));
        }
        let Some(id) = state.filling else {
            return Ok(None);
        };
        let segment = self.segment(id)?;
        let next = segment.fresh.load(Ordering::Acquire);
        if next >= class.slots_per_segment {
            return Ok(None);
        }
        segment.fresh.store(next + 1, Ordering::Release);
        if next + 1 == class.slots_per_segment {
            state.filling = None;
        }
        Ok(Some(Allocation {
            slot: SlotAddr {
                segment: id,
                slot: SlotNo(next),
            },
            fresh: true,
        }))
    }

    /// A segment's born bits: one per slot when unnamed slots are reused,
    /// none otherwise.
    fn born_bits(&self, class: &SizeClass) -> BornBits {
        BornBits::new(if self.reuse_unnamed {
            class.slots_per_segment
        } else {
            0
        })
    }

    /// Marks `slot` handed out since the last copy of the index (a slot of
    /// an unknown segment stays unmarked: it would only wait when freed).
    fn note_born(&self, slot: SlotAddr) {
        if self.reuse_unnamed {
            if let Ok(segment) = self.segment(slot.segment) {
                segment.born.set(slot.slot.0);
            }
        }
    }

    /// Returns `slot` to its class: to the free list when the clock says
    /// everything issued so far is durable, or no copy of the index can
    /// name it ([`DiskManager::new_reusing_unnamed`]), else to limbo until
    /// the clock says so. The caller guarantees no reader can still reach
    /// the slot and it is not already free.
    pub fn free(&self, slot: SlotAddr) -> Result<()> {
        let segment = self.segment(slot.segment)?;
        let unnamed = self.reuse_unnamed && segment.born.take(slot.slot.0);
        let mut state = self.class_state[usize::from(segment.class.0)].lock();
        // Read under the class lock: stamps only grow, so limbo stays in
        // stamp order and `release_ripe` may stop at its first unripe slot.
        let stamp = self.clock.stamp();
        #[cfg(debug_assertions)]
        assert!(state.free_set.insert(slot), "double free of {slot:?}");
        if unnamed || (self.clock.is_durable(stamp) && state.limbo.is_empty()) {
            state.free.push(slot);
        } else {
            debug_assert!(
                state.limbo.back().is_none_or(|&(last, _)| last <= stamp),
                "limbo out of stamp order"
            );
            state.limbo.push_back((stamp, slot));
        }
        Ok(())
    }

    /// Moves the limbo slots whose stamp is durable to the free list.
    fn release_ripe(&self, state: &mut ClassState) {
        while let Some(&(stamp, slot)) = state.limbo.front() {
            if !self.clock.is_durable(stamp) {
                break;
            }
            state.limbo.pop_front();
            state.free.push(slot);
        }
    }

    /// The pieces of the value of `len` bytes stored in `slot`, page by page.
    pub fn extents(&self, slot: SlotAddr, len: usize) -> Result<Extents> {
        let class = *self.class(self.segment(slot.segment)?.class)?;
        if len > class.slot_bytes as usize {
            return Err(self.corrupt(format!("value of {len} bytes does not fit slot {slot:?}")));
        }
        let page = self.page_bytes;
        let first_data_page = 1u32;
        Ok(match class.shape {
            SlotShape::SubPage { per_page } => {
                let page_no = first_data_page + slot.slot.0 / per_page;
                let offset = (slot.slot.0 % per_page) as usize * class.slot_bytes as usize;
                smallvec::smallvec![Extent {
                    page: PageAddr {
                        segment: slot.segment,
                        page: PageNo(page_no),
                    },
                    offset,
                    len,
                    value_offset: 0,
                    whole_page: false,
                }]
            }
            SlotShape::Pages { pages } => {
                let start = first_data_page + slot.slot.0 * pages;
                (0..len.div_ceil(page))
                    .map(|i| Extent {
                        page: PageAddr {
                            segment: slot.segment,
                            page: PageNo(start + u32::try_from(i).expect("pages per slot fit u32")),
                        },
                        offset: 0,
                        len: page.min(len - i * page),
                        value_offset: i * page,
                        whole_page: true,
                    })
                    .collect()
            }
        })
    }

    /// Path of the file holding `segment`.
    pub fn segment_path(&self, segment: SegmentId) -> PathBuf {
        self.dir.join(segment_file_name(segment))
    }

    /// Byte offset of `slot` inside its segment file.
    pub fn slot_offset(&self, slot: SlotAddr) -> Result<u64> {
        let extent = self.extents(slot, 1)?;
        let first = extent[0];
        Ok(u64::from(first.page.page.0) * self.page_bytes as u64 + first.offset as u64)
    }

    /// Makes every segment file's data durable.
    pub fn sync_all(&self) -> Result<()> {
        for (_, segment) in self.all_segments() {
            segment.file.sync_data()?;
        }
        Ok(())
    }

    /// Number of segments and their total bytes on disk.
    pub fn usage(&self) -> Result<(u64, u64)> {
        let mut count = 0;
        let mut bytes = 0;
        for (_, s) in self.all_segments() {
            count += 1;
            bytes += s.file.size()?;
        }
        Ok((count, bytes))
    }

    /// Freed slots waiting in limbo for their freeing to be durable. The
    /// slots whose freeing has become durable move to their free lists
    /// first (otherwise they leave limbo only at the next allocation of
    /// their class), so a checkpoint that made them durable is seen to
    /// have released them.
    pub fn waiting_slots(&self) -> u64 {
        self.class_state
            .iter()
            .map(|s| {
                let mut state = s.lock();
                self.release_ripe(&mut state);
                state.limbo.len() as u64
            })
            .sum()
    }

    /// Freed slots: on the free lists or waiting in limbo.
    pub fn free_slots(&self) -> u64 {
        self.count_over_classes(|s| s.free.len() + s.limbo.len())
    }

    /// The sum of `count` over every size class, each read under its lock.
    fn count_over_classes(&self, count: impl Fn(&ClassState) -> usize) -> u64 {
        self.class_state
            .iter()
            .map(|s| count(&s.lock()) as u64)
            .sum()
    }

    fn class(&self, id: ClassId) -> Result<&SizeClass> {
        self.classes
            .get(id)
            .ok_or_else(|| self.corrupt(format!("unknown size class {}", id.0)))
    }

    fn segment(&self, id: SegmentId) -> Result<&Segment> {
        self.segments
            .get(id.0 as usize)
            .ok_or_else(|| self.corrupt(format!("no segment {}", id.0)))
    }

    fn corrupt(&self, what: String) -> Error {
        Error::corruption(&self.dir, None, what)
    }

    fn header(&self, id: SegmentId, class_id: ClassId, class: &SizeClass) -> SegmentHeader {
        SegmentHeader {
            id,
            page_bytes: u32::try_from(self.page_bytes).expect("page size fits u32"),
            class: class_id,
            slot_bytes: class.slot_bytes,
        }
    }

    fn create_segment(&self, class_id: ClassId, class: &SizeClass) -> Result<SegmentId> {
        let _creating = self.creating.lock();
        if let Some(cause) = self.failed.get() {
            return Err(Error::Poisoned {
                cause: cause.clone(),
            });
        }
        let id = self.segment_count.load(Ordering::Acquire);
        if id >= MAX_SEGMENTS {
            return Err(Error::StorageFull {
                op: "create a segment (limit of 1048576 segments reached) in",
                path: self.dir.clone(),
            });
        }
        let id = SegmentId(id);
        let path = self.segment_path(id);
        let file = self.vfs.open(&path, true)?;
        let mut page0 = vec![0u8; self.page_bytes];
        let header = self.header(id, class_id, class).encode();
        page0[..header.len()].copy_from_slice(&header);
        file.set_len(0)?;
        file.write_all_at(&page0, 0)?;
        // No fsync is retried: after a failed one, a retry can succeed
        // without the file or its directory entry being on disk.
        if let Err(e) = file.sync_data().and_then(|()| self.vfs.sync_dir(&self.dir)) {
            let cause = self
                .failed
                .get_or_init(|| format!("creating segment {}: {e}", id.0));
            return Err(Error::Poisoned {
                cause: cause.clone(),
            });
        }
        self.add_segment(
            id,
            Segment {
                class: class_id,
                file,
                fresh: AtomicU32::new(0),
                born: self.born_bits(class),
            },
        );
        Ok(id)
    }

    fn open_segment(&self, meta: &SegmentMeta) -> Result<()> {
        let path = self.segment_path(meta.id);
        let file = self.vfs.open(&path, false)?;
        let mut buf = vec![0u8; super::segment::SEGMENT_HEADER_BYTES];
        read_full(&*file, &mut buf, 0)?;
        let header = SegmentHeader::decode(&buf, &path)?;
        let class = self.class(meta.class)?;
        if header != self.header(meta.id, meta.class, class) {
            return Err(Error::corruption(
                &path,
                Some(0),
                format!("segment header {header:?} disagrees with the checkpoint ({meta:?})"),
            ));
        }
        let _creating = self.creating.lock();
        self.add_segment(
            meta.id,
            Segment {
                class: meta.class,
                file,
                fresh: AtomicU32::new(meta.fresh),
                born: self.born_bits(class),
            },
        );
        Ok(())
    }

    /// Publishes segment `id`, the next one; the caller holds `creating`.
    fn add_segment(&self, id: SegmentId, segment: Segment) {
        debug_assert_eq!(id.0, self.segment_count.load(Ordering::Acquire));
        let mut segment = Some(segment);
        self.segments
            .get_or_init(id.0 as usize, || segment.take().expect("initialised once"));
        assert!(segment.is_none(), "segment {} created twice", id.0);
        self.segment_count.store(id.0 + 1, Ordering::Release);
    }
}

impl SlotReclaimer for DiskManager {
    fn reclaim(&self, slot: SlotAddr) {
        if let Err(e) = self.free(slot) {
            tracing::warn!(error = %e, ?slot, "a slot could not be freed; it stays unused until the next open");
        }
    }
}

fn push_free(state: &mut ClassState, slot: SlotAddr) {
    #[cfg(debug_assertions)]
    assert!(state.free_set.insert(slot), "double free of {slot:?}");
    state.free.push(slot);
}

impl PageDevice for DiskManager {
    fn read_page(&self, addr: PageAddr, buf: &mut [u8]) -> Result<()> {
        debug_assert_eq!(buf.len(), self.page_bytes);
        let segment = self.segment(addr.segment)?;
        let offset = u64::from(addr.page.0) * self.page_bytes as u64;
        // A page past the end of the file was allocated but never written
        // back: it reads as zeros. Value checksums catch a truncated file.
        let n = read_full(&*segment.file, buf, offset)?;
        buf[n..].fill(0);
        Ok(())
    }

    fn write_page(&self, addr: PageAddr, buf: &[u8]) -> Result<()> {
        debug_assert_eq!(buf.len(), self.page_bytes);
        if addr.page.0 == 0 {
            return Err(self.corrupt(format!(
                "refusing to overwrite the header of segment {}",
                addr.segment.0
            )));
        }
        let segment = self.segment(addr.segment)?;
        let offset = u64::from(addr.page.0) * self.page_bytes as u64;
        segment.file.write_all_at(buf, offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::MemVfs;

    fn manager() -> DiskManager {
        manager_with_clock(Arc::new(ReuseClock::immediate()))
    }

    /// A manager in an empty in-memory directory whose reuse follows `clock`.
    fn manager_with_clock(clock: Arc<ReuseClock>) -> DiskManager {
        let vfs = MemVfs::new();
        vfs.create_dir_all(Path::new("/s")).unwrap();
        DiskManager::new(Arc::new(vfs), Path::new("/s"), 8192, clock)
    }

    /// A free (which runs on whatever thread drops a value, readers
    /// included) never waits for a segment being created in its class.
    #[test]
    fn a_free_does_not_wait_for_a_segment_creation() {
        let vfs = Arc::new(crate::io::FaultVfs::new(Arc::new(MemVfs::new())));
        vfs.create_dir_all(Path::new("/s")).unwrap();
        let dm = Arc::new(DiskManager::new(
            vfs.clone(),
            Path::new("/s"),
            8192,
            Arc::new(ReuseClock::immediate()),
        ));
        // The largest class: one slot per segment, so each allocation
        // creates a segment.
        let big = SEGMENT_BYTES - 8192;
        let first = dm.allocate(big).unwrap().slot;
        vfs.close_sync_gate();
        let creator = {
            let dm = dm.clone();
            std::thread::spawn(move || dm.allocate(big).unwrap().slot)
        };
        assert_eq!(vfs.wait_for_held_sync(), vec![creator.thread().id()]);
        // The creation is held inside its I/O: a free of the same class
        // completes, and an allocation takes the freed slot. (Were the
        // class locked across the I/O, they would wait for the gate, which
        // opens only after them: the generous timeout turns that deadlock
        // into a failure.)
        let (done, finished) = std::sync::mpsc::channel();
        {
            let dm = dm.clone();
            std::thread::spawn(move || {
                dm.free(first).unwrap();
                let _ = done.send(dm.allocate(big).unwrap().slot);
            });
        }
        let reused = finished.recv_timeout(std::time::Duration::from_secs(60));
        assert_eq!(
            reused,
            Ok(first),
            "the free waited for the segment creation"
        );
        // Allocations that need new segments in two classes wait at once,
        // each for its own class's creation.
        let half = SEGMENT_BYTES / 2 - 8192;
        let waiters: Vec<_> = [big, half, half]
            .into_iter()
            .map(|len| {
                let dm = dm.clone();
                std::thread::spawn(move || dm.allocate(len).unwrap().slot)
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(50)); // let them queue
        vfs.open_sync_gate();
        let second = creator.join().unwrap();
        assert_ne!(second, first);
        let mut slots: Vec<SlotAddr> = waiters.into_iter().map(|w| w.join().unwrap()).collect();
        slots.extend([first, second]);
        slots.sort_unstable();
        slots.dedup();
        assert_eq!(slots.len(), 5, "every allocation got its own slot");
    }

    /// Without a WAL: a slot handed out since the last copy of the index
    /// is reused at once; one handed out before it waits for the clock.
    #[test]
    fn unnamed_slots_are_reused_at_once_and_named_ones_wait() {
        let vfs = MemVfs::new();
        vfs.create_dir_all(Path::new("/s")).unwrap();
        let clock = Arc::new(ReuseClock::default());
        clock.issue(1); // the current checkpoint epoch, not yet durable
        let dm = DiskManager::new_reusing_unnamed(Arc::new(vfs), Path::new("/s"), 8192, clock);
        let named = dm.allocate(100).unwrap().slot;
        dm.begin_copy();
        let unnamed = dm.allocate(100).unwrap().slot;
        dm.free(unnamed).unwrap();
        assert_eq!(dm.waiting_slots(), 0);
        assert_eq!(dm.allocate(100).unwrap().slot, unnamed, "reused at once");
        dm.free(named).unwrap();
        assert_eq!(dm.waiting_slots(), 1, "a copy may name it");
        assert_ne!(dm.allocate(100).unwrap().slot, named);
    }

    #[test]
    fn freed_slots_are_reused_before_fresh_ones() {
        let dm = manager();
        let a = dm.allocate(100).unwrap();
        let b = dm.allocate(100).unwrap();
        assert!(a.fresh && b.fresh);
        assert_eq!(a.slot.segment, b.slot.segment);
        assert_ne!(a.slot, b.slot);
        dm.free(a.slot).unwrap();
        let c = dm.allocate(100).unwrap();
        assert_eq!(c.slot, a.slot);
        assert!(!c.fresh);
        assert_eq!(dm.segment_metas().len(), 1);
    }

    #[test]
    fn a_freed_slot_waits_for_its_stamp_to_be_durable() {
        let clock = Arc::new(ReuseClock::default());
        let dm = manager_with_clock(clock.clone());
        let a = dm.allocate(100).unwrap().slot;
        clock.issue(3); // the operation freeing `a` has LSN 3, not yet durable
        dm.free(a).unwrap();
        assert_eq!(dm.free_slots(), 1);
        assert_ne!(dm.allocate(100).unwrap().slot, a, "reused before durable");
        clock.make_durable(3);
        assert_eq!(dm.allocate(100).unwrap().slot, a);
    }

    /// A slot whose freeing became durable no longer counts as waiting,
    /// with no allocation in its class to move it: the count that
    /// triggers checkpoints without a WAL falls once one is taken.
    #[test]
    fn slots_stop_waiting_once_their_freeing_is_durable() {
        let clock = Arc::new(ReuseClock::default());
        let dm = manager_with_clock(clock.clone());
        let a = dm.allocate(100).unwrap().slot;
        let b = dm.allocate(100).unwrap().slot;
        clock.issue(3);
        dm.free(a).unwrap();
        dm.free(b).unwrap();
        assert_eq!(dm.waiting_slots(), 2);
        clock.make_durable(3);
        assert_eq!(dm.waiting_slots(), 0);
        assert_eq!(dm.free_slots(), 2, "released to the free list, not lost");
    }

    #[test]
    fn a_full_segment_opens_a_new_one() {
        let dm = manager();
        let per_segment = 2047; // one-page slots in a 16 MiB segment of 8 KiB pages
        for _ in 0..per_segment {
            assert_eq!(dm.allocate(8192).unwrap().slot.segment, SegmentId(0));
        }
        assert_eq!(dm.allocate(8192).unwrap().slot.segment, SegmentId(1));
    }

    #[test]
    fn restore_rebuilds_free_lists_and_rejects_double_use() {
        let dm = manager();
        let slots: Vec<_> = (0..4).map(|_| dm.allocate(8192).unwrap().slot).collect();
        let metas = dm.segment_metas();
        let reopened = DiskManager::new(dm.vfs.clone(), &dm.dir, 8192, dm.clock.clone());
        reopened
            .restore(&metas, [(slots[0], 8192), (slots[2], 10)])
            .unwrap();
        assert_eq!(reopened.free_slots(), 2);
        let fresh = DiskManager::new(dm.vfs.clone(), &dm.dir, 8192, dm.clock.clone());
        let err = fresh
            .restore(&metas, [(slots[1], 1), (slots[1], 1)])
            .unwrap_err();
        assert!(err.is_corruption(), "{err}");
    }

    #[test]
    fn multi_page_extents_cover_the_value() {
        let dm = manager();
        let a = dm.allocate(20_000).unwrap();
        let ext = dm.extents(a.slot, 20_000).unwrap();
        assert_eq!(ext.len(), 3);
        assert_eq!(ext.iter().map(|e| e.len).sum::<usize>(), 20_000);
        assert!(ext
            .windows(2)
            .all(|w| w[1].page.page.0 == w[0].page.page.0 + 1));
        assert_eq!(ext[0].page.page, PageNo(1));
    }

    #[test]
    fn pages_past_the_end_read_as_zeros_and_header_is_protected() {
        let dm = manager();
        let a = dm.allocate(8192).unwrap();
        let page = dm.extents(a.slot, 8192).unwrap()[0].page;
        let mut buf = vec![1u8; 8192];
        dm.read_page(page, &mut buf).unwrap();
        assert!(buf.iter().all(|&b| b == 0));
        dm.write_page(page, &vec![7u8; 8192]).unwrap();
        dm.read_page(page, &mut buf).unwrap();
        assert!(buf.iter().all(|&b| b == 7));
        let header = PageAddr {
            segment: page.segment,
            page: PageNo(0),
        };
        assert!(dm.write_page(header, &buf).is_err());
    }
}
