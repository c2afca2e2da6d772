//! The native engine, "paged": the index, the buffer pool and the disk
//! manager behind [`KvStore`], made durable by a write-ahead log and
//! checkpoints.
//!
//! A value lives in one slot (none for the empty value); the index maps its
//! key to the slot, the length and an xxh3-64 checksum. Writes never change a
//! slot a reader can reach: a put fills a fresh or freed slot and swaps the
//! index entry; the old slot is reclaimed when the last reader that could see
//! it unpins the index (see `index`), and reused only once the write that
//! freed it is durable (see `reuse`), or, without a WAL, at once when no
//! checkpoint can name it (see `disk/born.rs`). Reads verify the checksum.
//!
//! # A write
//!
//! 1. the value is copied into a slot (buffer-pool pages);
//! 2. the key's stripe lock is taken (`keylocks`);
//! 3. the WAL record (key and value) is appended; in `sync` mode this
//!    returns after the group-commit fsync that covers it;
//! 4. the index entry is swapped — only now can a reader see the value, so
//!    a get never returns a value a crash could take away (in `sync` mode);
//! 5. the stripe is released.
//!
//! Writes through [`DeferredAck`] skip the wait in step 3: readers may see
//! them before they are durable, and the caller waits for an [`AckMark`]
//! before telling anyone the write happened (see `write`).
//!
//! # Durable state and recovery
//!
//! The durable state is the last checkpoint (the whole index and the
//! segment table, at LSN `c`) plus the WAL after `c`. Open loads the
//! checkpoint named by the superblock, replays the WAL after `c` (cutting a
//! torn tail, refusing damage in the durable log), and goes on. Nothing a
//! checkpoint names is ever overwritten before a newer checkpoint or the
//! durable WAL makes it unneeded, so page write-back needs no ordering
//! against the WAL, and a torn page write damages only bytes nobody needs.
//!
//! # Locks
//!
//! - `ops` gate: every write holds it shared for its duration; close holds
//!   it exclusively.
//! - `view` gate: every read holds it shared; a batch holds it exclusively
//!   while it swaps its entries (no get sees part of a batch), and close.
//! - key stripes: see step 2 above.
//! - `snapshot`: without a WAL, swaps take it shared, and a checkpoint
//!   holds it exclusively to start and to end the undo log of its copy of
//!   the index (`undo.rs`): with nothing to replay over it, that copy must
//!   be the state of one instant (and hold all of a batch or none of it). With a WAL the copy may catch part of a batch
//!   after `c`; the checkpoint makes that batch's record durable first, and
//!   recovery replays all of it.
//! - `lifecycle` mutex: one checkpoint (or close) at a time.
//!
//! Order for writers: `ops` → key stripes → `snapshot` → `view`. A
//! checkpoint holds `lifecycle` and then takes each stripe briefly and
//! `snapshot`; close holds `ops` and `view` exclusively and then
//! `lifecycle`. No cycle: nothing takes `lifecycle` while holding a stripe
//! or `snapshot`, and while close holds `ops` no writer holds a stripe.

mod checkpoint;
mod checkpointer;
mod open;
mod undo;
mod values;
mod write;

pub(crate) use open::DATA_FILE_PREFIXES;
mod superblock;

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Mutex, RwLock};

pub use checkpoint::{checkpoint_file_name, load as load_checkpoint, Checkpoint, CheckpointHeader};

/// Decodes and verifies the bytes of a checkpoint file read from `path`
/// (for tools and fuzzing; the store reads checkpoints with
/// [`load_checkpoint`]).
pub fn decode_checkpoint(bytes: &[u8], path: &Path) -> Result<Checkpoint> {
    checkpoint::decode(bytes, path, crate::config::KEY_BYTES_CEILING)
}

pub use superblock::{Superblock, SUPERBLOCK_FILE};

use crate::ack::Ack;
use crate::buffer::BufferPool;
use crate::config::Config;
use crate::counter::StripedCounter;
use crate::disk::DiskManager;
use crate::error::{Error, Result};
use crate::gate::{Gate, SharedGuard};
use crate::index::Index;

/// An index value of this store: it gives its slot back to the disk manager.
type Located = crate::index::Located<DiskManager>;
use crate::io::{DirLock, Vfs, VfsFile};
use crate::keylocks::KeyLocks;
use crate::kv::{AckListener, AckMark, DeferredAck, KvStore, Stats, WriteBatch};
use crate::periodic::Periodic;
use crate::reuse::ReuseClock;
use crate::wal::Wal;

/// Registry name of this engine.
pub const ENGINE_NAME: &str = "paged";

/// The native three-layer engine.
pub struct PagedStore {
    inner: Arc<Inner>,
    checkpointer: Mutex<Option<Periodic>>,
}

impl std::fmt::Debug for PagedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PagedStore")
            .field("dir", &self.inner.dir)
            .field("durability", &self.inner.config.durability)
            .field("keys", &self.inner.index.len())
            .finish_non_exhaustive()
    }
}

/// The store's state, shared with the background checkpointer.
struct Inner {
    dir: PathBuf,
    vfs: Arc<dyn Vfs>,
    config: Config,
    index: Index<DiskManager>,
    pool: BufferPool,
    disk: Arc<DiskManager>,
    /// `None` with `Durability::None`.
    wal: Option<Wal>,
    /// When freed slots may be reused: LSNs with a WAL, checkpoint epochs
    /// without.
    clock: Arc<ReuseClock>,
    superblock_file: Arc<dyn VfsFile>,
    lifecycle: Mutex<Lifecycle>,
    ops: Gate,
    view: Gate,
    snapshot: RwLock<()>,
    /// Without a WAL: the undo entries of a checkpoint's copy of the index.
    undo: undo::CopyUndo,
    keys: KeyLocks,
    /// Bytes logged (or, without a WAL, written) since open.
    logged_bytes: StripedCounter,
    /// Checkpoints taken since open (read by `stats` without waiting for a
    /// checkpoint in progress).
    checkpoints: StripedCounter,
    closed: AtomicBool,
}

/// What only a checkpoint or close changes.
#[derive(Debug)]
struct Lifecycle {
    superblock: Superblock,
    lock: Option<Box<dyn DirLock>>,
    /// Without a WAL: the LSN and first WAL file the next checkpoint
    /// records (what the last one or recovery reached).
    base_lsn: u64,
    base_wal_seq: u32,
    /// `logged_bytes` when the last checkpoint started.
    logged_at_checkpoint: u64,
    checkpoint_started: Instant,
}

impl PagedStore {
    /// Opens or creates the store in `dir` on the real file system.
    pub fn open(dir: &Path, config: &Config) -> Result<Self> {
        Self::open_with_vfs(Arc::new(crate::io::FileVfs), dir, config)
    }

    /// The buffer pool (for tests and monitoring).
    pub fn pool(&self) -> &BufferPool {
        &self.inner.pool
    }

    /// The configuration in force (page size as found on disk).
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Takes a checkpoint now: afterwards recovery replays nothing written
    /// before this call, and the WAL before it is retired.
    pub fn checkpoint(&self) -> Result<()> {
        let inner = &self.inner;
        let _ops = inner.write_gate()?;
        let mut life = inner.lifecycle.lock();
        inner.checkpoint(&mut life, false)
    }
}

impl Inner {
    /// Admits a read: shared hold on the view gate, store open.
    fn read_gate(&self) -> Result<SharedGuard<'_>> {
        let gate = self.view.shared();
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(gate)
    }

    /// Admits a write: shared hold on the ops gate, store open and not
    /// poisoned.
    fn write_gate(&self) -> Result<SharedGuard<'_>> {
        let gate = self.ops.shared();
        self.check_writable()?;
        Ok(gate)
    }

    /// Open and not poisoned.
    fn check_writable(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        self.refuse_if_poisoned()
    }

    /// Records a failure after which the store must refuse writes: a failed
    /// write-back, fsync, WAL write or checkpoint. No fsync is retried (the
    /// kernel may have dropped the pages it could not write; ATC'20, "Can
    /// Applications Recover from fsync Failures?"). Reopening recovers from
    /// the last checkpoint and the WAL.
    fn poison(&self, cause: &Error) {
        tracing::error!(dir = %self.dir.display(), error = %cause, "the store refuses writes until reopened");
        self.pool.poison(cause);
    }

    fn stats(&self) -> Stats {
        let pool = self.pool.stats();
        let (segments, data_file_bytes) = self.disk.usage().unwrap_or((0, 0));
        let wal = self.wal.as_ref().map(Wal::stats).unwrap_or_default();
        Stats {
            cache_hits: pool.hits,
            cache_misses: pool.misses,
            cache_evictions: pool.evictions,
            cache_writebacks: pool.writebacks,
            cache_frames: pool.frames,
            cache_allocated_frames: pool.allocated_frames,
            segments,
            data_file_bytes,
            free_slots: self.disk.free_slots(),
            wal_records: wal.records,
            wal_bytes: wal.bytes,
            wal_fsyncs: wal.fsyncs,
            wal_rotations_unprepared: wal.rotations_unprepared,
            wal_lsn: wal.synced.0,
            checkpoints: self.checkpoints.get(),
            poisoned: self.pool.poisoned().is_some()
                || self.wal.as_ref().is_some_and(Wal::has_failed),
            // A failed checkpoint poisons this engine.
            checkpoint_failed: false,
        }
    }
}

impl KvStore for PagedStore {
    fn engine_name(&self) -> &'static str {
        ENGINE_NAME
    }

    fn durability(&self) -> crate::Durability {
        self.inner.config.durability
    }

    fn max_value_bytes(&self) -> usize {
        self.inner.config.max_value_bytes
    }

    fn keeps_write_order(&self) -> bool {
        // the WAL is replayed as a prefix (a torn tail is cut at its first damage);
        // without a WAL a crash returns to a checkpoint, one instant's state.
        true
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.inner.put(key, value, Ack::Wait)
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let inner = &self.inner;
        inner.config.check_key(key)?;
        let _gate = inner.read_gate()?;
        // The pin keeps the entry's slot from being reused while we copy.
        let index = inner.index.pin();
        match index.get(key) {
            None => Ok(None),
            Some(entry) => inner.read_value(entry).map(Some),
        }
    }

    fn delete(&self, key: &[u8]) -> Result<bool> {
        self.inner.delete(key, Ack::Wait)
    }

    fn write_batch(&self, batch: &WriteBatch) -> Result<()> {
        self.inner.write_batch(batch, Ack::Wait)
    }

    fn deferred_ack(&self) -> Option<&dyn DeferredAck> {
        Some(self)
    }

    fn flush(&self) -> Result<()> {
        self.inner.flush()
    }

    fn checkpoint(&self) -> Result<()> {
        PagedStore::checkpoint(self)
    }

    fn len(&self) -> Result<u64> {
        let _gate = self.inner.read_gate()?;
        Ok(self.inner.index.len())
    }

    fn for_each_key(&self, visit: &mut dyn FnMut(&[u8]) -> ControlFlow<()>) -> Result<()> {
        // The gate is not held while visiting: the visitor may use the store.
        drop(self.inner.read_gate()?);
        self.inner.index.for_each_key(visit);
        Ok(())
    }

    fn for_each_key_in_place(&self, visit: &mut dyn FnMut(&[u8]) -> ControlFlow<()>) -> Result<()> {
        drop(self.inner.read_gate()?);
        self.inner.index.for_each_key_in_place(visit);
        Ok(())
    }

    fn stats(&self) -> Stats {
        self.inner.stats()
    }

    fn close(&self) -> Result<()> {
        if let Some(checkpointer) = self.checkpointer.lock().take() {
            checkpointer.stop();
        }
        self.inner.close()
    }
}

impl DeferredAck for PagedStore {
    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.inner.put(key, value, Ack::Defer)
    }

    fn delete(&self, key: &[u8]) -> Result<bool> {
        self.inner.delete(key, Ack::Defer)
    }

    fn write_batch(&self, batch: &WriteBatch) -> Result<()> {
        self.inner.write_batch(batch, Ack::Defer)
    }

    fn visible_mark(&self) -> AckMark {
        self.inner.visible_mark()
    }

    fn is_acked(&self, mark: AckMark) -> bool {
        self.inner.is_acked(mark)
    }

    fn wait_acked(&self, mark: AckMark) -> Result<()> {
        self.inner.wait_acked(mark)
    }

    fn write_queued(&self) -> Result<bool> {
        self.inner.write_queued()
    }

    fn set_ack_listener(&self, listener: AckListener) {
        if let Some(wal) = &self.inner.wal {
            wal.set_ack_listener(Box::new(move |lsn| listener(lsn.map(|l| AckMark(l.0)))));
        }
    }
}

impl Drop for PagedStore {
    fn drop(&mut self) {
        if !self.inner.closed.load(Ordering::Acquire) {
            if let Err(e) = self.close() {
                tracing::error!(dir = %self.inner.dir.display(), error = %e, "closing the store on drop failed");
            }
        } else if let Some(checkpointer) = self.checkpointer.lock().take() {
            checkpointer.stop();
        }
    }
}
