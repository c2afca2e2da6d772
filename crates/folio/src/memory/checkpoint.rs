//! Snapshots of the memory engine, the background thread that takes them,
//! and close.
//!
//! A checkpoint at LSN `c`:
//!
//! 1. reads `c` (the last LSN handed out) and the WAL file that will hold
//!    the next record (`Wal::position`); without a WAL, the position the
//!    last snapshot or recovery reached;
//! 2. waits for every write at or below `c` to reach the table
//!    (`KeyLocks::quiesce`; writers are not stopped);
//! 3. writes the entries into a temporary file: with a WAL, copying the
//!    table's pointers one shard at a time as it goes (one shard's worth
//!    held, not the table's); without one, from a copy of the whole table
//!    taken holding `snapshot` exclusively, so that it is one instant;
//! 4. makes the WAL durable up to every record appended so far (the copy
//!    may hold writes after `c` not yet fsynced);
//! 5. writes the header (with the entry count), fsyncs, renames the file
//!    to `snapshot-<g>.dat`, fsyncs the directory;
//! 6. removes older snapshots and retires the WAL files before the one
//!    found in step 1.
//!
//! A failed snapshot file (a full disk) does not poison the store: the
//! previous snapshot and the WAL still hold every acknowledged write, so
//! writes go on, `Stats::checkpoint_failed` says so, and the background
//! thread tries again after [`SNAPSHOT_RETRY`] (as Redis retries a failed
//! `BGSAVE`). A failed WAL flush (step 4) poisons, as every WAL failure
//! does; so does a failed snapshot at close, which has no later attempt.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::snapshot::{self, parse_snapshot_name, SnapshotHeader};
use super::{Inner, Lifecycle};
use crate::error::{Error, Result};
use crate::io::Vfs;
use crate::periodic::Periodic;

/// How often the background thread looks at the WAL size.
const POLL: Duration = Duration::from_millis(100);

/// How long the background thread waits after a failed snapshot before it
/// tries again, whatever was logged meanwhile: Redis's
/// `CONFIG_BGSAVE_RETRY_DELAY`, doubled after each failure in a row up to
/// [`SNAPSHOT_RETRY_MAX`] (a snapshot that failed on a full disk fills it
/// again before it fails again, and other writers on that disk meet the
/// full disk meanwhile). An explicit checkpoint tries at once.
pub(super) const SNAPSHOT_RETRY: Duration = Duration::from_secs(5);

/// The longest wait between background snapshot attempts.
const SNAPSHOT_RETRY_MAX: Duration = Duration::from_secs(300);

impl Inner {
    /// Takes a snapshot. The caller holds the lifecycle mutex (one
    /// checkpoint at a time).
    pub(super) fn checkpoint(&self, life: &mut Lifecycle) -> Result<()> {
        self.refuse_if_poisoned()?;
        let (logged_before, started_before) = (life.logged_at_checkpoint, life.checkpoint_started);
        let written = self.write_snapshot(life);
        match &written {
            Ok(()) => {
                life.retry_at = None;
                life.failures_in_a_row = 0;
            }
            Err(e) => {
                // Still due, by bytes or by time: the next attempt starts
                // from the last snapshot that was written, not this one.
                life.logged_at_checkpoint = logged_before;
                life.checkpoint_started = started_before;
                let wait = SNAPSHOT_RETRY
                    .saturating_mul(1 << life.failures_in_a_row.min(6))
                    .min(SNAPSHOT_RETRY_MAX);
                life.failures_in_a_row = life.failures_in_a_row.saturating_add(1);
                life.retry_at = Some(Instant::now() + wait);
                tracing::error!(
                    dir = %self.dir.display(),
                    error = %e,
                    retry_in_s = wait.as_secs(),
                    "snapshot failed; writes go on (with a WAL, it and the previous snapshot hold them)"
                );
            }
        }
        self.snapshot_failed
            .store(written.is_err(), Ordering::Release);
        written
    }

    fn write_snapshot(&self, life: &mut Lifecycle) -> Result<()> {
        life.checkpoint_started = Instant::now();
        life.logged_at_checkpoint = self.logged_bytes.get();
        let (lsn, wal_seq) = match &self.wal {
            Some(wal) => {
                let (lsn, seq) = wal.position();
                (lsn.0, seq)
            }
            None => (life.base_lsn, life.base_wal_seq),
        };
        self.stripes.quiesce();
        let generation = next_generation(life.generation, &self.dir)?;
        let header = SnapshotHeader {
            generation,
            lsn,
            wal_seq,
            entries: 0, // counted as they are written
        };
        let vfs = &*self.vfs;
        match &self.wal {
            // Shard by shard as the file is written: one shard's pointers
            // held at a time. Writes after `c` the copy catches are
            // replayed again at open (idempotent); the WAL is made durable
            // after the last shard's copy, before the snapshot is named.
            Some(wal) => {
                let shards = (0..self.table.shard_count()).map(|i| self.table.shard_entries(i));
                snapshot::write(vfs, &self.dir, header, shards, || {
                    wal.flush().inspect_err(|e| self.poison(e))
                })?
            }
            // One instant, with writers held off while the pointers are
            // copied: with no log to replay, the snapshot is all there is.
            None => {
                let entries = {
                    let _snapshot = self.snapshot.write();
                    self.table.entries()
                };
                snapshot::write(vfs, &self.dir, header, std::iter::once(entries), || Ok(()))?
            }
        };
        life.generation = generation;
        self.checkpoints.incr();
        self.discard_before(generation, wal_seq);
        Ok(())
    }

    /// Removes snapshots older than `generation` and retires WAL files
    /// before `wal_seq`. Failures only leave files behind: logged.
    fn discard_before(&self, generation: u64, wal_seq: u32) {
        if let Err(e) = remove_snapshots_before(&*self.vfs, &self.dir, generation) {
            tracing::warn!(error = %e, "could not remove an old snapshot");
        }
        let retired = match &self.wal {
            Some(wal) => wal.retire_before(&*self.vfs, &self.dir, wal_seq),
            None => crate::wal::remove_files_before(&*self.vfs, &self.dir, wal_seq),
        };
        if let Err(e) = retired {
            tracing::warn!(error = %e, "could not retire old WAL files");
        }
    }

    /// True when the log grew past `checkpoint_wal_bytes`, or the interval
    /// passed with writes since the last checkpoint; after a failed
    /// snapshot, not before [`SNAPSHOT_RETRY`] passed.
    fn checkpoint_due(&self, life: &Lifecycle) -> bool {
        if life.retry_at.is_some_and(|at| Instant::now() < at) {
            return false;
        }
        let logged = self.logged_bytes.get() - life.logged_at_checkpoint;
        let interval = self.config.checkpoint_interval_ms;
        logged >= self.config.checkpoint_wal_bytes
            || (logged > 0
                && interval > 0
                && life.checkpoint_started.elapsed() >= Duration::from_millis(interval))
    }

    /// A snapshot, unless nothing was logged since the last one began
    /// (that one holds every write: a write counts its bytes after its
    /// table update, under its key's lock, so one not counted when the
    /// snapshot began had its LSN handed out before and was waited for).
    /// For close and for `flush` without a WAL, which would otherwise
    /// rewrite an unchanged data set.
    pub(super) fn checkpoint_if_changed(&self, life: &mut Lifecycle) -> Result<()> {
        if self.logged_bytes.get() != life.logged_at_checkpoint {
            return self.checkpoint(life);
        }
        self.refuse_if_poisoned()?;
        // The WAL files before the one the next record goes to (each open
        // starts a new one; without a WAL, those a WAL mode left) hold
        // only records the snapshot has, since any other would have
        // counted as logged: remove them as a snapshot would retire them,
        // or every open and close would leave one more.
        let tail_seq = match &self.wal {
            Some(wal) => wal.position().1,
            None => life.base_wal_seq,
        };
        if let Err(e) = crate::wal::remove_files_before(&*self.vfs, &self.dir, tail_seq) {
            tracing::warn!(error = %e, "could not remove old WAL files");
        }
        Ok(())
    }

    /// Waits for in-flight writes, takes the last snapshot (if anything
    /// changed since the one before) while reads go on, stops the WAL,
    /// releases the directory. When the snapshot fails (at close it poisons
    /// the store: no later attempt will make up for it) the WAL is still closed, which makes what it acknowledged
    /// durable, and the directory released, and the error returned: the
    /// store is closed either way, and the next open recovers from the WAL.
    /// A retried close repeats that it was not clean (`Poisoned`).
    pub(super) fn close(&self) -> Result<()> {
        let _ops = self.ops.exclusive();
        if self.closed.load(Ordering::Acquire) {
            return self.refuse_if_poisoned();
        }
        let mut life = self.lifecycle.lock();
        let snapshotted = self
            .checkpoint_if_changed(&mut life)
            .inspect_err(|e| self.poison(e));
        let wal_closed = self.wal.as_ref().map_or(Ok(()), |wal| wal.close());
        // Readers never take the lifecycle lock: waiting for them here
        // cannot deadlock.
        let _view = self.view.exclusive();
        life.lock = None;
        self.closed.store(true, Ordering::Release);
        snapshotted.and(wal_closed)
    }
}

/// Removes every snapshot file with a generation below `generation`.
pub(super) fn remove_snapshots_before(vfs: &dyn Vfs, dir: &Path, generation: u64) -> Result<()> {
    for name in vfs.list(dir)? {
        if parse_snapshot_name(&name).is_some_and(|g| g < generation) {
            vfs.remove_file(&dir.join(name))?;
        }
    }
    Ok(())
}

/// `generation + 1`, or corruption when a damaged file says `u64::MAX`.
pub(super) fn next_generation(generation: u64, dir: &Path) -> Result<u64> {
    generation
        .checked_add(1)
        .ok_or_else(|| Error::corruption(dir, None, "snapshot generation at its maximum"))
}

/// Starts the background thread that takes snapshots when due.
pub(super) fn start_checkpointer(inner: Arc<Inner>) -> Result<Periodic> {
    let dir = inner.dir.clone();
    Periodic::start("folio-mem-checkpoint", POLL, move || {
        snapshot_if_due(&inner)
    })
    .map_err(|e| Error::io("spawn the checkpoint thread for", dir, e))
}

fn snapshot_if_due(inner: &Inner) {
    if inner.closed.load(Ordering::Acquire) || inner.poisoned.get().is_some() {
        return;
    }
    let mut life = inner.lifecycle.lock();
    if inner.checkpoint_due(&life) {
        if let Err(e) = inner.checkpoint(&mut life) {
            tracing::error!(error = %e, "background snapshot failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::ErrorKind;

    use super::*;
    use crate::io::{FaultOp, FaultVfs, MemVfs};
    use crate::kv::KvStore;
    use crate::memory::MemoryStore;

    /// A failed snapshot leaves the store due (by bytes and by time), but
    /// the background thread waits 5 s, then 10 s after a second failure
    /// in a row; a snapshot that succeeds clears the wait.
    #[test]
    fn failed_snapshots_back_off_and_stay_due() {
        let faulty = FaultVfs::new(Arc::new(MemVfs::new()));
        let config = crate::Config {
            checkpoint_wal_bytes: 1,
            checkpoint_interval_ms: 0,
            ..crate::Config::default()
        };
        let store =
            MemoryStore::open_with_vfs(Arc::new(faulty.clone()), Path::new("/m"), &config).unwrap();
        store.put(b"k", b"v").unwrap();
        let inner = &store.inner;
        faulty.fail_paths_ending(FaultOp::Write, ".tmp", ErrorKind::StorageFull);
        // Held throughout: the background thread cannot take a turn.
        let mut life = inner.lifecycle.lock();
        for (failures, wait) in [(1, SNAPSHOT_RETRY), (2, SNAPSHOT_RETRY * 2)] {
            let before = Instant::now();
            assert!(inner.checkpoint(&mut life).is_err());
            assert_eq!(life.failures_in_a_row, failures);
            let retry_at = life.retry_at.expect("a retry is set");
            assert!(retry_at >= before + wait && retry_at <= Instant::now() + wait);
            assert!(!inner.checkpoint_due(&life), "not before the retry time");
            life.retry_at = Some(Instant::now());
            assert!(inner.checkpoint_due(&life), "still due once it comes");
        }
        faulty.heal();
        inner.checkpoint(&mut life).unwrap();
        assert_eq!((life.failures_in_a_row, life.retry_at), (0, None));
        drop(life);
        store.close().unwrap();
    }
}
