//! The in-memory engine, "memory": a sharded hash table behind
//! [`KvStore`], made durable by the same write-ahead log as the paged
//! engine and by snapshots.
//!
//! Every key and value lives in memory (`table`); the disk holds only the
//! WAL (`wal-*.log`, the paged engine's format) and snapshots
//! (`snapshot-*.dat`, docs/FORMAT.md). Reads never touch the disk.
//!
//! # A write
//!
//! 1. the key's stripe is taken (`stripes`);
//! 2. the WAL record is appended; with `sync` this returns after the
//!    group-commit fsync that covers it (with [`DeferredAck`], at once);
//! 3. the table is updated — only now can a reader see the value;
//! 4. the stripe is released.
//!
//! # Durable state and recovery
//!
//! The durable state is the newest snapshot (every key at WAL position
//! `c`) plus the WAL after `c`. Open loads the newest snapshot, replays the
//! WAL after it, and goes on. A snapshot is written by `checkpoint`, by
//! `close`, in the background once `checkpoint_wal_bytes` were logged (or
//! `checkpoint_interval_ms` passed with writes), and — with durability
//! `none`, where there is no WAL — by `flush`; then older snapshots and the
//! WAL files before `c` are retired, so the WAL stays bounded while
//! snapshots succeed (while they fail, it grows until one does).
//!
//! # Invariants
//!
//! - For one key, table order = LSN order (the stripe is held from the
//!   LSN's issue to the table update), so replay rebuilds what readers saw.
//! - No get sees part of a batch: gets hold the `view` gate shared; a batch
//!   applies its operations holding it exclusively.
//! - A snapshot at `c` holds every write with an LSN at or below `c` (the
//!   stripes are quiesced after reading `c`), and only writes whose records
//!   are durable before the snapshot is named (the WAL is flushed after the
//!   copy): replaying the records after `c` over it gives the state at the
//!   end of the log, whatever later writes the copy caught.
//! - Without a WAL a snapshot is the state of one instant (writers hold
//!   `snapshot` shared while they update the table; the copy holds it
//!   exclusively).
//! - The directory holds a snapshot from the store's creation on: WAL files
//!   without one are corruption, never an empty store.
//! - After a failed WAL write or fsync the store refuses writes until
//!   reopened (no fsync is retried). A failed snapshot does not stop
//!   writes (the previous snapshot and the WAL are intact): it is retried
//!   (`checkpoint`).
//!
//! # Locks
//!
//! Order for writers: `ops` (shared) → stripes → `snapshot` (shared, no
//! WAL only) → `view` (exclusive, batches) → a table shard. A checkpoint
//! holds `lifecycle`, takes each stripe briefly, then `snapshot` and each
//! shard in turn; close holds `ops` exclusively, then `lifecycle` (its
//! last snapshot runs with reads going on), then `view` exclusively to
//! mark the store closed. Gets hold `view` shared, then a shard, and
//! never `lifecycle`.

mod checkpoint;
mod open;
pub mod snapshot;
mod table;
mod write;

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use parking_lot::{Mutex, RwLock};

use crate::ack::Ack;
use crate::config::Config;
use crate::counter::StripedCounter;
use crate::error::{Error, Result};
use crate::gate::{Gate, SharedGuard};
use crate::io::{DirLock, Vfs};
use crate::keylocks::KeyLocks;
use crate::kv::{AckListener, AckMark, DeferredAck, KvStore, Stats, WriteBatch};
use crate::periodic::Periodic;
use crate::wal::Wal;
use table::Table;

pub use snapshot::{SnapshotHeader, SNAPSHOT_PREFIX};

/// Registry name of this engine.
pub const ENGINE_NAME: &str = "memory";

/// The in-memory engine.
pub struct MemoryStore {
    inner: Arc<Inner>,
    checkpointer: Mutex<Option<Periodic>>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("dir", &self.inner.dir)
            .field("durability", &self.inner.config.durability)
            .finish_non_exhaustive()
    }
}

/// The store's state, shared with the background checkpointer.
struct Inner {
    dir: PathBuf,
    vfs: Arc<dyn Vfs>,
    config: Config,
    table: Table,
    /// `None` with `Durability::None`.
    wal: Option<Wal>,
    stripes: KeyLocks,
    ops: Gate,
    view: Gate,
    snapshot: RwLock<()>,
    lifecycle: Mutex<Lifecycle>,
    /// Bytes logged (or, without a WAL, written) since open.
    logged_bytes: StripedCounter,
    checkpoints: StripedCounter,
    /// The first failure after which writes are refused.
    poisoned: OnceLock<String>,
    /// The last snapshot attempt failed.
    snapshot_failed: AtomicBool,
    closed: AtomicBool,
}

/// What only a checkpoint or close changes.
#[derive(Debug)]
struct Lifecycle {
    lock: Option<Box<dyn DirLock>>,
    /// Generation of the newest snapshot on disk.
    generation: u64,
    /// Without a WAL: the LSN and first WAL file the next snapshot records.
    base_lsn: u64,
    base_wal_seq: u32,
    /// `logged_bytes` when the last checkpoint started.
    logged_at_checkpoint: u64,
    checkpoint_started: Instant,
    /// After a failed snapshot: when the background thread may try again.
    retry_at: Option<Instant>,
    /// Snapshots failed since the last one that was written.
    failures_in_a_row: u32,
}

impl MemoryStore {
    /// Opens or creates the store in `dir` on the real file system.
    pub fn open(dir: &Path, config: &Config) -> Result<Self> {
        Self::open_with_vfs(Arc::new(crate::io::FileVfs), dir, config)
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.inner.config
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

    /// Admits a write: shared hold on the ops gate, open, not poisoned.
    fn write_gate(&self) -> Result<SharedGuard<'_>> {
        let gate = self.ops.shared();
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        self.refuse_if_poisoned()?;
        Ok(gate)
    }

    fn refuse_if_poisoned(&self) -> Result<()> {
        match self.poisoned.get() {
            Some(cause) => Err(Error::Poisoned {
                cause: cause.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Records the first failure after which writes are refused.
    fn poison(&self, cause: &Error) {
        if self.poisoned.set(cause.to_string()).is_ok() {
            tracing::error!(dir = %self.dir.display(), error = %cause, "the store refuses writes until reopened");
        }
    }

    fn stats(&self) -> Stats {
        let wal = self.wal.as_ref().map(Wal::stats).unwrap_or_default();
        Stats {
            wal_records: wal.records,
            wal_bytes: wal.bytes,
            wal_fsyncs: wal.fsyncs,
            wal_rotations_unprepared: wal.rotations_unprepared,
            wal_lsn: wal.synced.0,
            checkpoints: self.checkpoints.get(),
            poisoned: self.poisoned.get().is_some()
                || self.wal.as_ref().is_some_and(Wal::has_failed),
            checkpoint_failed: self.snapshot_failed.load(Ordering::Acquire),
            ..Stats::default()
        }
    }
}

impl KvStore for MemoryStore {
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
        // the WAL is replayed as a prefix after the snapshot of one instant.
        true
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.inner.put(key, value, Ack::Wait)
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let inner = &self.inner;
        inner.config.check_key(key)?;
        let value = {
            let _gate = inner.read_gate()?;
            inner.table.get(key)
        };
        Ok(value.map(|v| v.to_vec()))
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
        let inner = &self.inner;
        let _ops = inner.write_gate()?;
        let mut life = inner.lifecycle.lock();
        inner.checkpoint(&mut life)
    }

    fn len(&self) -> Result<u64> {
        let _gate = self.inner.read_gate()?;
        Ok(self.inner.table.len())
    }

    fn for_each_key(&self, visit: &mut dyn FnMut(&[u8]) -> ControlFlow<()>) -> Result<()> {
        let table = &self.inner.table;
        for shard in 0..table.shard_count() {
            // Not held while visiting: the visitor may use the store.
            let keys = {
                let _gate = self.inner.read_gate()?;
                table.shard_keys(shard)
            };
            for key in keys {
                if visit(&key).is_break() {
                    return Ok(());
                }
            }
        }
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

impl DeferredAck for MemoryStore {
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

impl Drop for MemoryStore {
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
