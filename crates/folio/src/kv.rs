//! The pluggable key-value interface every Folio backend implements.
//!
//! The five core operations mirror the C interface (`kvstore_init`, `_put`,
//! `_get`, `_delete`, `_destroy`): *init* is a backend's `open` (reached by
//! name through [`crate::open`]), *destroy* is [`KvStore::close`]; removing the
//! files is a separate call ([`crate::remove_store`]).
//!
//! Keys and values are arbitrary bytes (binary safe, empty allowed). Limits are
//! in [`Config`](crate::Config); input over a limit is refused with a typed error naming the
//! limit, and the store is unchanged.

use std::ops::ControlFlow;

use crate::error::Result;

/// One operation of a [`WriteBatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOp {
    /// Insert or overwrite `key` with `value`.
    Put {
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
    },
    /// Remove `key` if present.
    Delete {
        /// The key.
        key: Vec<u8>,
    },
}

impl BatchOp {
    /// The key this operation touches.
    pub fn key(&self) -> &[u8] {
        match self {
            BatchOp::Put { key, .. } | BatchOp::Delete { key } => key,
        }
    }
}

/// An ordered list of puts and deletes applied atomically: readers and a
/// reopened store see all of it or none of it. Later operations on the same
/// key win over earlier ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    ops: Vec<BatchOp>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a put.
    pub fn put(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> &mut Self {
        self.ops.push(BatchOp::Put {
            key: key.into(),
            value: value.into(),
        });
        self
    }

    /// Appends a delete.
    pub fn delete(&mut self, key: impl Into<Vec<u8>>) -> &mut Self {
        self.ops.push(BatchOp::Delete { key: key.into() });
        self
    }

    /// The operations in order.
    pub fn ops(&self) -> &[BatchOp] {
        &self.ops
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when the batch holds no operation.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Total key and value bytes in the batch.
    pub fn payload_bytes(&self) -> usize {
        self.ops
            .iter()
            .map(|op| match op {
                BatchOp::Put { key, value } => key.len() + value.len(),
                BatchOp::Delete { key } => key.len(),
            })
            .sum()
    }
}

/// A key-value engine. Implementations are shared between threads (`&self`
/// everywhere) and must uphold this contract:
///
/// - **Isolation**: each call is atomic with respect to the others; a `get`
///   returns exactly the bytes of some `put` of that key (never a mix), and
///   gets never see part of a `write_batch` (`len` and `for_each_key` are
///   not snapshots and may).
/// - **Limits**: a key over `max_key_bytes` or a value over `max_value_bytes`
///   is refused with [`crate::Error::KeyTooLarge`] /
///   [`crate::Error::ValueTooLarge`] and changes nothing.
/// - **Integrity**: bytes read back from disk are verified; a mismatch is
///   [`crate::Error::Corruption`], never wrong bytes.
/// - **Durability**: what `flush` or `close` returned `Ok` for survives a
///   reopen and a crash. A write that returned `Ok` survives a crash as the
///   backend's durability mode promises ([`crate::Durability`]: with `Sync`,
///   always). After a crash a write is either wholly present or wholly
///   absent, a batch included.
/// - **After `close`**: every call returns [`crate::Error::Closed`].
pub trait KvStore: Send + Sync {
    /// The registry name of this backend (`"paged"`, `"memory"`, ...).
    fn engine_name(&self) -> &'static str;

    /// Inserts or overwrites `key`.
    fn put(&self, key: &[u8], value: &[u8]) -> Result<()>;

    /// Returns the value of `key`, or `None` when absent.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Removes `key`; returns whether it was present.
    fn delete(&self, key: &[u8]) -> Result<bool>;

    /// Applies every operation of `batch` atomically, in order.
    fn write_batch(&self, batch: &WriteBatch) -> Result<()>;

    /// The longest value a put accepts (the store's `max_value_bytes`). A
    /// caller that stores values inside a header of its own can state its
    /// limit net of the header, the same for every value.
    fn max_value_bytes(&self) -> usize;

    /// When this store acknowledges a write ([`crate::Durability`]). Callers
    /// use it to tell whether a write may wait for an fsync (`Sync`) and so
    /// belongs off an async runtime's worker threads. The default, `Sync`,
    /// is the conservative answer for a backend that does not say.
    fn durability(&self) -> crate::Durability {
        crate::Durability::Sync
    }

    /// True when a crash keeps the store's acknowledged writes in order: if
    /// a write survives, every write acknowledged before it does too (a log
    /// replayed as a prefix, or a snapshot of one instant). Callers that
    /// rely on it (the page store's vacuum, which deletes each page's old
    /// versions oldest first over several batches) flush between batches
    /// when it is false, the default for a backend that does not say.
    fn keeps_write_order(&self) -> bool {
        false
    }

    /// The store's writes with deferred acknowledgement, when it has them
    /// ([`DeferredAck`]); `None` (the default) when every write waits for
    /// its own acknowledgement.
    fn deferred_ack(&self) -> Option<&dyn DeferredAck> {
        None
    }

    /// Durability barrier: when this returns `Ok`, every write that returned
    /// before the call survives a reopen and a crash.
    fn flush(&self) -> Result<()>;

    /// Makes the store's on-disk image current, so that reopening replays
    /// little or nothing (`SAVE`). Implies [`KvStore::flush`]; backends
    /// without a separate checkpoint just flush.
    fn checkpoint(&self) -> Result<()> {
        self.flush()
    }

    /// Number of keys present. Not a snapshot: with concurrent writers it
    /// may count part of a batch.
    fn len(&self) -> Result<u64>;

    /// True when the store holds no key.
    fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Calls `visit` once for every key, in no particular order, until it
    /// returns `Break`. Keys written or deleted concurrently may or may not be
    /// seen (part of a concurrent batch may be seen), and a key deleted and
    /// written again meanwhile may be seen twice; every key present for the
    /// whole call is seen exactly once. The visitor may call back into
    /// the store.
    fn for_each_key(&self, visit: &mut dyn FnMut(&[u8]) -> ControlFlow<()>) -> Result<()>;

    /// As [`KvStore::for_each_key`], with the same guarantees, for a
    /// visitor that never calls into the store and returns quickly: the
    /// engine may then visit its keys where they are, holding its index
    /// (or part of it) throughout, instead of copying the key set out
    /// first. For passes that only look at keys, such as a `SCAN` page
    /// picked by hash. The default calls `for_each_key`.
    fn for_each_key_in_place(&self, visit: &mut dyn FnMut(&[u8]) -> ControlFlow<()>) -> Result<()> {
        self.for_each_key(visit)
    }

    /// Counters for monitoring (buffer pool, disk).
    fn stats(&self) -> Stats;

    /// The *destroy* operation: makes everything durable, closes the store and
    /// releases its files and memory. Later calls on other handles to the
    /// same store (through an `Arc`) return [`crate::Error::Closed`]. A
    /// close that fails reports the failure and closes all the same (the
    /// store's own engines release its directory, and the next open
    /// recovers what was acknowledged).
    fn close(&self) -> Result<()>;
}

/// Monitoring counters; backends fill in what they have and leave zeros.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Buffer-pool page hits.
    pub cache_hits: u64,
    /// Buffer-pool page misses (a page read from disk).
    pub cache_misses: u64,
    /// Pages evicted from the buffer pool.
    pub cache_evictions: u64,
    /// Dirty pages written back to disk.
    pub cache_writebacks: u64,
    /// Frames in the buffer pool.
    pub cache_frames: u64,
    /// Frames of the buffer pool that hold memory: frames are allocated
    /// the first time they hold a page.
    pub cache_allocated_frames: u64,
    /// Segment files.
    pub segments: u64,
    /// Bytes of all data files on disk.
    pub data_file_bytes: u64,
    /// Freed slots: on the free lists, or waiting for the write that freed
    /// them to be durable.
    pub free_slots: u64,
    /// WAL records appended since open.
    pub wal_records: u64,
    /// WAL bytes written since open.
    pub wal_bytes: u64,
    /// WAL fsyncs since open.
    pub wal_fsyncs: u64,
    /// WAL files started since open with no file prepared for them (no
    /// retired file to reuse, no spare ready): in `sync` mode every write
    /// waited while the new file was written full of zeros.
    pub wal_rotations_unprepared: u64,
    /// Highest durable LSN.
    pub wal_lsn: u64,
    /// Checkpoints taken since open.
    pub checkpoints: u64,
    /// The store refuses writes until it is reopened: an earlier write,
    /// fsync or checkpoint failed (`Error::Poisoned`).
    pub poisoned: bool,
    /// The last checkpoint failed, yet the store takes writes, and a later
    /// checkpoint is tried (the memory engine: with a WAL, the WAL and the
    /// previous snapshot keep every acknowledged write durable; without
    /// one, nothing since the previous snapshot is durable until one
    /// succeeds). Engines whose failed checkpoint poisons them report
    /// `poisoned` instead.
    pub checkpoint_failed: bool,
}

/// A position in a store's write order ([`DeferredAck`]): a mark taken at
/// some instant covers every write visible to readers at that instant.
/// Marks compare in write order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AckMark(pub u64);

/// Writes acknowledged in groups, across calls: group commit for a caller
/// that applies many writes and answers for all of them at once (a server
/// answering a pipeline of commands waits for one fsync, not one each).
///
/// Contract, on top of [`KvStore`]'s (limits, isolation, atomicity, errors
/// are the same):
///
/// - `put`, `delete` and `write_batch` return once the write is visible to
///   every reader, possibly before it is as durable as the store's
///   [`crate::Durability`] promises. A crash may take it away until it is
///   acknowledged.
/// - A write is acknowledged once `is_acked(m)` holds for a mark `m` taken
///   (by [`DeferredAck::visible_mark`]) after the write returned.
///   Acknowledgement is in mark order: `is_acked(m)` implies `is_acked(n)`
///   for every `n <= m`.
/// - Readers see unacknowledged writes, also other callers'. A caller that
///   must never show a value a crash could take back takes a mark after its
///   reads too, and waits for it before answering.
/// - A listener (`set_ack_listener`) is told of acknowledgements as they
///   happen, so that a caller can wait without blocking a thread.
/// - Queued writes are written by the first caller to wait for them
///   (`wait_acked`, `write_queued`), or by the store itself within a few
///   milliseconds when nobody does (a write whose caller never waits).
/// - Deferred writes queue without bound: the caller limits how much it
///   writes before it waits (the server: one connection's input buffer).
/// - `wait_acked(m)` returns `Ok` once `m` is acknowledged, or the error
///   that makes that impossible (the store is poisoned: writes of the
///   group may be lost, and the caller must not report them done).
pub trait DeferredAck: Send + Sync {
    /// As [`KvStore::put`], acknowledged later.
    fn put(&self, key: &[u8], value: &[u8]) -> Result<()>;

    /// As [`KvStore::delete`], acknowledged later.
    fn delete(&self, key: &[u8]) -> Result<bool>;

    /// As [`KvStore::write_batch`], acknowledged later.
    fn write_batch(&self, batch: &WriteBatch) -> Result<()>;

    /// A mark covering every write visible now. Cheap (an atomic load).
    fn visible_mark(&self) -> AckMark;

    /// True when every write up to `mark` is acknowledged. Cheap.
    fn is_acked(&self, mark: AckMark) -> bool;

    /// Blocks until every write up to `mark` is acknowledged, having the
    /// queued writes written at once if need be.
    fn wait_acked(&self, mark: AckMark) -> Result<()>;

    /// Writes (and, as the store's durability says, fsyncs) every queued
    /// write on the calling thread, blocking for it, unless another thread
    /// is writing them right now. `Ok(true)`: every write visible before
    /// the call is acknowledged. `Ok(false)`, at once: the other thread
    /// tells the listener when it is done, so a caller that noted what the
    /// listener last said before this call, and then waits for news, does
    /// not miss it. An async caller leads group commit this way from the
    /// thread that answers its clients, with no hand-off to another thread
    /// and back. Errors as `wait_acked`.
    fn write_queued(&self) -> Result<bool>;

    /// Installs `listener`, called with the highest acknowledged mark each
    /// time a thread is done writing queued writes (also when it found
    /// none, and the mark is unchanged), or with `None` once none will be (the
    /// store failed: `wait_acked` says why). It runs on the thread that
    /// wrote the acknowledged group (the store's log writer, or another
    /// caller's write): it must return quickly and must not call the store.
    /// Calls from different threads may overlap and arrive out of order:
    /// the highest mark told is the one that counts. It lets
    /// an async caller await marks without a thread blocked in
    /// `wait_acked`. A store whose marks are always acknowledged may never
    /// call it.
    fn set_ack_listener(&self, listener: AckListener);
}

/// See [`DeferredAck::set_ack_listener`].
pub type AckListener = Box<dyn Fn(Option<AckMark>) + Send + Sync>;
