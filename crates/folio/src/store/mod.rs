//! The native engine, "paged": the index, the buffer pool and the disk
//! manager behind [`KvStore`].
//!
//! A value lives in one slot (none for the empty value); the index maps its
//! key to the slot, the length and an xxh3-64 checksum. Writes never change a
//! slot a reader can reach: a put fills a fresh or freed slot and swaps the
//! index entry; the old slot is reclaimed when the last reader that could see
//! it unpins the index (see `index`). Reads verify the checksum.
//!
//! Every operation holds the gate shared, close holds it exclusively; a
//! write batch holds it exclusively while it swaps its entries, so no get
//! sees part of a batch.
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

pub use checkpoint::{checkpoint_file_name, load as load_checkpoint, Checkpoint};

/// Decodes and verifies the bytes of a checkpoint file read from `path`
/// (for tools and fuzzing; the store reads checkpoints with
/// [`load_checkpoint`]).
pub fn decode_checkpoint(bytes: &[u8], path: &Path) -> Result<Checkpoint> {
    checkpoint::decode(bytes, path, crate::config::KEY_BYTES_CEILING)
}

pub use superblock::{Superblock, SUPERBLOCK_FILE};

use crate::buffer::BufferPool;
use crate::config::Config;
use crate::disk::{Allocation, DiskManager, Extent, SlotAddr};
use crate::error::{Error, Result};
use crate::gate::{Gate, SharedGuard};
use crate::index::{Entry, Index, Located};
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
        self.check_writable()?;
        Ok(gate)
    }

    /// Open and not poisoned; the caller holds the gate.
    fn check_writable(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        match self.pool.poisoned() {
            Some(cause) => Err(Error::Poisoned {
                cause: cause.to_string(),
            }),
            None => Ok(()),
        }
    }

    /// Writes `value` into a new slot and returns its index value, which
    /// owns the slot: if anything fails before it is in the index, dropping
    /// it frees the slot.
    fn store_value(&self, value: &[u8]) -> Result<Located> {
        let checksum = xxh3_64(value);
        let len = u32::try_from(value.len()).expect("values are under 16 MiB");
        if value.is_empty() {
            return Ok(self.index.located(Entry {
                slot: None,
                len,
                checksum,
            }));
        }
        let alloc = self.disk.allocate(value.len())?;
        let located = self.index.located(Entry {
            slot: Some(alloc.slot),
            len,
            checksum,
        });
        self.write_slot(alloc, value)?;
        Ok(located)
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
        let extents = self.disk.extents(slot, len)?;
        if let [ext] = extents[..] {
            if ext.whole_page {
                return self.read_page_value(entry, slot, ext);
            }
        }
        let mut out = Vec::with_capacity(len);
        for ext in extents {
            let page = self.pool.fetch_page(ext.page)?;
            out.extend_from_slice(&page[ext.offset..ext.offset + ext.len]);
        }
        if xxh3_64(&out) != entry.checksum {
            return Err(self.checksum_mismatch(slot, len));
        }
        Ok(out)
    }

    /// A value that is the only one on its page (a page image): verified
    /// once after the page is loaded, not on every read. The frame keeps the
    /// checksum it was verified against until its bytes change.
    fn read_page_value(&self, entry: &Entry, slot: SlotAddr, ext: Extent) -> Result<Vec<u8>> {
        let page = self.pool.fetch_page(ext.page)?;
        let bytes = &page[ext.offset..ext.offset + ext.len];
        if page.verified_checksum() != entry.checksum || entry.checksum == 0 {
            if xxh3_64(bytes) != entry.checksum {
                return Err(self.checksum_mismatch(slot, bytes.len()));
            }
            page.mark_verified(entry.checksum);
        }
        Ok(bytes.to_vec())
    }

    fn checksum_mismatch(&self, slot: SlotAddr, len: usize) -> Error {
        let offset = self.disk.slot_offset(slot).ok();
        Error::corruption(
            self.disk.segment_path(slot.segment),
            offset,
            format!(
                "value checksum mismatch ({len} bytes in slot {})",
                slot.slot.0
            ),
        )
    }

    /// Fsyncs every segment. A failed fsync poisons the store: the kernel
    /// may have dropped the dirty pages it could not write, so retrying and
    /// carrying on could lose data silently (ATC'20, "Can Applications
    /// Recover from fsync Failures?").
    fn sync_segments(&self) -> Result<()> {
        self.disk.sync_all().inspect_err(|e| self.pool.poison(e))
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

    /// Writes every put's value into a slot. On failure the values staged
    /// so far are dropped, which frees their slots.
    fn stage_batch<'b>(&self, batch: &'b WriteBatch) -> Result<Vec<(&'b [u8], Option<Located>)>> {
        batch
            .ops()
            .iter()
            .map(|op| match op {
                BatchOp::Put { key, value } => Ok((key.as_slice(), Some(self.store_value(value)?))),
                BatchOp::Delete { key } => Ok((key.as_slice(), None)),
            })
            .collect()
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
        let located = self.store_value(value)?;
        self.index.insert(key, located);
        Ok(())
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.check_key(key)?;
        let _gate = self.read_gate()?;
        // The pin keeps the entry's slot from being reused while we copy.
        let index = self.index.pin();
        match index.get(key) {
            None => Ok(None),
            Some(entry) => self.read_value(entry).map(Some),
        }
    }

    fn delete(&self, key: &[u8]) -> Result<bool> {
        self.check_key(key)?;
        let _gate = self.write_gate()?;
        Ok(self.index.remove(key))
    }

    fn write_batch(&self, batch: &WriteBatch) -> Result<()> {
        self.check_batch(batch)?;
        let staged = {
            let _gate = self.write_gate()?;
            self.stage_batch(batch)?
        };
        // Swap every entry while no get runs: readers see all or nothing.
        let _gate = self.gate.exclusive();
        self.check_writable()?;
        for (key, value) in staged {
            match value {
                Some(located) => self.index.insert(key, located),
                None => self.index.remove(key),
            };
        }
        Ok(())
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
        // The gate is not held while visiting: the visitor may use the store.
        drop(self.read_gate()?);
        self.index.for_each_key(visit);
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
