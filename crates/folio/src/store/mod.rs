//! The native engine, "paged": the index, the buffer pool and the disk
//! manager behind [`KvStore`].
//!
//! A value lives in one slot (none for the empty value); the index maps its
//! key to the slot, the length and an xxh3-64 checksum. Writes never change a
//! slot a reader can reach: a put fills a fresh or freed slot, swaps the index
//! entry under the shard write lock, then frees the old slot. Reads hold the
//! key's shard read lock while copying the value (see `index` for why that
//! makes slot reuse safe) and verify the checksum.
//!
//! Lifecycle: open marks the superblock "not clean"; close writes back every
//! dirty page, syncs the segments, writes a checkpoint (the index and the
//! segment table), then a clean superblock naming it. Until the WAL exists, a
//! store that was not closed cleanly is refused at open (`Error::Unclean`).

mod checkpoint;
mod open;
pub(crate) use open::DATA_FILE_PREFIXES;
mod superblock;

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use xxhash_rust::xxh3::xxh3_64;

pub use checkpoint::{checkpoint_file_name, Checkpoint};

/// Decodes a checkpoint file's bytes (for offline checks).
pub fn decode_checkpoint(bytes: &[u8], path: &Path) -> Result<Checkpoint> {
    checkpoint::decode(bytes, path, crate::config::KEY_BYTES_CEILING)
}
pub use superblock::{Superblock, SUPERBLOCK_FILE};

use crate::buffer::BufferPool;
use crate::config::Config;
use crate::disk::{Allocation, DiskManager};
use crate::error::{Error, Result};
use crate::gate::{Gate, SharedGuard};
use crate::index::{Entry, Index};
use crate::io::{DirLock, Vfs, VfsFile};
use crate::kv::{BatchOp, KvStore, Stats, WriteBatch};

/// Registry name of this engine.
pub const ENGINE_NAME: &str = "paged";

/// The native three-layer engine.
#[derive(Debug)]
pub struct PagedStore {
    dir: PathBuf,
    vfs: Arc<dyn Vfs>,
    config: Config,
    index: Index,
    pool: BufferPool,
    disk: Arc<DiskManager>,
    superblock_file: Arc<dyn VfsFile>,
    lifecycle: Mutex<Lifecycle>,
    /// Every operation holds it shared; close holds it exclusively.
    gate: Gate,
    closed: AtomicBool,
}

#[derive(Debug)]
struct Lifecycle {
    superblock: Superblock,
    lock: Option<Box<dyn DirLock>>,
}

impl PagedStore {
    /// Opens or creates the store in `dir` on the real file system.
    pub fn open(dir: &Path, config: &Config) -> Result<Self> {
        Self::open_with_vfs(Arc::new(crate::io::FileVfs), dir, config)
    }

    /// The buffer pool (for tests and monitoring).
    pub fn pool(&self) -> &BufferPool {
        &self.pool
    }

    /// The configuration in force (page size as found on disk).
    pub fn config(&self) -> &Config {
        &self.config
    }

    fn check_key(&self, key: &[u8]) -> Result<()> {
        if key.len() > self.config.max_key_bytes {
            return Err(Error::KeyTooLarge {
                len: key.len(),
                max: self.config.max_key_bytes,
            });
        }
        Ok(())
    }

    fn check_value(&self, value: &[u8]) -> Result<()> {
        if value.len() > self.config.max_value_bytes {
            return Err(Error::ValueTooLarge {
                len: value.len(),
                max: self.config.max_value_bytes,
            });
        }
        Ok(())
    }

    /// Admits an operation: shared hold on the gate, store open.
    fn read_gate(&self) -> Result<SharedGuard<'_>> {
        let gate = self.gate.shared();
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(gate)
    }

    /// Admits a writer: as [`Self::read_gate`], and the store not poisoned.
    fn write_gate(&self) -> Result<SharedGuard<'_>> {
        let gate = self.read_gate()?;
        if let Some(cause) = self.pool.poisoned() {
            return Err(Error::Poisoned {
                cause: cause.to_string(),
            });
        }
        Ok(gate)
    }

    /// Writes `value` into a new slot and returns its index entry.
    fn store_value(&self, value: &[u8]) -> Result<Entry> {
        let checksum = xxh3_64(value);
        let len = u32::try_from(value.len()).expect("values are under 16 MiB");
        if value.is_empty() {
            return Ok(Entry {
                slot: None,
                len,
                checksum,
            });
        }
        let alloc = self.disk.allocate(value.len())?;
        if let Err(e) = self.write_slot(alloc, value) {
            self.free_quietly(alloc.slot);
            return Err(e);
        }
        Ok(Entry {
            slot: Some(alloc.slot),
            len,
            checksum,
        })
    }

    fn write_slot(&self, alloc: Allocation, value: &[u8]) -> Result<()> {
        for ext in self.disk.extents(alloc.slot, value.len())? {
            let piece = &value[ext.value_offset..ext.value_offset + ext.len];
            // A page-class slot owns its pages whole: no need to read them.
            // A sub-page slot shares its page with others: read-modify-write.
            let mut page = if ext.whole_page {
                self.pool.new_page(ext.page)?
            } else {
                self.pool.fetch_page_mut(ext.page)?
            };
            page[ext.offset..ext.offset + ext.len].copy_from_slice(piece);
            if ext.whole_page {
                page[ext.len..].fill(0);
            }
        }
        Ok(())
    }

    /// Copies the value of `entry` out of the buffer pool and verifies it.
    fn read_value(&self, entry: &Entry) -> Result<Vec<u8>> {
        let Some(slot) = entry.slot else {
            return Ok(Vec::new());
        };
        let len = entry.len as usize;
        let mut out = Vec::with_capacity(len);
        for ext in self.disk.extents(slot, len)? {
            let page = self.pool.fetch_page(ext.page)?;
            out.extend_from_slice(&page[ext.offset..ext.offset + ext.len]);
        }
        if xxh3_64(&out) != entry.checksum {
            return Err(Error::corruption(
                self.disk.segment_path(slot.segment),
                Some(self.disk.slot_offset(slot)?),
                format!(
                    "value checksum mismatch ({len} bytes in slot {})",
                    slot.slot.0
                ),
            ));
        }
        Ok(out)
    }

    /// Fsyncs every segment. A failed fsync poisons the store: the kernel
    /// may have dropped the dirty pages it could not write, so retrying and
    /// carrying on could lose data silently (ATC'20, "Can Applications
    /// Recover from fsync Failures?").
    fn sync_segments(&self) -> Result<()> {
        self.disk.sync_all().inspect_err(|e| self.pool.poison(e))
    }

    /// Frees a slot on an error path, keeping the original error: a slot
    /// that cannot be freed is only leaked until the next open.
    fn free_quietly(&self, slot: crate::disk::SlotAddr) {
        if let Err(e) = self.disk.free(slot) {
            tracing::warn!(error = %e, ?slot, "could not free a slot after a failed write");
        }
    }

    /// Frees the slots of replaced or removed entries.
    fn release(&self, old: impl IntoIterator<Item = Entry>) -> Result<()> {
        for entry in old {
            if let Some(slot) = entry.slot {
                self.disk.free(slot)?;
            }
        }
        Ok(())
    }

    fn check_batch(&self, batch: &WriteBatch) -> Result<()> {
        if batch.len() > self.config.max_batch_ops {
            return Err(Error::BatchTooLarge {
                what: format!("{} operations", batch.len()),
                max: self.config.max_batch_ops,
                field: "max_batch_ops",
            });
        }
        let bytes = batch.payload_bytes();
        if bytes > self.config.max_batch_bytes {
            return Err(Error::BatchTooLarge {
                what: format!("{bytes} bytes of keys and values"),
                max: self.config.max_batch_bytes,
                field: "max_batch_bytes",
            });
        }
        for op in batch.ops() {
            self.check_key(op.key())?;
            if let BatchOp::Put { value, .. } = op {
                self.check_value(value)?;
            }
        }
        Ok(())
    }

    /// Writes every put's value into a slot; on failure frees what it wrote.
    fn stage_batch<'b>(&self, batch: &'b WriteBatch) -> Result<Vec<(&'b [u8], Option<Entry>)>> {
        let mut staged = Vec::with_capacity(batch.len());
        for op in batch.ops() {
            let entry = match op {
                BatchOp::Put { value, .. } => match self.store_value(value) {
                    Ok(entry) => Some(entry),
                    Err(e) => {
                        for slot in staged
                            .iter()
                            .filter_map(|(_, e): &(&[u8], Option<Entry>)| e.and_then(|e| e.slot))
                        {
                            self.free_quietly(slot);
                        }
                        return Err(e);
                    }
                },
                BatchOp::Delete { .. } => None,
            };
            staged.push((op.key(), entry));
        }
        Ok(staged)
    }
}

impl KvStore for PagedStore {
    fn engine_name(&self) -> &'static str {
        ENGINE_NAME
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.check_key(key)?;
        self.check_value(value)?;
        let _gate = self.write_gate()?;
        let entry = self.store_value(value)?;
        let old = self.index.replace(key, Some(entry));
        self.release(old)
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.check_key(key)?;
        let _gate = self.read_gate()?;
        self.index.with_entry(key, |entry| match entry {
            None => Ok(None),
            Some(entry) => self.read_value(entry).map(Some),
        })
    }

    fn delete(&self, key: &[u8]) -> Result<bool> {
        self.check_key(key)?;
        let _gate = self.write_gate()?;
        let old = self.index.replace(key, None);
        let existed = old.is_some();
        self.release(old)?;
        Ok(existed)
    }

    fn write_batch(&self, batch: &WriteBatch) -> Result<()> {
        self.check_batch(batch)?;
        let _gate = self.write_gate()?;
        let staged = self.stage_batch(batch)?;
        let mut replaced = Vec::new();
        {
            let mut set = self.index.write_set(staged.iter().map(|(k, _)| *k));
            for (key, entry) in staged {
                replaced.extend(set.replace(key, entry));
            }
        }
        self.release(replaced)
    }

    fn flush(&self) -> Result<()> {
        let _gate = self.write_gate()?;
        self.pool.flush_all()?;
        self.sync_segments()
    }

    fn len(&self) -> Result<u64> {
        let _gate = self.read_gate()?;
        Ok(self.index.len())
    }

    fn for_each_key(&self, visit: &mut dyn FnMut(&[u8]) -> ControlFlow<()>) -> Result<()> {
        for shard in 0..self.index.shard_count() {
            // The gate is held while a shard's keys are copied, not while
            // they are visited: the visitor may call back into the store.
            let keys = {
                let _gate = self.read_gate()?;
                self.index.shard_keys(shard)
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
        let pool = self.pool.stats();
        let (segments, data_file_bytes) = self.disk.usage().unwrap_or((0, 0));
        Stats {
            cache_hits: pool.hits,
            cache_misses: pool.misses,
            cache_evictions: pool.evictions,
            cache_writebacks: pool.writebacks,
            cache_frames: pool.frames,
            segments,
            data_file_bytes,
            free_slots: self.disk.free_slots(),
        }
    }

    fn close(&self) -> Result<()> {
        let _gate = self.gate.exclusive();
        if self.closed.load(Ordering::Acquire) {
            return Ok(());
        }
        // Marked closed only once everything is on disk: a failed close can
        // be retried, and until then the store stays open.
        self.shut_down()?;
        self.closed.store(true, Ordering::Release);
        Ok(())
    }
}

impl Drop for PagedStore {
    fn drop(&mut self) {
        if !self.closed.load(Ordering::Acquire) {
            if let Err(e) = self.close() {
                tracing::error!(dir = %self.dir.display(), error = %e, "closing the store on drop failed");
            }
        }
    }
}
