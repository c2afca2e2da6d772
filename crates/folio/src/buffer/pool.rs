//! [`BufferPool`]: frames, the page table, latches and eviction.
//!
//! A frame's latch is also its pin: every guard holds the latch for exactly
//! as long as it uses the page, and a frame is evicted only when its latch
//! can be taken for writing without waiting. So a cached read does three
//! things to memory shared with other cores: an atomic load in the lock-free
//! page table, and the latch's acquire and release on the frame's own cache
//! line. No global or sharded lock is on the hit path with the CLOCK
//! replacer (LRU takes its list mutex on every access, by its nature).
//!
//! Callers hold at most one guard per thread at a time. A lookup may block
//! on the latch of a frame that is being recycled for another page; with two
//! guards held, two threads could each wait for the other's frame.
//!
//! Because the lookup takes no lock, a reader can find a frame that is being
//! recycled for another page: after latching, it checks the frame's content
//! label and retries the lookup when the label is not its page.
//!
//! Memory: a frame's bytes are allocated the first time the frame is mapped
//! from a page, so a pool costs memory for the pages it has held, not for
//! its budget: a server whose page store is idle, or a store smaller than
//! its cache, does not pay for frames it never uses.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock, RwLockWriteGuard};

use super::guard::{PageReadGuard, PageWriteGuard};
use super::replacer::Replacer;
use super::table::PageTable;
use super::{FrameId, PageDevice};
use crate::counter::StripedCounter;
use crate::disk::{PageAddr, SEGMENT_BYTES};
use crate::error::{Error, Result};

/// How long a miss waits by default for a frame to be released before giving
/// up with `BufferPoolExhausted`.
pub const DEFAULT_FRAME_WAIT: Duration = Duration::from_secs(5);

/// Rounds of spinning, then yielding, before a waiting miss sleeps.
const SPIN_AND_YIELD_ROUNDS: u32 = 128;

/// The bytes of a frame and what they are.
///
/// Invariants: `label.is_some()` implies `label == mapped`; both change
/// only under the frame's write latch. A frame that has ever been mapped
/// holds `page_bytes` bytes; one never mapped holds none (allocated lazily
/// by `install`). `verified` is zero or the checksum of
/// a value that fills exactly these bytes' page and was checked against them;
/// it is set under the read latch and cleared under the write latch whenever
/// the bytes may change (load, write guard, eviction).
#[derive(Debug)]
pub(crate) struct FrameData {
    /// The page the page table maps to this frame, if any.
    mapped: Option<PageAddr>,
    /// The page whose current bytes `bytes` holds, or `None`.
    label: Option<PageAddr>,
    pub(crate) verified: AtomicU64,
    pub(crate) bytes: Box<[u8]>,
}

#[derive(Debug)]
#[repr(align(64))]
struct Frame {
    /// Held by every guard; held for writing by loads and evictions.
    latch: RwLock<FrameData>,
    /// Set under the write latch by writers; cleared under the read latch
    /// after a successful write-back.
    dirty: AtomicBool,
}

/// Counters of a buffer pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Pages found in a frame.
    pub hits: u64,
    /// Pages read from the device.
    pub misses: u64,
    /// Pages evicted.
    pub evictions: u64,
    /// Dirty pages written back.
    pub writebacks: u64,
    /// Frames in the pool.
    pub frames: u64,
    /// Frames whose bytes are allocated: those ever mapped from a page.
    pub allocated_frames: u64,
}

/// Spins, then yields, then sleeps, until `max_wait` has passed.
struct Backoff {
    rounds: u32,
    max_wait: Duration,
    deadline: Option<Instant>,
}

impl Backoff {
    /// Waits a little; false once the deadline has passed.
    fn pause(&mut self) -> bool {
        self.rounds += 1;
        if self.rounds < SPIN_AND_YIELD_ROUNDS / 2 {
            std::hint::spin_loop();
        } else if self.rounds < SPIN_AND_YIELD_ROUNDS {
            std::thread::yield_now();
        } else {
            let max_wait = self.max_wait;
            let deadline = *self
                .deadline
                .get_or_insert_with(|| Instant::now() + max_wait);
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_micros(50));
        }
        true
    }
}

/// Why an eviction gave no frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Missed {
    /// Another thread holds the victim's latch, or evicted it first.
    Taken,
    /// The victim was dirty and has been written back (or the write-back
    /// failed and poisoned the pool); it stays mapped.
    WroteBack,
}

/// A buffer pool over a [`PageDevice`].
#[derive(Debug)]
pub struct BufferPool {
    page_bytes: usize,
    frames: Box<[Frame]>,
    table: PageTable,
    /// Frames mapped from no page and tracked by no replacer.
    spare: Mutex<Vec<FrameId>>,
    replacer: Box<dyn Replacer>,
    device: Arc<dyn PageDevice>,
    poison: OnceLock<String>,
    frame_wait: Duration,
    hits: StripedCounter,
    misses: StripedCounter,
    evictions: StripedCounter,
    writebacks: StripedCounter,
    /// Frames whose bytes have been allocated (never decreases).
    allocated_frames: AtomicU64,
}

impl BufferPool {
    /// A pool of `frames` frames of `page_bytes` bytes.
    pub fn new(
        frames: usize,
        page_bytes: usize,
        replacer: Box<dyn Replacer>,
        device: Arc<dyn PageDevice>,
    ) -> Self {
        let frames: Box<[Frame]> = (0..frames)
            .map(|_| Frame {
                latch: RwLock::new(FrameData {
                    mapped: None,
                    label: None,
                    verified: AtomicU64::new(0),
                    bytes: Box::default(),
                }),
                dirty: AtomicBool::new(false),
            })
            .collect();
        let spare = (0..frames.len())
            .rev()
            .map(|i| FrameId(u32::try_from(i).expect("frame count fits u32")))
            .collect();
        BufferPool {
            page_bytes,
            frames,
            table: PageTable::new(SEGMENT_BYTES / page_bytes),
            spare: Mutex::new(spare),
            replacer,
            device,
            poison: OnceLock::new(),
            frame_wait: DEFAULT_FRAME_WAIT,
            hits: StripedCounter::default(),
            misses: StripedCounter::default(),
            evictions: StripedCounter::default(),
            writebacks: StripedCounter::default(),
            allocated_frames: AtomicU64::new(0),
        }
    }

    /// Sets how long a miss waits for a free frame (default
    /// `DEFAULT_FRAME_WAIT`).
    pub fn set_frame_wait(&mut self, wait: Duration) {
        self.frame_wait = wait;
    }

    /// The page size.
    pub fn page_bytes(&self) -> usize {
        self.page_bytes
    }

    /// Latches page `addr` for reading, loading it on a miss.
    pub fn fetch_page(&self, addr: PageAddr) -> Result<PageReadGuard<'_>> {
        if let Some(guard) = self.try_hit(addr) {
            return Ok(guard);
        }
        let (_, mut data) = self.latch_for_write(addr)?;
        self.load_if_needed(addr, &mut data)?;
        Ok(PageReadGuard {
            data: RwLockWriteGuard::downgrade(data),
        })
    }

    /// Latches page `addr` for writing, loading it on a miss; marks it dirty.
    pub fn fetch_page_mut(&self, addr: PageAddr) -> Result<PageWriteGuard<'_>> {
        let (f, mut data) = self.latch_for_write(addr)?;
        self.load_if_needed(addr, &mut data)?;
        *data.verified.get_mut() = 0;
        self.frame(f).dirty.store(true, Ordering::Release);
        Ok(PageWriteGuard { data })
    }

    /// Latches page `addr` for writing without reading it from the device:
    /// the caller will overwrite all of it, or the page has never been
    /// written. A page not in the pool starts as zeros; a resident one keeps
    /// its bytes. Marks it dirty.
    pub fn new_page(&self, addr: PageAddr) -> Result<PageWriteGuard<'_>> {
        let (f, mut data) = self.latch_for_write(addr)?;
        if data.label != Some(addr) {
            self.assert_holds_page(&data);
            data.bytes.fill(0);
            data.label = Some(addr);
        }
        *data.verified.get_mut() = 0;
        self.frame(f).dirty.store(true, Ordering::Release);
        Ok(PageWriteGuard { data })
    }

    /// Writes back every dirty page. Pages dirtied during the call may stay
    /// dirty.
    pub fn flush_all(&self) -> Result<()> {
        for frame in self.frames.iter() {
            if frame.dirty.load(Ordering::Acquire) {
                let data = frame.latch.read();
                self.write_back(frame, &data)?;
            }
        }
        Ok(())
    }

    /// The counters.
    pub fn stats(&self) -> PoolStats {
        PoolStats {
            hits: self.hits.get(),
            misses: self.misses.get(),
            evictions: self.evictions.get(),
            writebacks: self.writebacks.get(),
            frames: self.frames.len() as u64,
            allocated_frames: self.allocated_frames.load(Ordering::Relaxed),
        }
    }

    /// The first failure that left pages possibly not on disk, if any: the
    /// store must refuse writes.
    pub fn poisoned(&self) -> Option<&str> {
        self.poison.get().map(String::as_str)
    }

    /// Records a failure that leaves pages possibly not on disk (a failed
    /// write-back or fsync): the store must refuse writes from now on. The
    /// first cause is kept.
    pub fn poison(&self, cause: &Error) {
        let text = match cause {
            Error::Poisoned { cause } => cause.clone(),
            other => other.to_string(),
        };
        let _ = self.poison.set(text);
    }

    /// Number of frames latched right now (zero whenever no guard is alive).
    pub fn pinned(&self) -> u64 {
        self.frames.iter().filter(|f| f.latch.is_locked()).count() as u64
    }

    /// Number of dirty frames.
    pub fn dirty_frames(&self) -> usize {
        self.frames
            .iter()
            .filter(|f| f.dirty.load(Ordering::Acquire))
            .count()
    }

    fn frame(&self, f: FrameId) -> &Frame {
        &self.frames[f.0 as usize]
    }

    /// The hit path: no lock but the frame's latch.
    fn try_hit(&self, addr: PageAddr) -> Option<PageReadGuard<'_>> {
        let f = self.table.get(addr)?;
        let data = self.frame(f).latch.read();
        if data.label != Some(addr) {
            return None; // not loaded yet, or recycled for another page
        }
        self.hits.incr();
        self.replacer.record_access(f);
        Some(PageReadGuard { data })
    }

    /// The frame mapped from `addr`, write-latched; maps one on a miss.
    fn latch_for_write(
        &self,
        addr: PageAddr,
    ) -> Result<(FrameId, RwLockWriteGuard<'_, FrameData>)> {
        loop {
            match self.table.get(addr) {
                Some(f) => {
                    let data = self.frame(f).latch.write();
                    if data.mapped == Some(addr) {
                        self.replacer.record_access(f);
                        return Ok((f, data));
                    }
                }
                None => {
                    if let Some(found) = self.install(addr)? {
                        return Ok(found);
                    }
                }
            }
        }
    }

    /// The invariant that lazy allocation keeps: a mapped frame has its
    /// page's bytes (`install` allocates them).
    fn assert_holds_page(&self, data: &FrameData) {
        assert_eq!(
            data.bytes.len(),
            self.page_bytes,
            "a mapped frame holds a page"
        );
    }

    fn load_if_needed(&self, addr: PageAddr, data: &mut FrameData) -> Result<()> {
        if data.label == Some(addr) {
            self.hits.incr();
            return Ok(());
        }
        self.misses.incr();
        self.assert_holds_page(data);
        data.label = None;
        *data.verified.get_mut() = 0;
        self.device.read_page(addr, &mut data.bytes)?;
        data.label = Some(addr);
        Ok(())
    }

    /// Maps a free frame from `addr`; `None` when another thread mapped the
    /// page first (the caller looks it up again).
    fn install(
        &self,
        addr: PageAddr,
    ) -> Result<Option<(FrameId, RwLockWriteGuard<'_, FrameData>)>> {
        let (f, mut data) = self.take_frame()?;
        match self.table.try_insert(addr, f) {
            Ok(Ok(())) => {
                if data.bytes.is_empty() {
                    data.bytes = vec![0u8; self.page_bytes].into_boxed_slice();
                    self.allocated_frames.fetch_add(1, Ordering::Relaxed);
                }
                data.mapped = Some(addr);
                self.replacer.record_access(f);
                Ok(Some((f, data)))
            }
            lost_or_failed => {
                drop(data);
                self.spare.lock().push(f);
                lost_or_failed.map(|_| None)
            }
        }
    }

    /// A frame mapped from no page, write-latched by the caller. Waits up
    /// to `frame_wait` while every frame is in use.
    fn take_frame(&self) -> Result<(FrameId, RwLockWriteGuard<'_, FrameData>)> {
        let mut waited = Backoff {
            rounds: 0,
            max_wait: self.frame_wait,
            deadline: None,
        };
        loop {
            // Pop first: the spare list's lock must not be held while the
            // latch is awaited.
            let spare = self.spare.lock().pop();
            if let Some(f) = spare {
                // A reader that looked the frame up before it was unmapped
                // may still hold the latch for a moment.
                return Ok((f, self.frame(f).latch.write()));
            }
            // Once a write-back has failed, dirty frames cannot be cleaned:
            // leave them be and evict clean ones, so reads keep working.
            let poisoned = self.poisoned().is_some();
            let evictable = |f: FrameId| {
                let frame = self.frame(f);
                let in_use = frame.latch.is_locked();
                let stuck = poisoned && frame.dirty.load(Ordering::Acquire);
                !in_use && !stuck
            };
            if let Some(f) = self.replacer.victim(&evictable) {
                match self.try_evict(f) {
                    Ok(data) => return Ok((f, data)),
                    // Clean now: it can go on the next try.
                    Err(Missed::WroteBack) => continue,
                    // A lost race: back off as when every frame is in use,
                    // so a miss that keeps losing still meets its deadline.
                    Err(Missed::Taken) => {
                        if !waited.pause() {
                            return Err(Error::BufferPoolExhausted {
                                frames: self.frames.len(),
                            });
                        }
                        continue;
                    }
                }
            }
            if poisoned && waited.rounds >= SPIN_AND_YIELD_ROUNDS {
                // Every idle frame is dirty and cannot be written back.
                let cause = self.poisoned().unwrap_or_default().to_string();
                return Err(Error::Poisoned { cause });
            }
            if !waited.pause() {
                return Err(Error::BufferPoolExhausted {
                    frames: self.frames.len(),
                });
            }
        }
    }

    /// Unmaps frame `f` if it is mapped, no one holds it and it is clean;
    /// writes it back (and leaves it mapped) if it is dirty.
    fn try_evict(
        &self,
        f: FrameId,
    ) -> std::result::Result<RwLockWriteGuard<'_, FrameData>, Missed> {
        let frame = self.frame(f);
        let mut data = frame.latch.try_write().ok_or(Missed::Taken)?;
        // The replacer's view is read without the latch: the victim may have
        // been evicted by another thread meanwhile and be on the spare list
        // or about to be mapped again. Only a mapped frame can be evicted.
        let addr = data.mapped.ok_or(Missed::Taken)?;
        if frame.dirty.load(Ordering::Acquire) {
            let data = RwLockWriteGuard::downgrade(data);
            if let Err(e) = self.write_back(frame, &data) {
                tracing::error!(error = %e, "page write-back failed; the store refuses writes");
            }
            return Err(Missed::WroteBack);
        }
        let removed = self.table.remove(addr, f);
        assert!(
            removed,
            "frame {f:?} is mapped from {addr:?} but the page table disagrees"
        );
        data.mapped = None;
        data.label = None;
        *data.verified.get_mut() = 0;
        self.replacer.remove(f);
        self.evictions.incr();
        Ok(data)
    }

    /// Writes `data` back if `frame` is dirty. The caller holds the latch
    /// (read or write), so the bytes written are the bytes that are dirty.
    /// The flag is cleared only after the write succeeded: a concurrent flush
    /// that sees it set writes the page again instead of assuming an
    /// in-flight write has landed.
    fn write_back(&self, frame: &Frame, data: &FrameData) -> Result<()> {
        let Some(addr) = data.label else {
            return Ok(());
        };
        if !frame.dirty.load(Ordering::Acquire) {
            return Ok(());
        }
        if let Err(e) = self.device.write_page(addr, &data.bytes) {
            self.poison(&e);
            return Err(e);
        }
        frame.dirty.store(false, Ordering::Release);
        self.writebacks.incr();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffer::replacer::new_replacer;
    use crate::config::ReplacerKind;
    use crate::disk::{PageNo, SegmentId};
    use std::collections::HashMap;

    /// A device that remembers pages in a map and counts reads and writes.
    #[derive(Debug, Default)]
    struct MapDevice {
        pages: Mutex<HashMap<PageAddr, Vec<u8>>>,
        fail_writes: AtomicBool,
    }

    impl PageDevice for MapDevice {
        fn read_page(&self, addr: PageAddr, buf: &mut [u8]) -> Result<()> {
            match self.pages.lock().get(&addr) {
                Some(p) => buf.copy_from_slice(p),
                None => buf.fill(0),
            }
            Ok(())
        }
        fn write_page(&self, addr: PageAddr, buf: &[u8]) -> Result<()> {
            if self.fail_writes.load(Ordering::Relaxed) {
                return Err(Error::io("write", "dev", std::io::ErrorKind::Other.into()));
            }
            self.pages.lock().insert(addr, buf.to_vec());
            Ok(())
        }
    }

    fn page(n: u32) -> PageAddr {
        PageAddr {
            segment: SegmentId(0),
            page: PageNo(n),
        }
    }

    fn pool(frames: usize, kind: ReplacerKind) -> (BufferPool, Arc<MapDevice>) {
        let dev = Arc::new(MapDevice::default());
        let pool = BufferPool::new(frames, 4096, new_replacer(kind, frames), dev.clone());
        (pool, dev)
    }

    #[test]
    fn frames_take_memory_only_once_they_hold_a_page() {
        let (big, _) = pool(64, ReplacerKind::Clock);
        assert_eq!(big.stats().allocated_frames, 0, "a new pool holds no page");
        for n in 0..3 {
            drop(big.fetch_page(page(n)).unwrap());
        }
        drop(big.new_page(page(3)).unwrap());
        assert_eq!(big.stats().allocated_frames, 4);
        // Hits and reloads reuse the frames they have.
        for n in 0..4 {
            drop(big.fetch_page(page(n)).unwrap());
        }
        assert_eq!(big.stats().allocated_frames, 4);
        // A full pool recycles allocated frames instead of allocating more.
        let (small, _) = pool(2, ReplacerKind::Lru);
        for n in 0..10u8 {
            let mut guard = small.fetch_page_mut(page(n.into())).unwrap();
            guard[0] = n;
        }
        assert_eq!(small.stats().allocated_frames, 2);
        for n in 0..10u8 {
            assert_eq!(small.fetch_page(page(n.into())).unwrap()[0], n);
        }
    }

    /// The frame holding `addr`.
    fn frame_of(pool: &BufferPool, addr: PageAddr) -> FrameId {
        let i = pool
            .frames
            .iter()
            .position(|f| f.latch.read().mapped == Some(addr))
            .expect("the page is in a frame");
        FrameId(u32::try_from(i).unwrap())
    }

    /// An eviction says why it gave no frame: a held victim is `Taken`
    /// (the miss backs off toward its deadline, as when every frame is in
    /// use), a dirty one is written back and stays mapped, a clean one is
    /// unmapped.
    #[test]
    fn an_eviction_says_why_it_gave_no_frame() {
        let (pool, dev) = pool(2, ReplacerKind::Lru);
        pool.new_page(page(1)).unwrap().fill(7);
        let f = frame_of(&pool, page(1));
        let reader = pool.fetch_page(page(1)).unwrap();
        assert_eq!(pool.try_evict(f).err(), Some(Missed::Taken));
        drop(reader);
        assert_eq!(pool.try_evict(f).err(), Some(Missed::WroteBack));
        assert_eq!(dev.pages.lock()[&page(1)], vec![7u8; 4096]);
        assert_eq!(frame_of(&pool, page(1)), f, "still mapped");
        let data = pool.try_evict(f).expect("clean and free: evicted");
        assert_eq!(data.mapped, None);
        drop(data);
        pool.spare.lock().push(f);
        assert_eq!(
            pool.try_evict(f).err(),
            Some(Missed::Taken),
            "evicted already"
        );
    }

    #[test]
    fn threads_racing_for_a_new_page_allocate_one_frame() {
        let (pool, _) = pool(8, ReplacerKind::Clock);
        let barrier = std::sync::Barrier::new(4);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    barrier.wait();
                    for _ in 0..100 {
                        assert_eq!(pool.fetch_page(page(9)).unwrap().len(), 4096);
                    }
                });
            }
        });
        assert_eq!(pool.stats().allocated_frames, 1);
        assert_eq!(pool.stats().misses, 1);
    }

    #[test]
    fn guards_pin_and_unpin() {
        // One thread holding several guards is fine when no other thread
        // competes for the frames (the engine itself never does this).

        let (pool, _) = pool(4, ReplacerKind::Clock);
        let a = pool.fetch_page(page(1)).unwrap();
        let b = pool.fetch_page(page(1)).unwrap();
        let c = pool.fetch_page(page(2)).unwrap();
        assert_eq!(pool.pinned(), 2, "two frames held");
        drop(a);
        assert_eq!(pool.pinned(), 2, "page 1 is still held by b");
        drop(b);
        assert_eq!(pool.pinned(), 1);
        drop(c);
        assert_eq!(pool.pinned(), 0);
        let s = pool.stats();
        assert_eq!((s.misses, s.hits), (2, 1));
    }

    #[test]
    fn verified_mark_is_cleared_whenever_the_bytes_may_change() {
        let (pool, _) = pool(2, ReplacerKind::Clock);
        pool.new_page(page(1)).unwrap().fill(5);
        {
            let g = pool.fetch_page(page(1)).unwrap();
            assert_eq!(g.verified_checksum(), 0);
            g.mark_verified(42);
        }
        assert_eq!(pool.fetch_page(page(1)).unwrap().verified_checksum(), 42);
        pool.fetch_page_mut(page(1)).unwrap()[0] = 6;
        assert_eq!(
            pool.fetch_page(page(1)).unwrap().verified_checksum(),
            0,
            "write guard"
        );
        pool.fetch_page(page(1)).unwrap().mark_verified(43);
        pool.new_page(page(1)).unwrap();
        assert_eq!(
            pool.fetch_page(page(1)).unwrap().verified_checksum(),
            0,
            "new page"
        );
        pool.fetch_page(page(1)).unwrap().mark_verified(44);
        for n in 2..6 {
            pool.new_page(page(n)).unwrap();
        }
        let reloaded = pool.fetch_page(page(1)).unwrap();
        assert_eq!(reloaded.verified_checksum(), 0, "eviction and reload");
        assert_eq!(reloaded[0], 6);
    }

    #[test]
    fn a_held_page_is_never_evicted() {
        let (pool, _) = pool(2, ReplacerKind::Clock);
        let held = pool.fetch_page(page(1)).unwrap();
        for n in 2..20 {
            pool.new_page(page(n)).unwrap().fill(1);
        }
        assert!(held.iter().all(|&b| b == 0));
        drop(held);
        assert!(pool.fetch_page(page(1)).unwrap().iter().all(|&b| b == 0));
        assert!(pool.fetch_page(page(7)).unwrap().iter().all(|&b| b == 1));
    }

    #[test]
    fn dirty_victims_are_written_back_and_reread() {
        for kind in [ReplacerKind::Lru, ReplacerKind::Clock] {
            let (pool, dev) = pool(2, kind);
            for n in 1..=10u32 {
                let mut g = pool.new_page(page(n)).unwrap();
                g.fill(u8::try_from(n).unwrap());
            }
            assert!(pool.stats().evictions >= 8);
            assert!(pool.stats().writebacks >= 8);
            for n in 1..=10u32 {
                let g = pool.fetch_page(page(n)).unwrap();
                assert!(g.iter().all(|&b| b == u8::try_from(n).unwrap()), "page {n}");
            }
            pool.flush_all().unwrap();
            assert_eq!(dev.pages.lock().len(), 10);
            assert_eq!(pool.dirty_frames(), 0);
        }
    }

    #[test]
    fn all_pinned_is_a_clear_error() {
        let (mut pool, _) = pool(2, ReplacerKind::Lru);
        pool.set_frame_wait(Duration::from_millis(50));
        let _a = pool.fetch_page(page(1)).unwrap();
        let _b = pool.fetch_page(page(2)).unwrap();
        let err = pool.fetch_page(page(3)).unwrap_err();
        assert!(
            matches!(err, Error::BufferPoolExhausted { frames: 2 }),
            "{err}"
        );
        assert_eq!(pool.pinned(), 2);
    }

    #[test]
    fn failed_write_back_poisons_and_keeps_the_page_dirty() {
        let (pool, dev) = pool(2, ReplacerKind::Clock);
        pool.new_page(page(1)).unwrap().fill(9);
        dev.fail_writes.store(true, Ordering::Relaxed);
        assert!(pool.flush_all().is_err());
        assert!(pool.poisoned().is_some());
        assert_eq!(pool.dirty_frames(), 1);
        assert!(pool.fetch_page(page(1)).unwrap().iter().all(|&b| b == 9));
        // Misses still work: the dirty frame is skipped, the clean one reused.
        for n in 2..8 {
            assert!(pool.fetch_page(page(n)).unwrap().iter().all(|&b| b == 0));
        }
        assert!(pool.fetch_page(page(1)).unwrap().iter().all(|&b| b == 9));
    }

    #[test]
    fn concurrent_readers_and_writers_see_whole_pages() {
        let (pool, _) = pool(3, ReplacerKind::Clock);
        std::thread::scope(|s| {
            for t in 0..4u8 {
                let pool = &pool;
                s.spawn(move || {
                    for i in 0..2000u32 {
                        let n = 1 + (i * 7 + u32::from(t)) % 6;
                        if i % 3 == 0 {
                            let mut g = pool.fetch_page_mut(page(n)).unwrap();
                            let v = g[0].wrapping_add(1);
                            g.fill(v);
                        } else {
                            let g = pool.fetch_page(page(n)).unwrap();
                            assert!(g.iter().all(|&b| b == g[0]), "torn page");
                        }
                    }
                });
            }
        });
        assert_eq!(pool.pinned(), 0);
    }
}
