//! [`BufferPool`]: frames, the page table, pins, latches and eviction.
//!
//! The page table is sharded (a read-write lock per shard), so hits on
//! different pages share no lock. A hit: shard read lock, pin, unlock, tell
//! the replacer, take the frame latch. A miss takes a spare frame or evicts a
//! victim (see the invariants in `buffer/mod.rs`), maps the page, and loads it
//! under the frame's write latch; other threads asking for the same page find
//! the mapping and wait on that latch.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use hashbrown::HashMap;
use parking_lot::{Mutex, RwLock, RwLockWriteGuard};

use super::guard::{PageReadGuard, PageWriteGuard};
use super::replacer::Replacer;
use super::{FrameId, PageDevice};
use crate::counter::StripedCounter;
use crate::disk::PageAddr;
use crate::error::{Error, Result};

const TABLE_SHARDS: usize = 64;
/// How long a miss waits by default for a frame to be unpinned before giving
/// up with `BufferPoolExhausted`.
pub const DEFAULT_FRAME_WAIT: Duration = Duration::from_secs(5);

/// Rounds of spinning, then yielding, before a waiting miss sleeps.
const SPIN_AND_YIELD_ROUNDS: u32 = 128;

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

/// The bytes of a frame and which page they are.
#[derive(Debug)]
pub(crate) struct FrameData {
    /// The page whose current bytes `bytes` holds, or `None`.
    pub(crate) label: Option<PageAddr>,
    pub(crate) bytes: Box<[u8]>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FrameState {
    /// On the spare list or being claimed: reachable by one thread only.
    Spare,
    /// Mapped from this page in the page table.
    Owned(PageAddr),
}

#[derive(Debug)]
struct Frame {
    pin: AtomicU32,
    dirty: AtomicBool,
    state: Mutex<FrameState>,
    latch: RwLock<FrameData>,
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
}

enum Claim {
    Taken,
    Dirty(PageAddr),
    Busy,
}

/// A buffer pool over a [`PageDevice`].
#[derive(Debug)]
pub struct BufferPool {
    page_bytes: usize,
    frames: Box<[Frame]>,
    table: Box<[RwLock<HashMap<PageAddr, FrameId>>]>,
    spare: Mutex<Vec<FrameId>>,
    replacer: Box<dyn Replacer>,
    device: Arc<dyn PageDevice>,
    poison: OnceLock<String>,
    frame_wait: Duration,
    hits: StripedCounter,
    misses: StripedCounter,
    evictions: StripedCounter,
    writebacks: StripedCounter,
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
                pin: AtomicU32::new(0),
                dirty: AtomicBool::new(false),
                state: Mutex::new(FrameState::Spare),
                latch: RwLock::new(FrameData {
                    label: None,
                    bytes: vec![0u8; page_bytes].into_boxed_slice(),
                }),
            })
            .collect();
        let spare = (0..frames.len())
            .rev()
            .map(|i| FrameId(u32::try_from(i).expect("frame count fits u32")))
            .collect();
        BufferPool {
            page_bytes,
            frames,
            table: (0..TABLE_SHARDS)
                .map(|_| RwLock::new(HashMap::new()))
                .collect(),
            spare: Mutex::new(spare),
            replacer,
            device,
            poison: OnceLock::new(),
            frame_wait: DEFAULT_FRAME_WAIT,
            hits: StripedCounter::default(),
            misses: StripedCounter::default(),
            evictions: StripedCounter::default(),
            writebacks: StripedCounter::default(),
        }
    }

    /// Sets how long a miss waits for an unpinned frame (default
    /// [`DEFAULT_FRAME_WAIT`]).
    pub fn set_frame_wait(&mut self, wait: Duration) {
        self.frame_wait = wait;
    }

    /// The page size.
    pub fn page_bytes(&self) -> usize {
        self.page_bytes
    }

    /// Pins page `addr` for reading, loading it on a miss.
    pub fn fetch_page(&self, addr: PageAddr) -> Result<PageReadGuard<'_>> {
        let f = self.pin_or_install(addr)?;
        let frame = self.frame(f);
        let data = frame.latch.read();
        if data.label == Some(addr) {
            self.hits.incr();
            return Ok(PageReadGuard {
                pool: self,
                frame: f,
                data: Some(data),
            });
        }
        drop(data);
        let mut data = frame.latch.write();
        if let Err(e) = self.load_if_needed(addr, &mut data) {
            drop(data);
            self.unpin(f);
            return Err(e);
        }
        let data = RwLockWriteGuard::downgrade(data);
        Ok(PageReadGuard {
            pool: self,
            frame: f,
            data: Some(data),
        })
    }

    /// Pins page `addr` for writing, loading it on a miss; marks it dirty.
    pub fn fetch_page_mut(&self, addr: PageAddr) -> Result<PageWriteGuard<'_>> {
        let f = self.pin_or_install(addr)?;
        let frame = self.frame(f);
        let mut data = frame.latch.write();
        if let Err(e) = self.load_if_needed(addr, &mut data) {
            drop(data);
            self.unpin(f);
            return Err(e);
        }
        frame.dirty.store(true, Ordering::Release);
        Ok(PageWriteGuard {
            pool: self,
            frame: f,
            data: Some(data),
        })
    }

    /// Pins page `addr` for writing without reading it from the device: the
    /// caller will overwrite all of it, or the page has never been written.
    /// A page not in the pool starts as zeros; a resident one keeps its bytes.
    pub fn new_page(&self, addr: PageAddr) -> Result<PageWriteGuard<'_>> {
        let f = self.pin_or_install(addr)?;
        let frame = self.frame(f);
        let mut data = frame.latch.write();
        if data.label != Some(addr) {
            data.bytes.fill(0);
            data.label = Some(addr);
        }
        frame.dirty.store(true, Ordering::Release);
        Ok(PageWriteGuard {
            pool: self,
            frame: f,
            data: Some(data),
        })
    }

    /// Writes back every dirty page. Pages dirtied during the call may stay
    /// dirty.
    pub fn flush_all(&self) -> Result<()> {
        for (i, frame) in self.frames.iter().enumerate() {
            if !frame.dirty.load(Ordering::Acquire) {
                continue;
            }
            // Copy the state out: the guard must not live into write_back,
            // which takes a page-table lock (lock order: shard, then state).
            let state = *frame.state.lock();
            if let FrameState::Owned(addr) = state {
                let f = FrameId(u32::try_from(i).expect("frame ids fit u32"));
                self.write_back(f, addr)?;
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
        }
    }

    /// The first write-back failure, if any: the pool's pages may no longer
    /// reach the disk, so the store must refuse writes.
    pub fn poisoned(&self) -> Option<&str> {
        self.poison.get().map(String::as_str)
    }

    /// Records a failure that leaves pages possibly not on disk (a failed
    /// write-back or fsync): the store must refuse writes from now on. The
    /// first cause is kept.
    pub fn poison(&self, cause: &Error) {
        let _ = self.poison.set(cause.to_string());
    }

    /// Sum of all pin counts (zero whenever no guard is alive).
    pub fn pinned(&self) -> u64 {
        self.frames
            .iter()
            .map(|f| u64::from(f.pin.load(Ordering::Acquire)))
            .sum()
    }

    /// Number of dirty frames.
    pub fn dirty_frames(&self) -> usize {
        self.frames
            .iter()
            .filter(|f| f.dirty.load(Ordering::Acquire))
            .count()
    }

    pub(super) fn unpin(&self, f: FrameId) {
        let before = self.frame(f).pin.fetch_sub(1, Ordering::AcqRel);
        debug_assert!(before > 0, "unpin of unpinned frame {f:?}");
    }

    fn frame(&self, f: FrameId) -> &Frame {
        &self.frames[f.0 as usize]
    }

    fn shard(&self, addr: PageAddr) -> &RwLock<HashMap<PageAddr, FrameId>> {
        let key = (u64::from(addr.segment.0) << 32) | u64::from(addr.page.0);
        let mixed = key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
        &self.table[mixed as usize % TABLE_SHARDS]
    }

    fn load_if_needed(&self, addr: PageAddr, data: &mut FrameData) -> Result<()> {
        if data.label == Some(addr) {
            self.hits.incr();
            return Ok(());
        }
        self.misses.incr();
        data.label = None;
        self.device.read_page(addr, &mut data.bytes)?;
        data.label = Some(addr);
        Ok(())
    }

    /// Returns a frame mapped from `addr` and pinned once for the caller.
    fn pin_or_install(&self, addr: PageAddr) -> Result<FrameId> {
        if let Some(&f) = self.shard(addr).read().get(&addr) {
            self.frame(f).pin.fetch_add(1, Ordering::AcqRel);
            self.replacer.record_access(f);
            return Ok(f);
        }
        let spare = self.take_frame()?;
        let mut shard = self.shard(addr).write();
        if let Some(&f) = shard.get(&addr) {
            self.frame(f).pin.fetch_add(1, Ordering::AcqRel);
            drop(shard);
            self.spare.lock().push(spare);
            self.replacer.record_access(f);
            return Ok(f);
        }
        let frame = self.frame(spare);
        debug_assert_eq!(frame.pin.load(Ordering::Acquire), 0);
        shard.insert(addr, spare);
        *frame.state.lock() = FrameState::Owned(addr);
        frame.pin.fetch_add(1, Ordering::AcqRel);
        drop(shard);
        self.replacer.record_access(spare);
        Ok(spare)
    }

    /// A frame in the `Spare` state, unpinned and unmapped, owned by the
    /// caller. Waits up to `frame_wait` while every frame is pinned.
    fn take_frame(&self) -> Result<FrameId> {
        let mut waited = Backoff {
            rounds: 0,
            max_wait: self.frame_wait,
            deadline: None,
        };
        loop {
            if let Some(f) = self.spare.lock().pop() {
                return Ok(f);
            }
            // Once a write-back has failed, dirty frames cannot be cleaned:
            // leave them be and evict clean ones, so reads keep working.
            let poisoned = self.poisoned().is_some();
            let evictable = |f: FrameId| {
                let frame = self.frame(f);
                frame.pin.load(Ordering::Acquire) == 0
                    && !(poisoned && frame.dirty.load(Ordering::Acquire))
            };
            if let Some(f) = self.replacer.victim(&evictable) {
                match self.try_claim(f) {
                    Claim::Taken => return Ok(f),
                    Claim::Dirty(addr) => {
                        if let Err(e) = self.write_back(f, addr) {
                            tracing::error!(error = %e, "page write-back failed; the store refuses writes");
                        }
                    }
                    Claim::Busy => {}
                }
            }
            if poisoned && waited.rounds >= SPIN_AND_YIELD_ROUNDS {
                // Every unpinned frame is dirty and cannot be written back.
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

    /// Unmaps frame `f` if it is mapped, clean and unpinned.
    fn try_claim(&self, f: FrameId) -> Claim {
        let frame = self.frame(f);
        let FrameState::Owned(addr) = *frame.state.lock() else {
            return Claim::Busy;
        };
        let mut shard = self.shard(addr).write();
        let mut state = frame.state.lock();
        if *state != FrameState::Owned(addr) || frame.pin.load(Ordering::Acquire) != 0 {
            return Claim::Busy;
        }
        if frame.dirty.load(Ordering::Acquire) {
            return Claim::Dirty(addr);
        }
        // Unpinned means no guard and no loader holds the latch.
        let Some(mut data) = frame.latch.try_write() else {
            return Claim::Busy;
        };
        data.label = None;
        shard.remove(&addr);
        *state = FrameState::Spare;
        drop((data, state, shard));
        self.replacer.remove(f);
        self.evictions.incr();
        Claim::Taken
    }

    /// Writes frame `f` back if it still holds `addr` and is dirty.
    fn write_back(&self, f: FrameId, addr: PageAddr) -> Result<()> {
        let frame = self.frame(f);
        {
            let shard = self.shard(addr).read();
            if shard.get(&addr) != Some(&f) {
                return Ok(());
            }
            frame.pin.fetch_add(1, Ordering::AcqRel);
        }
        let result = self.write_back_pinned(frame, addr);
        self.unpin(f);
        result
    }

    fn write_back_pinned(&self, frame: &Frame, addr: PageAddr) -> Result<()> {
        // The read latch keeps writers out, so the bytes written are the
        // bytes that are dirty. The flag is cleared only after the write
        // succeeded: a concurrent flush that sees it set writes the page
        // again rather than assuming an in-flight write has landed.
        let data = frame.latch.read();
        if data.label != Some(addr) || !frame.dirty.load(Ordering::Acquire) {
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
    fn guards_pin_and_unpin() {
        let (pool, _) = pool(4, ReplacerKind::Clock);
        let a = pool.fetch_page(page(1)).unwrap();
        let b = pool.fetch_page(page(1)).unwrap();
        assert_eq!(pool.pinned(), 2);
        drop(a);
        assert_eq!(pool.pinned(), 1);
        drop(b);
        assert_eq!(pool.pinned(), 0);
        let s = pool.stats();
        assert_eq!((s.misses, s.hits), (1, 1));
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
