//! [`Wal`]: the append side — a queue, one writer thread, group commit.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::{Condvar, Mutex, MutexGuard};

use super::log_file::LogFile;
use super::reader::Recovery;
use super::record::{encode, RecordKind, HEADER_BYTES, MAX_PAYLOAD_BYTES};
use super::spare::{self, preallocate, Spares};
use super::{wal_file_name, Lsn};
use crate::error::{Error, Result};
use crate::io::Vfs;
use crate::reuse::ReuseClock;

/// Most retired files kept for reuse; older ones are removed.
const RECYCLE_KEEP: usize = 2;

/// How long a deferred record may wait for someone to ask for it
/// ([`Wal::write_queued`], [`Wal::wait_acked`]) before the writer thread
/// writes it unasked: such a record is written within twice this.
const DEFERRED_WRITE_DELAY: Duration = Duration::from_millis(10);

/// In `Buffered` mode the writer thread syncs once this many bytes are
/// written unsynced, besides every `sync_interval_ms`, outside the tail:
/// the kernel never holds much of the log dirty, and a rotation, which
/// syncs the full file with the tail held, finds little left to sync
/// (RocksDB's `wal_bytes_per_sync` does the same). Decision 34.
const BYTES_PER_SYNC: u64 = 1024 * 1024;

/// When an append returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncMode {
    /// After the fdatasync that covers the record.
    Sync,
    /// After the write; the writer fdatasyncs every `interval`.
    Buffered {
        /// Time between fsyncs.
        interval: Duration,
    },
}

/// How a [`Wal`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalOptions {
    /// When appends return.
    pub sync: SyncMode,
    /// Size each WAL file is preallocated to; a file is full beyond it.
    pub file_bytes: u64,
    /// In `Sync` mode, have the next file written ahead by a helper thread
    /// (`spare.rs`) rather than at rotation, while the log waits. On by
    /// default; off only where every I/O must come from the log's own path
    /// (a test that crashes after each one in turn).
    pub spare_files: bool,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            sync: SyncMode::Sync,
            file_bytes: 64 << 20,
            spare_files: true,
        }
    }
}

/// Counters of a WAL.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalStats {
    /// Records appended.
    pub records: u64,
    /// `write` calls (one per group).
    pub writes: u64,
    /// fdatasync calls.
    pub fsyncs: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Highest LSN written.
    pub written: Lsn,
    /// Highest LSN made durable.
    pub synced: Lsn,
    /// Files started because the one before was full.
    pub rotations: u64,
    /// Rotations that found neither a retired file nor a spare ready and
    /// made the new file then, while the log waited (in `Sync` mode that
    /// is writing and fsyncing the whole file's zeros).
    pub rotations_unprepared: u64,
    /// Spare files prepared ahead of a rotation (`Sync` mode).
    pub spares_prepared: u64,
}

struct Pending {
    lsn: Lsn,
    kind: RecordKind,
    payload: Vec<u8>,
    /// The appender, parked until its record is acknowledged: the writer
    /// wakes exactly the appenders of the group it finished, not all.
    /// `None` for a deferred append, which nobody waits for.
    waiter: Option<std::thread::Thread>,
}

/// Who writes a record that was just queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WrittenBy {
    /// The appender itself, which holds the tail next (`Buffered`).
    Appender,
    /// Whoever waits for it first, or the writer thread once
    /// [`DEFERRED_WRITE_DELAY`] has passed.
    FirstWaiter,
    /// The appender, blocked on it, when it is queued alone and the tail
    /// is free (and still free when the appender tries it; if not, the
    /// appender wakes the writer thread:
    /// [`Shared::wake_writer_for_waiters`]); otherwise the writer thread,
    /// woken now.
    LeaderOrThread,
}

/// A record just queued.
struct Queued {
    lsn: Lsn,
    /// The appender is to write the queue itself ([`WrittenBy::LeaderOrThread`]).
    lead: bool,
}

struct State {
    queue: Vec<Pending>,
    next_lsn: Lsn,
    stats: WalStats,
    sync_requested: bool,
    /// The queue holds a record an appender is blocked on: the writer
    /// thread writes it at once.
    write_now: bool,
    /// The writer thread sleeps with no deadline: a group written by an
    /// appender in `Buffered` mode wakes it, to fsync within the interval.
    writer_idle: bool,
    /// Records in the last group written. More than one: appenders run
    /// concurrently, and a blocked appender leaves its record to the
    /// writer thread, whose wake-up gathers the group (see `enqueue`).
    last_group_records: usize,
    /// A deferred record the writer thread has promised to write, with
    /// everything queued before it, and by when, unless someone takes the
    /// queue first ([`check_deferred`]).
    deferred_deadline: Option<(Lsn, Instant)>,
    failed: Option<String>,
    closing: bool,
    /// The file the writer appends to (never ahead of where it writes).
    tail_seq: u32,
    /// Retired files (every record in them is in a checkpoint), oldest
    /// first: the next files are made from them by a rename.
    recycled: Vec<PathBuf>,
    /// Files numbered below this were retired already.
    retired_below: u32,
    /// Bytes written since the last sync began (`Buffered`).
    unsynced_bytes: u64,
}

struct Shared {
    state: Mutex<State>,
    /// The file being appended to. Whoever holds this lock is the log's
    /// one writer for as long as it holds it: the writer thread, a caller
    /// of [`Wal::write_queued`], or in `Buffered` mode an appender writing
    /// the queue itself. The queue is
    /// taken only under it, and a group acknowledged before it is
    /// released, so groups reach the file, and are acknowledged, in LSN
    /// order. Lock order: `tail` before `state` and `listener`.
    tail: Mutex<Tail>,
    /// The writer waits here for work.
    work: Condvar,
    /// `wait_durable` callers wait here.
    done: Condvar,
    /// Copies of `stats.written`, `stats.synced` and whether `failed` is
    /// set, read by parked appenders without the lock.
    written_lsn: AtomicU64,
    synced_lsn: AtomicU64,
    failed_flag: AtomicBool,
    /// The last LSN handed out (`next_lsn - 1`), read without the lock.
    issued_lsn: AtomicU64,
    options: WalOptions,
    /// Issued and durable LSNs, for the reuse of freed slots.
    clock: Arc<ReuseClock>,
    /// Told of every acknowledgement, and of the failure.
    listener: Mutex<Option<AckListener>>,
    /// The next file, prepared ahead in `Sync` mode.
    spares: Arc<Spares>,
}

/// Called by each thread that held the log to write a group (the log's
/// writer thread, an appender in `Buffered` mode, or a caller of
/// [`Wal::write_queued`]) once it has let go of it, with the highest LSN
/// acknowledged by then (as [`Wal::acked_lsn`]; unchanged when it found
/// nothing to write), or with `None` once the log has failed (no later
/// record will be acknowledged; told at once). Calls from
/// different threads may overlap and arrive out of order: keep the
/// highest. It must return quickly.
pub type AckListener = Box<dyn Fn(Option<Lsn>) + Send + Sync>;

/// An open write-ahead log.
pub struct Wal {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal").field("stats", &self.stats()).finish()
    }
}

/// The writer thread's own state: the file it appends to.
struct Tail {
    vfs: Arc<dyn Vfs>,
    dir: PathBuf,
    seq: u32,
    file: Arc<LogFile>,
    offset: u64,
    /// A spare was asked for while appending to this file.
    spare_asked: bool,
}

impl Wal {
    /// Opens the log in `dir` after `recovery` (from [`super::recover`]):
    /// seals a torn file at its cut, makes every recovered record durable,
    /// and starts a new file. Starts the writer thread.
    pub fn open(
        vfs: Arc<dyn Vfs>,
        dir: &Path,
        recovery: &Recovery,
        options: WalOptions,
    ) -> Result<Wal> {
        Self::open_with_clock(vfs, dir, recovery, options, Arc::new(ReuseClock::default()))
    }

    /// As [`Wal::open`], publishing issued and durable LSNs to `clock`.
    pub fn open_with_clock(
        vfs: Arc<dyn Vfs>,
        dir: &Path,
        recovery: &Recovery,
        options: WalOptions,
        clock: Arc<ReuseClock>,
    ) -> Result<Wal> {
        seal(&*vfs, dir, recovery)?;
        let spares = Arc::new(Spares::new(vfs.clone(), dir, options.file_bytes));
        let seq = recovery
            .files
            .last()
            .map_or(recovery.first_seq, |(seq, ..)| seq + 1);
        let mut recycled = recovery.retired.clone();
        let reuse = still_there(&*vfs, recycled.pop());
        let tail = Tail::create(vfs, dir, seq, &options, reuse)?;
        let durable = Lsn(recovery.next_lsn.0 - 1);
        clock.issue(durable.0);
        clock.make_durable(durable.0);
        let shared = Arc::new(Shared {
            tail: Mutex::new(tail),
            state: Mutex::new(State {
                queue: Vec::new(),
                next_lsn: recovery.next_lsn,
                stats: WalStats {
                    written: durable,
                    synced: durable,
                    ..WalStats::default()
                },
                sync_requested: false,
                write_now: false,
                writer_idle: false,
                last_group_records: 0,
                deferred_deadline: None,
                failed: None,
                closing: false,
                tail_seq: seq,
                recycled,
                retired_below: recovery.first_seq,
                unsynced_bytes: 0,
            }),
            work: Condvar::new(),
            done: Condvar::new(),
            written_lsn: AtomicU64::new(durable.0),
            synced_lsn: AtomicU64::new(durable.0),
            failed_flag: AtomicBool::new(false),
            issued_lsn: AtomicU64::new(durable.0),
            options,
            clock,
            listener: Mutex::new(None),
            spares,
        });
        let worker = shared.clone();
        let thread = std::thread::Builder::new()
            .name("folio-wal".into())
            .spawn(move || worker.run_guarded())
            .map_err(|e| Error::io("spawn the WAL writer for", dir, e))?;
        Ok(Wal {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Appends a record; returns its LSN once it is written (`Buffered`) or
    /// durable (`Sync`).
    ///
    /// With `Buffered` the appender writes the queue itself (its record and
    /// every one queued before it) as soon as it holds the tail: no hand-off
    /// to the writer thread and back, which cost two thread switches per
    /// append (docs/ARCHITECTURE.md, decision 24). Appenders that wait for
    /// the tail find their records written by the holder, or write the
    /// queue next: group commit without a waiting thread.
    ///
    /// With `Sync` an appender that finds the log free writes and fsyncs
    /// the queue itself, as a deferred append's waiter does (decision 32);
    /// one that finds it held hands its record to the writer thread, which
    /// writes everything queued meanwhile as the next group once the
    /// holder lets go.
    pub fn append(&self, kind: RecordKind, payload: Vec<u8>) -> Result<Lsn> {
        if self.shared.options.sync != SyncMode::Sync {
            let lsn = self.enqueue(kind, payload, None, WrittenBy::Appender)?.lsn;
            self.shared.write_queue_through(lsn)?;
            return Ok(lsn);
        }
        let queued = self.enqueue(
            kind,
            payload,
            Some(std::thread::current()),
            WrittenBy::LeaderOrThread,
        )?;
        let lsn = queued.lsn;
        let reached = self.acked_atomic();
        if queued.lead {
            match self.write_queued() {
                Ok(true) => {}
                Ok(false) => self.shared.wake_writer_for_waiters(lsn),
                // The group that failed may be a later one: a record made
                // durable by an earlier holder stays acknowledged.
                Err(_) if reached.load(Ordering::Acquire) >= lsn.0 => return Ok(lsn),
                Err(e) => return Err(e),
            }
        }
        loop {
            if reached.load(Ordering::Acquire) >= lsn.0 {
                return Ok(lsn);
            }
            if self.shared.failed_flag.load(Ordering::Acquire) {
                return Err(refuse(&self.shared.state.lock()).expect_err("the log failed"));
            }
            // Unparked by the writer once the group holding `lsn` is
            // acknowledged (or the log fails); spurious wake-ups loop.
            std::thread::park();
        }
    }

    /// Appends a record and returns its LSN at once, before the record is
    /// written. It is written, with everything queued before it, once
    /// someone asks: [`Wal::write_queued`] on the caller's thread, or
    /// [`Wal::wait_acked`] (by the writer thread at once in `Sync` mode, by
    /// the caller in `Buffered`). A record nobody asks for is written by
    /// the writer thread within twice `DEFERRED_WRITE_DELAY`. A later failure to
    /// write it poisons the log as any write failure does.
    pub fn append_deferred(&self, kind: RecordKind, payload: Vec<u8>) -> Result<Lsn> {
        Ok(self
            .enqueue(kind, payload, None, WrittenBy::FirstWaiter)?
            .lsn)
    }

    /// Writes every queued record on the calling thread, and in `Sync`
    /// mode fsyncs it, unless another thread is writing the log right now;
    /// blocks for the write and the fsync. `Ok(true)`: every record queued
    /// before the call is acknowledged. `Ok(false)`, at once: another
    /// thread holds the log. It tells the listener after it lets go, so a
    /// caller that took its view of the listener's news before this call
    /// cannot miss it. This is how a server answering many clients leads
    /// group commit from the thread that serves them, with no hand-off to
    /// the writer thread and back.
    pub fn write_queued(&self) -> Result<bool> {
        let Some(tail) = self.shared.tail.try_lock() else {
            return Ok(false);
        };
        let fsync = self.shared.options.sync == SyncMode::Sync;
        self.shared.write_group_holding(tail, fsync)?;
        Ok(true)
    }

    /// Queues a record and hands it the next LSN; `by` says who writes it.
    fn enqueue(
        &self,
        kind: RecordKind,
        payload: Vec<u8>,
        waiter: Option<std::thread::Thread>,
        by: WrittenBy,
    ) -> Result<Queued> {
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(Error::BatchTooLarge {
                what: format!("a WAL record of {} bytes", payload.len()),
                max: MAX_PAYLOAD_BYTES,
                field: "max_batch_bytes",
            });
        }
        let mut state = self.shared.state.lock();
        refuse(&state)?;
        let lsn = state.next_lsn;
        state.next_lsn = lsn.next();
        self.shared.clock.issue(lsn.0);
        self.shared.issued_lsn.store(lsn.0, Ordering::Release);
        state.queue.push(Pending {
            lsn,
            kind,
            payload,
            waiter,
        });
        let mut lead = false;
        match by {
            // Alone on a free log that one appender at a time uses: the
            // appender writes it, with no hand-off to the writer thread and
            // back. Otherwise the writer thread takes it with the records
            // queued before it and while it wakes: a leader here would
            // write a group of one as the others queue, and halve the
            // groups of concurrent appenders.
            WrittenBy::LeaderOrThread
                if state.queue.len() == 1
                    && state.last_group_records <= 1
                    && !self.shared.tail.is_locked() =>
            {
                lead = true;
            }
            WrittenBy::LeaderOrThread => {
                state.write_now = true;
                self.shared.work.notify_one();
            }
            WrittenBy::FirstWaiter if state.deferred_deadline.is_none() => {
                state.deferred_deadline = Some((lsn, Instant::now() + DEFERRED_WRITE_DELAY));
                self.shared.work.notify_one();
            }
            WrittenBy::FirstWaiter | WrittenBy::Appender => {}
        }
        Ok(Queued { lsn, lead })
    }

    /// The LSN an append waits for: durable (`Sync`) or written (`Buffered`).
    fn acked_atomic(&self) -> &AtomicU64 {
        self.shared.acked_atomic()
    }

    /// The last LSN handed out: every record appended so far is at or
    /// below it.
    pub fn issued_lsn(&self) -> Lsn {
        Lsn(self.shared.issued_lsn.load(Ordering::Acquire))
    }

    /// The highest LSN acknowledged as the mode promises: durable (`Sync`)
    /// or written (`Buffered`). Every record at or below it is too.
    pub fn acked_lsn(&self) -> Lsn {
        Lsn(self.acked_atomic().load(Ordering::Acquire))
    }

    /// Installs the listener told of every acknowledgement from now on,
    /// replacing any earlier one. If the log has failed already it is told
    /// at once.
    pub fn set_ack_listener(&self, listener: AckListener) {
        // Under the slot's lock: a failure after the check tells the new
        // listener, since the writer takes the lock after setting the flag.
        let mut slot = self.shared.listener.lock();
        if self.shared.failed_flag.load(Ordering::Acquire) {
            listener(None);
        }
        *slot = Some(listener);
    }

    /// Waits until every record up to `lsn` is acknowledged as the mode
    /// promises (what [`Wal::append`] waits for), or the log fails.
    /// A mark above the last LSN handed out waits for that one: no later
    /// record exists to wait for.
    pub fn wait_acked(&self, lsn: Lsn) -> Result<()> {
        let lsn = lsn.min(self.issued_lsn());
        if self.acked_lsn() >= lsn {
            return Ok(());
        }
        if self.shared.options.sync == SyncMode::Sync {
            return self.wait_durable(lsn);
        }
        self.shared.write_queue_through(lsn)
    }

    /// Waits until every record up to `lsn` is durable, asking the writer
    /// for an fsync now if need be (the WAL rule, and `flush`).
    pub fn wait_durable(&self, lsn: Lsn) -> Result<()> {
        let mut state = self.shared.state.lock();
        while state.stats.synced < lsn {
            if let Some(cause) = &state.failed {
                return Err(Error::Poisoned {
                    cause: cause.clone(),
                });
            }
            state.sync_requested = true;
            self.shared.work.notify_one();
            self.shared.done.wait(&mut state);
        }
        Ok(())
    }

    /// Makes every record appended so far durable.
    pub fn flush(&self) -> Result<()> {
        let last = Lsn(self.shared.state.lock().next_lsn.0 - 1);
        self.wait_durable(last)
    }

    /// The LSN the next append will get.
    pub fn next_lsn(&self) -> Lsn {
        self.shared.state.lock().next_lsn
    }

    /// Where a checkpoint taken now starts: the last LSN handed out, and a
    /// file sequence number at or below the file that will hold the next
    /// record. Files before that sequence hold only records up to the LSN.
    pub fn position(&self) -> (Lsn, u32) {
        let state = self.shared.state.lock();
        (Lsn(state.next_lsn.0 - 1), state.tail_seq)
    }

    /// Retires every file with a sequence number below `seq` (their records
    /// are all in a durable checkpoint): the newest few are kept to be
    /// reused for the next files (their blocks are allocated already, so an
    /// fdatasync does not have to write metadata), the rest removed.
    pub fn retire_before(&self, vfs: &dyn Vfs, dir: &Path, seq: u32) -> Result<()> {
        // Only files not retired before: a file retired earlier may be
        // mid-rename into a new one by the writer right now.
        let from = self.shared.state.lock().retired_below;
        if seq <= from {
            return Ok(());
        }
        let mut retired: Vec<u32> = vfs
            .list(dir)?
            .iter()
            .filter_map(|n| super::parse_wal_name(n))
            .filter(|&s| (from..seq).contains(&s))
            .collect();
        retired.sort_unstable();
        let mut state = self.shared.state.lock();
        state.retired_below = seq;
        for s in retired {
            state.recycled.push(dir.join(wal_file_name(s)));
        }
        let excess = state.recycled.len().saturating_sub(RECYCLE_KEEP);
        let removed: Vec<PathBuf> = state.recycled.drain(..excess).collect();
        drop(state);
        let mut first_error = Ok(());
        for path in removed {
            if let Err(e) = vfs.remove_file(&path) {
                tracing::warn!(error = %e, "could not remove a retired WAL file");
                if first_error.is_ok() {
                    first_error = Err(e);
                }
            }
        }
        first_error
    }

    /// True once a write or fsync of the log failed: it refuses appends
    /// until reopened.
    pub fn has_failed(&self) -> bool {
        self.shared.failed_flag.load(Ordering::Acquire)
    }

    /// The counters.
    pub fn stats(&self) -> WalStats {
        WalStats {
            spares_prepared: self.shared.spares.prepared(),
            ..self.shared.state.lock().stats
        }
    }

    /// Writes and fsyncs everything pending, then stops the writer thread.
    pub fn close(&self) -> Result<()> {
        let flushed = self.flush();
        {
            let mut state = self.shared.state.lock();
            state.closing = true;
            self.shared.work.notify_one();
        }
        if let Some(thread) = self.thread.lock().take() {
            let _ = thread.join();
        }
        self.shared.spares.close();
        flushed
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::error!(error = %e, "closing the WAL on drop failed");
        }
    }
}

fn refuse(state: &State) -> Result<()> {
    refuse_failed(state)?;
    if state.closing {
        return Err(Error::Closed);
    }
    Ok(())
}

/// `Poisoned` once the log has failed.
fn refuse_failed(state: &State) -> Result<()> {
    match &state.failed {
        Some(cause) => Err(Error::Poisoned {
            cause: cause.clone(),
        }),
        None => Ok(()),
    }
}

impl Shared {
    /// [`Shared::run`], failing the log if it panics (a bug): appenders,
    /// waiters and the listener are told, rather than left waiting forever.
    fn run_guarded(&self) {
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run()));
        if ran.is_err() {
            self.fail("the WAL writer thread panicked".to_string(), Vec::new());
        }
    }

    /// Marks the log failed, wakes everyone waiting on it (the records of
    /// `batch` and everything queued) and tells the listener.
    fn fail(&self, cause: String, batch: Vec<Pending>) {
        tracing::error!(error = %cause, "WAL write failed; the log refuses appends until reopened");
        let mut state = self.state.lock();
        state.failed.get_or_insert(cause);
        self.failed_flag.store(true, Ordering::Release);
        self.done.notify_all();
        let queued = std::mem::take(&mut state.queue);
        drop(state);
        for waiter in batch
            .iter()
            .chain(&queued)
            .filter_map(|p| p.waiter.as_ref())
        {
            waiter.unpark();
        }
        self.tell_listener(None);
    }

    /// The writer thread: wait for work, then take every waiting record,
    /// write them in one call, fsync as the mode says, acknowledge them
    /// all; repeat.
    fn run(&self) {
        let mut last_sync = Instant::now();
        while let Some(fsync) = self.next_work(&mut last_sync) {
            let buffered_sync =
                fsync && self.options.sync != SyncMode::Sync && !self.state.lock().closing;
            let done = if buffered_sync {
                self.write_group(false)
                    .and_then(|()| self.sync_outside_tail())
            } else {
                self.write_group(fsync)
            };
            if done.is_err() {
                return;
            }
        }
    }

    /// `Buffered`: fsyncs the tail's file with the tail released, so
    /// appenders go on writing meanwhile (a sync of up to a second of
    /// writes would otherwise stall them all). Every record written before
    /// the call is durable after it: earlier files were synced when the
    /// log rotated past them, and a rotation during this sync syncs this
    /// file again itself, holding the tail.
    fn sync_outside_tail(&self) -> Result<()> {
        let (file, upto) = {
            let tail = self.tail.lock();
            let mut state = self.state.lock();
            refuse_failed(&state)?;
            state.unsynced_bytes = 0;
            (Arc::clone(&tail.file), state.stats.written)
        };
        if self.synced_lsn.load(Ordering::Acquire) >= upto.0 {
            return Ok(());
        }
        if let Err(e) = file.sync_data() {
            let cause = e.to_string();
            self.fail(cause.clone(), Vec::new());
            return Err(Error::Poisoned { cause });
        }
        let mut state = self.state.lock();
        // The log failed meanwhile (another write or fsync): nothing more
        // is published as durable.
        refuse_failed(&state)?;
        state.stats.fsyncs += 1;
        if upto > state.stats.synced {
            state.stats.synced = upto;
            self.clock.make_durable(upto.0);
            self.synced_lsn.store(upto.0, Ordering::Release);
        }
        self.done.notify_all();
        Ok(())
    }

    /// Holding the tail, takes every queued record and writes it (then
    /// fsyncs if `fsync`, unless nothing is left to make durable) and
    /// acknowledges it; an `Err` once the log has failed, here or before.
    fn write_group(&self, fsync: bool) -> Result<()> {
        self.write_group_holding(self.tail.lock(), fsync)
    }

    /// [`Shared::write_group`] by the holder of `tail`. The listener is
    /// told once `tail` is let go, also when there was nothing to write:
    /// whoever failed to take it meanwhile ([`Wal::write_queued`]) hears of
    /// it, and tries again.
    fn write_group_holding(&self, mut tail: MutexGuard<'_, Tail>, fsync: bool) -> Result<()> {
        let (batch, synced, written) = {
            let mut state = self.state.lock();
            refuse_failed(&state)?;
            state.write_now = false;
            let stats = state.stats;
            (
                std::mem::take(&mut state.queue),
                stats.synced,
                stats.written,
            )
        };
        if batch.is_empty() && (!fsync || synced == written) {
            drop(tail);
            self.tell_listener(Some(self.acked()));
            return Ok(());
        }
        // A panic here (a bug) must not drop the group silently: the next
        // group's acknowledgement would cover these records too. Any
        // thread may hold the tail, not just the guarded writer thread.
        let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            tail.write_batch(&batch, synced, fsync, self)
        }))
        .unwrap_or_else(|_| {
            Err(Error::Poisoned {
                cause: "writing a WAL group panicked".to_string(),
            })
        });
        match written {
            Ok((bytes, fsyncs)) => {
                let acked = self.acknowledge(&batch, bytes, fsyncs, fsync);
                drop(tail);
                // Woken after the tail is free: a waiter that appends again
                // at once finds the log free and may lead (decision 32).
                for waiter in batch.iter().filter_map(|p| p.waiter.as_ref()) {
                    waiter.unpark();
                }
                self.tell_listener(Some(acked));
                Ok(())
            }
            Err(e) => {
                let cause = e.to_string();
                self.fail(cause.clone(), batch);
                Err(Error::Poisoned { cause })
            }
        }
    }

    /// Has the writer thread write the queue now: a blocked appender found
    /// the tail held, so its record at `lsn` waits for the group after the
    /// holder's. Unless the holder took it already: then the holder
    /// acknowledges it, and `write_now` must not be left set over an empty
    /// queue (it would have the writer thread write the next deferred
    /// record at once, taking that fsync from its waiter).
    fn wake_writer_for_waiters(&self, lsn: Lsn) {
        let mut state = self.state.lock();
        if state.queue.first().is_some_and(|p| p.lsn <= lsn) {
            state.write_now = true;
            self.work.notify_one();
        }
    }

    /// `Buffered` appends and waits: returns once the record at `lsn` is
    /// written, writing the queue itself unless the holder of
    /// the tail did. A group is acknowledged before the tail is released,
    /// so once the caller holds it, its record is written or still queued.
    fn write_queue_through(&self, lsn: Lsn) -> Result<()> {
        if self.written_lsn.load(Ordering::Acquire) >= lsn.0 {
            return Ok(());
        }
        self.write_group(false)?;
        debug_assert!(self.written_lsn.load(Ordering::Acquire) >= lsn.0);
        Ok(())
    }

    /// Waits for work for the writer thread; returns whether the group it
    /// writes is to be fsynced, or `None` when closing and nothing is left
    /// (or the log has failed).
    fn next_work(&self, last_sync: &mut Instant) -> Option<bool> {
        let mut state = self.state.lock();
        loop {
            if state.failed.is_some() {
                return None;
            }
            let now = Instant::now();
            let unsynced = state.stats.written > state.stats.synced;
            let (fsync_due, until_fsync) = match self.options.sync {
                SyncMode::Sync => (true, None),
                SyncMode::Buffered { interval } => {
                    let elapsed = now.saturating_duration_since(*last_sync);
                    (
                        elapsed >= interval
                            || state.sync_requested
                            || state.closing
                            || state.unsynced_bytes >= BYTES_PER_SYNC,
                        interval.checked_sub(elapsed).filter(|_| unsynced),
                    )
                }
            };
            if state.queue.is_empty() && !unsynced {
                // Asked for while a leader writes the records: its
                // acknowledgement wakes the asker, who asks again if need be.
                state.sync_requested = false;
            }
            let (deferred_due, until_deferred) = check_deferred(&mut state, now);
            let write = !state.queue.is_empty()
                && (state.write_now || state.sync_requested || state.closing || deferred_due);
            if write || (unsynced && fsync_due) {
                if fsync_due {
                    *last_sync = now;
                    state.sync_requested = false;
                }
                return Some(fsync_due);
            }
            if state.closing {
                return None;
            }
            match until_fsync.into_iter().chain(until_deferred).min() {
                Some(timeout) => {
                    self.work.wait_for(&mut state, timeout);
                }
                None => {
                    state.writer_idle = true;
                    self.work.wait(&mut state);
                    state.writer_idle = false;
                }
            }
        }
    }

    /// Acknowledges a group that was written (and fsynced if `fsynced`);
    /// returns the highest acknowledged LSN, for the listener. The caller
    /// unparks the group's waiters once it has let go of the tail.
    fn acknowledge(&self, batch: &[Pending], bytes: u64, fsyncs: u64, fsynced: bool) -> Lsn {
        let mut state = self.state.lock();
        if !batch.is_empty() {
            state.last_group_records = batch.len();
        }
        let stats = &mut state.stats;
        if let Some(last) = batch.last() {
            stats.written = last.lsn;
            stats.writes += 1;
        }
        stats.records += batch.len() as u64;
        stats.bytes += bytes;
        stats.fsyncs += fsyncs;
        if fsynced {
            stats.synced = stats.written;
            self.clock.make_durable(stats.synced.0);
        }
        let unsynced_before = state.unsynced_bytes;
        state.unsynced_bytes = if fsynced { 0 } else { unsynced_before + bytes };
        let stats = &state.stats;
        self.written_lsn.store(stats.written.0, Ordering::Release);
        self.synced_lsn.store(stats.synced.0, Ordering::Release);
        let acked = self.acked();
        if !fsynced && state.writer_idle {
            // Written by an appender while the writer thread sleeps with
            // no deadline: it is to fsync within the interval.
            state.writer_idle = false;
            self.work.notify_one();
        } else if unsynced_before < BYTES_PER_SYNC && state.unsynced_bytes >= BYTES_PER_SYNC {
            // The writer thread syncs outside the tail meanwhile.
            self.work.notify_one();
        }
        self.done.notify_all();
        drop(state);
        acked
    }

    /// The LSN an append waits for: durable (`Sync`) or written
    /// (`Buffered`).
    fn acked_atomic(&self) -> &AtomicU64 {
        if self.options.sync == SyncMode::Sync {
            &self.synced_lsn
        } else {
            &self.written_lsn
        }
    }

    /// The highest LSN acknowledged as the mode promises.
    fn acked(&self) -> Lsn {
        Lsn(self.acked_atomic().load(Ordering::Acquire))
    }

    /// Calls the listener; one that panics is dropped (logged), so the
    /// writer thread survives it.
    fn tell_listener(&self, acked: Option<Lsn>) {
        let mut slot = self.listener.lock();
        if let Some(listener) = &*slot {
            let told = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| listener(acked)));
            if told.is_err() {
                tracing::error!("the WAL acknowledgement listener panicked; it is removed");
                *slot = None;
            }
        }
    }
}

/// The writer thread's promise to write deferred records nobody waited
/// for: whether the ones it promised are due now (still queued at their
/// deadline), and how long until the next check. Once someone has taken
/// them, the promise moves to the oldest record still queued, or lapses
/// with an empty queue (the next deferred append makes a new one).
fn check_deferred(state: &mut State, now: Instant) -> (bool, Option<Duration>) {
    let Some((promised, deadline)) = state.deferred_deadline else {
        return (false, None);
    };
    if now < deadline {
        return (false, Some(deadline - now));
    }
    match state.queue.first().map(|p| p.lsn) {
        Some(oldest) if oldest <= promised => {
            state.deferred_deadline = None;
            (true, None)
        }
        Some(oldest) => {
            state.deferred_deadline = Some((oldest, now + DEFERRED_WRITE_DELAY));
            (false, Some(DEFERRED_WRITE_DELAY))
        }
        None => {
            state.deferred_deadline = None;
            (false, None)
        }
    }
}

/// `retired`, unless it has gone missing (then the next file is a spare or
/// a new one).
fn still_there(vfs: &dyn Vfs, retired: Option<PathBuf>) -> Option<PathBuf> {
    retired.filter(|path| vfs.exists(path).unwrap_or(false))
}

/// Truncates a torn file at its cut and makes every recovered file durable:
/// records replayed from the log must not be lost by a later crash. Removes
/// the spare files a crash left (whether or not a log is opened after).
pub fn seal(vfs: &dyn Vfs, dir: &Path, recovery: &Recovery) -> Result<()> {
    spare::remove_leftovers(vfs, dir)?;
    // Before the cut: a crash after it but before the renames would have
    // the next recovery read the torn file as whole and go on into them.
    set_aside_files_past_the_cut(vfs, dir, recovery)?;
    for (_, path, valid_bytes) in &recovery.files {
        let file = vfs.open(path, false)?;
        if recovery.torn.as_ref().is_some_and(|(p, ..)| p == path) {
            file.set_len(*valid_bytes)?;
        }
        file.sync_data()?;
    }
    Ok(())
}

/// Suffix added to the name of a WAL file found past a torn tail.
const CUT_FILE_SUFFIX: &str = ".cut";

/// After a torn tail, the WAL files numbered after the torn one are not
/// part of the log (recovery stopped at the tear; none of them vouched for
/// what it lost). They are renamed aside (`wal-….log.cut`, kept for a look
/// by hand): left in place, the next file of the log would take the number
/// of the first of them, and after another crash the others would be read
/// as if they followed it.
fn set_aside_files_past_the_cut(vfs: &dyn Vfs, dir: &Path, recovery: &Recovery) -> Result<()> {
    let (Some(_), Some(&(last, ..))) = (&recovery.torn, recovery.files.last()) else {
        return Ok(());
    };
    let mut moved = false;
    for name in vfs.list(dir)? {
        if super::parse_wal_name(&name).is_some_and(|seq| seq > last) {
            let aside = unused_aside_name(vfs, dir, &name)?;
            tracing::warn!(file = %name, aside = %aside.display(), "WAL file past a torn tail set aside");
            vfs.rename(&dir.join(&name), &aside)?;
            moved = true;
        }
    }
    if moved {
        vfs.sync_dir(dir)?;
    }
    Ok(())
}

/// `name.cut`, or `name.cut.1`, `.2`, ... when one was set aside before.
fn unused_aside_name(vfs: &dyn Vfs, dir: &Path, name: &str) -> Result<PathBuf> {
    for n in 0..=u32::MAX {
        let path = match n {
            0 => dir.join(format!("{name}{CUT_FILE_SUFFIX}")),
            n => dir.join(format!("{name}{CUT_FILE_SUFFIX}.{n}")),
        };
        if !vfs.exists(&path)? {
            return Ok(path);
        }
    }
    Err(Error::corruption(
        dir,
        None,
        format!("every name to set {name} aside is taken"),
    ))
}

impl Tail {
    /// Creates file `seq`, by renaming `reuse` (a retired file still there,
    /// see [`still_there`], or a spare prepared ahead) when given: a
    /// retired file's old records carry an older file number, so recovery
    /// reads them as the end of the log.
    ///
    /// A new file's blocks are written (zeros) up front only in `Sync`
    /// mode (by [`Spares`] ahead of need; here when no spare is ready),
    /// where every group's fdatasync would otherwise also write
    /// allocation metadata. With `Buffered` the file is sized sparse: an
    /// fsync comes once an interval, and zeroing 64 MiB under the tail
    /// stalled every appender for tens of milliseconds and doubled the
    /// bytes written (docs/ARCHITECTURE.md, decision 24).
    fn create(
        vfs: Arc<dyn Vfs>,
        dir: &Path,
        seq: u32,
        options: &WalOptions,
        reuse: Option<PathBuf>,
    ) -> Result<Tail> {
        let file_bytes = options.file_bytes;
        let path = dir.join(wal_file_name(seq));
        let file = match reuse {
            Some(old) => {
                vfs.rename(&old, &path)?;
                let file = vfs.open(&path, false)?;
                if file.size()? < file_bytes {
                    file.set_len(file_bytes)?;
                }
                file
            }
            None => {
                let file = vfs.open(&path, true)?;
                file.set_len(0)?;
                if options.sync == SyncMode::Sync {
                    preallocate(&*file, file_bytes)?;
                } else {
                    file.set_len(file_bytes)?;
                }
                file
            }
        };
        file.sync_data()?;
        vfs.sync_dir(dir)?;
        Ok(Tail {
            vfs,
            dir: dir.to_path_buf(),
            seq,
            file: Arc::new(LogFile::new(file)),
            offset: 0,
            spare_asked: false,
        })
    }

    /// Writes `batch` (rotating to a new file first if it does not fit),
    /// then fsyncs if asked; returns the bytes written and fsyncs done.
    fn write_batch(
        &mut self,
        batch: &[Pending],
        synced: Lsn,
        fsync: bool,
        shared: &Shared,
    ) -> Result<(u64, u64)> {
        let file_bytes = shared.options.file_bytes;
        let size: u64 = batch
            .iter()
            .map(|p| (HEADER_BYTES + p.payload.len()) as u64)
            .sum();
        let mut fsyncs = 0;
        let mut synced = synced;
        if !batch.is_empty() && self.offset > 0 && self.offset + size > file_bytes {
            // The full file is made durable before the next one is started,
            // so damage in a non-final file is never mistaken for a tail.
            self.file.sync_data()?;
            fsyncs += 1;
            synced = batch[0].lsn.0.checked_sub(1).map_or(synced, Lsn);
            // A retired file that has gone missing is replaced by a spare
            // or a new file.
            let reuse = shared.state.lock().recycled.pop();
            let reuse = still_there(&*self.vfs, reuse).or_else(|| shared.spares.take());
            let unprepared = reuse.is_none();
            let next_seq = self.seq.checked_add(1).ok_or_else(|| {
                Error::corruption(&self.dir, None, "WAL file number at its maximum")
            })?;
            *self = Tail::create(
                self.vfs.clone(),
                &self.dir,
                next_seq,
                &shared.options,
                reuse,
            )?;
            let mut state = shared.state.lock();
            state.tail_seq = self.seq;
            state.stats.rotations += 1;
            state.stats.rotations_unprepared += u64::from(unprepared);
        }
        let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(0) + HEADER_BYTES);
        for p in batch {
            encode(&mut buf, p.lsn, synced, self.seq, p.kind, &p.payload);
        }
        if !buf.is_empty() {
            // An all-zero header after the records, in the same write (the
            // next group overwrites it): in a recycled file the old records
            // would otherwise follow, and new records that end inside an old
            // one would read as a torn tail.
            let records = buf.len() as u64;
            buf.extend_from_slice(&[0u8; HEADER_BYTES]);
            self.file.write_all_at(&buf, self.offset)?;
            self.offset += records;
        }
        if fsync {
            self.file.sync_data()?;
            fsyncs += 1;
        }
        self.ask_for_spare(shared);
        Ok((buf.len() as u64, fsyncs))
    }

    /// Once per file, when it is half full in `Sync` mode with no retired
    /// file waiting to be reused: has the next file prepared ahead.
    fn ask_for_spare(&mut self, shared: &Shared) {
        if self.spare_asked
            || !shared.options.spare_files
            || shared.options.sync != SyncMode::Sync
            || self.offset <= shared.options.file_bytes / 2
        {
            return;
        }
        self.spare_asked = true;
        if shared.state.lock().recycled.is_empty() {
            shared.spares.prepare(self.seq);
        }
    }
}
