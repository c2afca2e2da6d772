//! Checkpoints: the whole index and the segment table, written while
//! readers and writers go on; the background thread that takes them by WAL
//! size and by time; and close.
//!
//! A checkpoint at LSN `c`:
//!
//! 1. reads `c` (the last LSN handed out) and the WAL file that will hold
//!    the next record; without a WAL, opens a new reuse epoch instead;
//! 2. waits for every write at or below `c` to reach the index
//!    (`KeyLocks::quiesce`: microseconds, writers are not stopped);
//! 3. copies the index (lock-free; writers go on — a write after `c` that
//!    the copy happens to include is replayed again at recovery, which is
//!    harmless: replay sets keys, it does not add to them; a key removed and
//!    inserted again during the copy can be met twice, and only its last
//!    entry is kept), then the segment table. Without a WAL the copy must be one instant's state (nothing
//!    replays over it): at that instant, under the `snapshot` lock, every
//!    slot handed out so far is marked as one the copy may name
//!    (`DiskManager::begin_copy`) and the undo log starts; writers go on,
//!    each key's first change recording its entry as of the instant, and
//!    the copy takes those entries for the keys that changed (`undo.rs`);
//! 4. makes the WAL durable up to every record appended so far (the copy
//!    may hold writes after `c`, and with `buffered` they may not be fsynced
//!    yet), writes back every dirty page and fsyncs the segments, so every
//!    slot the copy names is on disk;
//! 5. writes the checkpoint file (temporary file, fsync, rename, directory
//!    fsync), then the superblock naming it;
//! 6. removes the previous checkpoint and retires the WAL files before the
//!    one found in step 1.
//!
//! With a WAL, writers wait only in step 2, for at most one in-flight write
//! per key stripe; without one, their index swaps wait only while step 3
//! starts and ends its undo log.
//! Readers never wait. Any failure poisons the store: the previous
//! checkpoint and the WAL are intact, so reopening recovers.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::checkpoint::{self, checkpoint_file_name, CheckpointHeader, EntrySink};
use super::superblock::{Superblock, SUPERBLOCK_FILE};
use super::{Inner, Lifecycle};
use crate::error::{Error, Result};
use crate::io::write_file_atomic;
use crate::periodic::Periodic;

/// How often the background thread looks at the WAL size.
const POLL: Duration = Duration::from_millis(100);
/// Without a WAL, freed slots the last checkpoint named are reused only
/// after the next one: one is taken once more slots wait than there are
/// keys (deletes after a checkpoint), and at least this many wait.
const MIN_WAITING_SLOTS: u64 = 65_536;

impl Inner {
    /// Takes a checkpoint; with `clean`, marks the store closed cleanly.
    /// The caller holds the lifecycle mutex (one checkpoint at a time).
    pub(super) fn checkpoint(&self, life: &mut Lifecycle, clean: bool) -> Result<()> {
        self.refuse_if_poisoned()?;
        self.write_checkpoint(life, clean)
            .inspect_err(|e| self.poison(e))
    }

    fn write_checkpoint(&self, life: &mut Lifecycle, clean: bool) -> Result<()> {
        life.checkpoint_started = Instant::now();
        life.logged_at_checkpoint = self.logged_bytes.get();
        let (lsn, wal_seq, epoch) = match &self.wal {
            Some(wal) => {
                let (lsn, seq) = wal.position();
                (lsn.0, seq, None)
            }
            None => {
                // Slots freed from now on may be named by this checkpoint:
                // they wait for the next one.
                let epoch = self.clock.stamp();
                self.clock.issue(epoch + 1);
                (life.base_lsn, life.base_wal_seq, Some(epoch))
            }
        };
        self.keys.quiesce();
        let sb_path = self.dir.join(SUPERBLOCK_FILE);
        let previous = life.superblock.checkpoint;
        let generation = next_generation(previous, &sb_path)?;
        let header = CheckpointHeader {
            page_bytes: u32::try_from(self.config.page_bytes).expect("page size fits u32"),
            generation,
            lsn,
            wal_seq,
        };
        let bytes = checkpoint::encode(
            header,
            |sink| match &self.wal {
                Some(_) => {
                    self.index.for_each_entry(|k, e| sink.push(k, e));
                    let repeats = sink.keep_last_of_each_key();
                    if repeats > 0 {
                        tracing::debug!(
                            repeats,
                            "checkpoint copy met keys twice; kept their newest entries"
                        );
                    }
                }
                None => self.copy_index_at_one_instant(sink),
            },
            || self.disk.segment_metas(),
        );
        let copied = life.checkpoint_started.elapsed();
        // Every write the copy saw was appended to the WAL before it was
        // swapped into the index: make all of them durable, so the copy
        // never holds a write (or part of a batch) the log could lose —
        // with `buffered`, swaps run ahead of the fsync.
        if let Some(wal) = &self.wal {
            wal.flush()?;
        }
        self.pool.flush_all()?;
        self.disk.sync_all()?;
        // A write-back by a racing miss may have failed after the flush:
        // never name pages that may not be on disk.
        self.refuse_if_poisoned()?;
        let flushed = life.checkpoint_started.elapsed();
        write_file_atomic(
            &*self.vfs,
            &self.dir.join(checkpoint_file_name(generation)),
            &bytes,
        )?;
        let superblock = Superblock {
            generation: next_generation(life.superblock.generation, &sb_path)?,
            checkpoint: generation,
            clean,
            ..life.superblock
        };
        superblock.write(&*self.superblock_file)?;
        life.superblock = superblock;
        self.checkpoints.incr();
        if let Some(epoch) = epoch {
            self.clock.make_durable(epoch);
        }
        self.discard_before(previous, wal_seq);
        tracing::debug!(
            generation,
            keys = self.index.len(),
            file_bytes = bytes.len(),
            copy_ms = copied.as_millis(),
            flush_ms = (flushed - copied).as_millis(),
            write_ms = (life.checkpoint_started.elapsed() - flushed).as_millis(),
            "checkpoint taken"
        );
        Ok(())
    }

    /// Without a WAL: pushes the index as of one instant, copied while
    /// writers go on (`undo.rs`). Index swaps wait only for the two short
    /// holds of the `snapshot` lock, at the instant and at the end.
    fn copy_index_at_one_instant(&self, sink: &mut EntrySink) {
        {
            let _instant = self.snapshot.write();
            // Slots handed out so far may be named by the copy.
            self.disk.begin_copy();
            self.undo.begin();
        }
        // Ends the undo log when dropped: after the pass below, or if the
        // pass unwinds (a bug), so writers never go on recording.
        let recording = EndUndoOnDrop(self);
        self.index.for_each_entry(|key, e| {
            if !self.undo.is_changed(key) {
                sink.push(key, e);
            }
        });
        drop(recording);
        let changed = self.undo.take();
        if changed.is_empty() {
            return;
        }
        // A key taken unchanged and changed after it was read is in the
        // copy already, with the entry its undo holds.
        let taken: HashSet<Box<[u8]>> = sink
            .pushed_among(|key| changed.contains_key(key))
            .into_iter()
            .collect();
        for (key, at_instant) in &changed {
            if let Some(e) = at_instant {
                if !taken.contains(key) {
                    sink.push(key, e);
                }
            }
        }
    }
}

/// Ends the undo log of a copy, under the `snapshot` lock, when dropped.
struct EndUndoOnDrop<'a>(&'a Inner);

impl Drop for EndUndoOnDrop<'_> {
    fn drop(&mut self) {
        let _end = self.0.snapshot.write();
        self.0.undo.end();
    }
}

impl Inner {
    /// Removes the checkpoint `previous` and retires WAL files before
    /// `wal_seq`. Failures only leave files behind: logged, not returned.
    fn discard_before(&self, previous: u64, wal_seq: u32) {
        if previous != 0 {
            let old = self.dir.join(checkpoint_file_name(previous));
            if let Err(e) = self.vfs.remove_file(&old) {
                tracing::warn!(error = %e, "could not remove an old checkpoint");
            }
        }
        let retired = match &self.wal {
            Some(wal) => wal.retire_before(&*self.vfs, &self.dir, wal_seq),
            None => crate::wal::remove_files_before(&*self.vfs, &self.dir, wal_seq),
        };
        if let Err(e) = retired {
            tracing::warn!(error = %e, "could not retire old WAL files");
        }
    }

    pub(super) fn refuse_if_poisoned(&self) -> Result<()> {
        match self.pool.poisoned() {
            Some(cause) => Err(Error::Poisoned {
                cause: cause.to_string(),
            }),
            None => Ok(()),
        }
    }

    /// True when the WAL grew past `checkpoint_wal_bytes`, or the interval
    /// passed with writes since the last checkpoint, or (without a WAL)
    /// the slots waiting for a checkpoint outnumber the keys. Without a
    /// WAL there is no log to bound: the bytes written set off no
    /// checkpoint (each copies the whole index and writes back every dirty
    /// page, which cost a `none` server a fifth of its pipelined SETs: see
    /// docs/ARCHITECTURE.md, decision 35).
    fn checkpoint_due(&self, life: &Lifecycle) -> bool {
        let logged = self.logged_bytes.get() - life.logged_at_checkpoint;
        let interval = self.config.checkpoint_interval_ms;
        (self.wal.is_some() && logged >= self.config.checkpoint_wal_bytes)
            || (logged > 0
                && interval > 0
                && life.checkpoint_started.elapsed() >= Duration::from_millis(interval))
            || (self.wal.is_none() && self.too_many_waiting_slots())
    }

    /// Without a WAL, freeing a slot the last checkpoint named leaves it
    /// waiting for the next checkpoint (slots no checkpoint named are
    /// reused at once); left alone until `checkpoint_wal_bytes`, the slots
    /// of deleted keys would keep the data files (and the pages cached) at
    /// their old size.
    fn too_many_waiting_slots(&self) -> bool {
        let waiting = self.disk.waiting_slots();
        waiting >= MIN_WAITING_SLOTS && waiting > self.index.len()
    }

    /// Waits for in-flight writes and readers, takes the last checkpoint,
    /// marks the superblock clean, stops the WAL, releases the directory.
    /// When the checkpoint fails (it poisons the store) the WAL is still
    /// closed, which makes what it acknowledged durable, and the directory
    /// released, and the error returned: the store is closed either way,
    /// and the next open recovers from the WAL. A retried close repeats
    /// that it was not clean (`Poisoned`).
    pub(super) fn close(&self) -> Result<()> {
        let _ops = self.ops.exclusive();
        let _view = self.view.exclusive();
        if self.closed.load(std::sync::atomic::Ordering::Acquire) {
            return self.refuse_if_poisoned();
        }
        let mut life = self.lifecycle.lock();
        let checkpointed = self.checkpoint(&mut life, true);
        let wal_closed = self.wal.as_ref().map_or(Ok(()), |wal| wal.close());
        life.lock = None;
        self.closed
            .store(true, std::sync::atomic::Ordering::Release);
        checkpointed.and(wal_closed)
    }
}

/// `generation + 1`, or corruption when a damaged file says `u64::MAX`.
pub(super) fn next_generation(generation: u64, path: &Path) -> Result<u64> {
    generation
        .checked_add(1)
        .ok_or_else(|| Error::corruption(path, None, "generation counter at its maximum"))
}

/// Starts the background thread that takes checkpoints when due.
pub(super) fn start_checkpointer(inner: Arc<Inner>) -> Result<Periodic> {
    let dir = inner.dir.clone();
    Periodic::start("folio-checkpoint", POLL, move || checkpoint_if_due(&inner))
        .map_err(|e| Error::io("spawn the checkpoint thread for", dir, e))
}

fn checkpoint_if_due(inner: &Inner) {
    if inner.closed.load(std::sync::atomic::Ordering::Acquire) || inner.pool.poisoned().is_some() {
        return;
    }
    let mut life = inner.lifecycle.lock();
    if inner.checkpoint_due(&life) {
        if let Err(e) = inner.checkpoint(&mut life, false) {
            tracing::error!(error = %e, "background checkpoint failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::path::Path;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use xxhash_rust::xxh3::xxh3_64;

    use super::super::{load_checkpoint, PagedStore, Superblock, SUPERBLOCK_FILE};
    use crate::index::Entry;
    use crate::io::{MemVfs, Vfs};
    use crate::{Config, Durability, KvStore};

    /// papaya's iterator can meet a key twice when the key is removed and
    /// inserted again while it walks (the key lands further along its probe
    /// sequence). Every checkpoint taken under such churn must still name
    /// each key once, or the store would refuse to open after a crash.
    #[test]
    fn a_copy_under_remove_and_reinsert_names_each_key_once() {
        const KEYS: u32 = 20_000;
        let mem = MemVfs::new();
        let dir = Path::new("/s");
        let config = Config {
            durability: Durability::Buffered,
            checkpoint_interval_ms: 0,
            checkpoint_wal_bytes: u64::MAX,
            ..Config::default()
        };
        let store = PagedStore::open_with_vfs(Arc::new(mem.clone()), dir, &config).unwrap();
        for i in 0..KEYS {
            store.put(&i.to_be_bytes(), b"").unwrap();
        }
        // The churn swaps each key's entry for an identical one (an empty
        // value has no slot): the contents never change, only where the
        // keys sit in the table.
        let stop = Arc::new(AtomicBool::new(false));
        let churn = {
            let inner = store.inner.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let empty = Entry {
                    slot: None,
                    len: 0,
                    checksum: xxh3_64(b""),
                };
                let mut x = 7u32;
                while !stop.load(Ordering::Relaxed) {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    let key = ((x >> 8) % KEYS).to_be_bytes();
                    inner.index.remove(&key);
                    inner.index.insert(&key, inner.index.located(empty));
                }
            })
        };
        for round in 0..20 {
            store.checkpoint().unwrap();
            let sb =
                Superblock::read(&*mem.open(&dir.join(SUPERBLOCK_FILE), false).unwrap()).unwrap();
            let cp = load_checkpoint(&mem, dir, &sb).unwrap();
            let mut seen = HashSet::new();
            for (key, _) in &cp.entries {
                assert!(seen.insert(key.clone()), "round {round}: a key named twice");
            }
        }
        stop.store(true, Ordering::Relaxed);
        churn.join().unwrap();
        store.close().unwrap();
        drop(store);
        let store = PagedStore::open_with_vfs(Arc::new(mem), dir, &config).unwrap();
        assert_eq!(store.len().unwrap(), u64::from(KEYS));
        store.close().unwrap();
    }
}
