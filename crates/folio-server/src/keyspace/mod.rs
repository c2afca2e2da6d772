//! The key space of the string commands: values with optional expiry, kept
//! in a [`KvStore`].
//!
//! Each value is stored with a header (`envelope`) holding its deadline, so
//! a value and its expiry are one engine write and survive a restart
//! together. The deadlines are also held in memory, ordered (`expiry`), so
//! that the background sweep (`sweeper`) finds the expired keys without
//! scanning and `DBSIZE`, `KEYS` and `SCAN` skip the ones it has not
//! deleted yet. Reads check the deadline in the value itself (lazy expiry):
//! an expired key is absent for every command from its deadline on, deleted
//! or not.
//!
//! Invariants:
//! - every value in the store decodes (`envelope::decode`); opening refuses a
//!   store that holds anything else;
//! - a key over the engine's limit is absent: reads and deletes find
//!   nothing, writes fail naming the limit;
//! - for a key whose stripe lock is held, the expiry index holds exactly the
//!   deadline stored in its value: writers change the store, then the
//!   index, under the key's lock;
//! - while `clearing` is set, every stripe is held by `FLUSHDB` and the key
//!   space reads as empty: the flush takes effect, for readers and
//!   writers alike, at the instant it sets the flag;
//! - while `removals` is free, no batch removal (sweep, `FLUSHDB`) is
//!   between its store write and its index update, so the store's count
//!   less the index's expired keys is the live keys (but for single-key
//!   writes in flight, each at most one key off, and never counting an
//!   expired key).
//!
//! Concurrency: writers lock the stripes of their keys first
//! ([`Keyspace::lock`]); reads of several keys hold theirs shared
//! ([`Keyspace::lock_shared`]); reads of one key take no lock.
//!
//! Durability: the command writes (`put`, `put_pairs`, `delete`) go through
//! the store's [`folio::DeferredAck`] when it has one, so they return before
//! the fsync; the connection waits for them, once per pipeline, before it
//! replies (see `acks`). The sweep and `clear` wait for their own writes,
//! after releasing the keys' locks: a writer of one of those keys never
//! waits for their fsync.

mod envelope;
mod expiry;
mod scan;
mod sweeper;

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use folio::{Error, KvStore, WriteBatch};
use parking_lot::RwLock;

use crate::keylock::{KeyGuard, KeyLocks};

pub(crate) use envelope::Stored;
pub(crate) use expiry::is_expired;
pub(crate) use scan::{ScanPage, KEY_OVERHEAD_BYTES};
pub(crate) use sweeper::Sweeper;

type Result<T, E = Error> = std::result::Result<T, E>;

/// Keys with values and deadlines, over one engine store.
pub(crate) struct Keyspace {
    store: Arc<dyn KvStore>,
    expiries: expiry::ExpiryIndex,
    locks: KeyLocks,
    /// Seed of the hash that orders keys for `SCAN`; random per start.
    scan_seed: u64,
    /// Keys that expired and are gone since the start (`expired_keys`).
    expired: AtomicU64,
    /// Held exclusively by a batch removal from its store write to its
    /// index update, and shared by [`Keyspace::len`], which must not read
    /// the store after the removal and the index before it.
    removals: RwLock<()>,
    /// Set by `FLUSHDB` while it deletes, holding every stripe: reads find
    /// nothing, as they will once it is done.
    clearing: AtomicBool,
}

/// Unix time now, in milliseconds.
pub(crate) fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Keyspace {
    /// Opens the key space of `store`, reading every value's header to
    /// rebuild the expiry index. A value that is not in the server's
    /// format fails the open: the store was written by something else.
    pub(crate) fn open(store: Arc<dyn KvStore>) -> Result<Self> {
        let started = Instant::now();
        let keyspace = Self {
            store,
            expiries: expiry::ExpiryIndex::default(),
            locks: KeyLocks::new(),
            scan_seed: rand::random(),
            expired: AtomicU64::new(0),
            removals: RwLock::new(()),
            clearing: AtomicBool::new(false),
        };
        let mut keys = Vec::new();
        keyspace.store.for_each_key(&mut |key| {
            keys.push(key.to_vec());
            ControlFlow::Continue(())
        })?;
        for key in &keys {
            if let Some(stored) = keyspace.store.get(key)? {
                let deadline = envelope::deadline(&stored).map_err(|e| foreign(key, e))?;
                keyspace.expiries.set(key, deadline);
            }
        }
        tracing::info!(
            keys = keys.len(),
            elapsed_ms = started.elapsed().as_millis(),
            "key space opened"
        );
        Ok(keyspace)
    }

    /// The engine underneath.
    pub(crate) fn store(&self) -> &Arc<dyn KvStore> {
        &self.store
    }

    /// Locks the stripes of `keys`: every write holds the locks of the keys
    /// it writes, from its first read to its last write.
    pub(crate) fn lock<'k>(&self, keys: impl IntoIterator<Item = &'k [u8]>) -> KeyGuard<'_> {
        self.locks.lock(keys)
    }

    /// Holds the stripes of `keys` shared: a read of several keys sees
    /// every multi-key write (`MSET`, `MSETNX`, `FLUSHDB`) whole or not at
    /// all.
    pub(crate) fn lock_shared<'k>(&self, keys: impl IntoIterator<Item = &'k [u8]>) -> KeyGuard<'_> {
        self.locks.lock_shared(keys)
    }

    /// The value of `key` and its deadline; `None` when absent or expired
    /// at `now_ms`.
    pub(crate) fn get(&self, key: &[u8], now_ms: u64) -> Result<Option<Stored>> {
        self.get_at(key, || now_ms)
    }

    /// As [`Keyspace::get`] at the current time, read only when the value
    /// has a deadline (the hot path of `GET`: most values have none).
    pub(crate) fn get_now(&self, key: &[u8]) -> Result<Option<Stored>> {
        self.get_at(key, unix_now_ms)
    }

    /// The value of `key` unless absent or expired at the time `now_ms`
    /// gives, which is asked only for a value with a deadline.
    fn get_at(&self, key: &[u8], now_ms: impl FnOnce() -> u64) -> Result<Option<Stored>> {
        if self.is_clearing() {
            return Ok(None);
        }
        let Some(stored) = absent_if_too_large(self.store.get(key))? else {
            return Ok(None);
        };
        let stored = envelope::decode(stored).map_err(|e| foreign(key, e))?;
        let expired = stored.deadline_ms.is_some_and(|d| is_expired(d, now_ms()));
        Ok((!expired).then_some(stored))
    }

    /// True when `key` is present and not expired at `now_ms`.
    pub(crate) fn contains(&self, key: &[u8], now_ms: u64) -> Result<bool> {
        Ok(self.get(key, now_ms)?.is_some())
    }

    /// Sets `key` to `value` with `deadline_ms` (`None`: no expiry). The
    /// caller holds the key's lock.
    pub(crate) fn put(&self, key: &[u8], value: &[u8], deadline_ms: Option<u64>) -> Result<()> {
        self.check_value(value)?;
        let stored = envelope::encode(value, deadline_ms);
        match self.store.deferred_ack() {
            Some(deferred) => deferred.put(key, &stored),
            None => self.store.put(key, &stored),
        }?;
        let previous = self.expiries.set(key, deadline_ms);
        self.count_replaced_expired(previous, deadline_ms);
        Ok(())
    }

    /// Sets every `(key, value)` pair of `pairs` (flattened) with no expiry,
    /// atomically. The caller holds the keys' locks.
    pub(crate) fn put_pairs(&self, pairs: &[Bytes]) -> Result<()> {
        let mut batch = WriteBatch::new();
        for pair in pairs.chunks_exact(2) {
            self.check_value(&pair[1])?;
            batch.put(&pair[0][..], envelope::encode(&pair[1], None));
        }
        match self.store.deferred_ack() {
            Some(deferred) => deferred.write_batch(&batch),
            None => self.store.write_batch(&batch),
        }?;
        for pair in pairs.chunks_exact(2) {
            // A key given twice finds its old deadline only the first time.
            let previous = self.expiries.set(&pair[0], None);
            self.count_replaced_expired(previous, None);
        }
        Ok(())
    }

    /// `ValueTooLarge` for a value over the client's limit: the engine's
    /// less the largest header, so that the limit does not depend on
    /// whether the value has a deadline (an `EXPIRE` never fails for a
    /// value's size, as in Redis).
    fn check_value(&self, value: &[u8]) -> Result<()> {
        let max = self
            .store
            .max_value_bytes()
            .saturating_sub(envelope::MAX_HEADER_BYTES);
        if value.len() > max {
            return Err(Error::ValueTooLarge {
                len: value.len(),
                max,
            });
        }
        Ok(())
    }

    /// Removes `key`; true when it was present and not expired at `now_ms`.
    /// The caller holds the key's lock.
    pub(crate) fn delete(&self, key: &[u8], now_ms: u64) -> Result<bool> {
        let present = absent_if_too_large(match self.store.deferred_ack() {
            Some(deferred) => deferred.delete(key),
            None => self.store.delete(key),
        })?;
        let previous = self.expiries.set(key, None);
        let expired = previous.is_some_and(|deadline| is_expired(deadline, now_ms));
        self.count_expired(u64::from(present && expired));
        Ok(present && !expired)
    }

    /// Number of keys not expired at `now_ms`. Not a snapshot, like the
    /// engine's `len`: a single-key write in flight may be missed (see the
    /// invariants), but never an expired key counted.
    pub(crate) fn len(&self, now_ms: u64) -> Result<u64> {
        // Before the lock, so as not to wait for a flush's batch; and again
        // under it: a flush sets the flag before its first batch, which
        // waits for this lock.
        if self.is_clearing() {
            return Ok(0);
        }
        let _no_removal = self.removals.read();
        if self.is_clearing() {
            return Ok(0);
        }
        let stored = self.store.len()?;
        Ok(stored.saturating_sub(self.expiries.count_due(now_ms)))
    }

    /// Keys that expired since the key space was opened and are gone: the
    /// sweep deleted them, or a write replaced or deleted them after their
    /// deadline (Redis's `expired_keys`: every key counted once).
    pub(crate) fn expired_keys(&self) -> u64 {
        self.expired.load(Ordering::Relaxed)
    }

    /// Counts a key whose value a write replaced, when its `previous`
    /// deadline had passed and its new one, `deadline_ms`, has not: the key
    /// expired and is gone. A write that keeps a passed deadline (KEEPTTL,
    /// APPEND, INCR racing the deadline) leaves the key to the sweep, which
    /// counts it then. No clock is read for a key that had no deadline.
    fn count_replaced_expired(&self, previous: Option<u64>, deadline_ms: Option<u64>) {
        let Some(previous) = previous else {
            return;
        };
        let now_ms = unix_now_ms();
        if is_expired(previous, now_ms) && !deadline_ms.is_some_and(|d| is_expired(d, now_ms)) {
            self.count_expired(1);
        }
    }

    fn count_expired(&self, keys: u64) {
        if keys > 0 {
            self.expired.fetch_add(keys, Ordering::Relaxed);
        }
    }

    /// Keys with a deadline not reached at `now_ms`, and their mean time left
    /// in ms.
    pub(crate) fn expiry_summary(&self, now_ms: u64) -> (u64, u64) {
        if self.is_clearing() {
            return (0, 0);
        }
        self.expiries.summary(now_ms)
    }

    /// Calls `visit` for every key not expired at `now_ms`, as the engine's
    /// `for_each_key_in_place` does (keys written meanwhile may or may not
    /// be seen): `visit` must not call into the store, and should be quick
    /// (the paged engine holds its index pinned, so that it need not copy
    /// out every key first: 32 bytes a key).
    pub(crate) fn for_each_live_key(
        &self,
        now_ms: u64,
        visit: &mut dyn FnMut(&[u8]) -> ControlFlow<()>,
    ) -> Result<()> {
        self.store.for_each_key_in_place(&mut |key| {
            if self.is_clearing() || self.expiries.is_key_expired(key, now_ms) {
                ControlFlow::Continue(())
            } else {
                visit(key)
            }
        })
    }

    /// True while `FLUSHDB` runs: the key space reads as empty.
    pub(crate) fn is_clearing(&self) -> bool {
        self.clearing.load(Ordering::SeqCst)
    }

    /// Deletes up to `max_keys` keys expired at `now_ms`, earliest first, in
    /// one write batch; returns how many.
    pub(crate) fn sweep(&self, now_ms: u64, max_keys: usize) -> Result<usize> {
        let due = self.expiries.due(now_ms, max_keys);
        if due.is_empty() {
            return Ok(0);
        }
        let guard = self.lock(due.iter().map(|(key, _)| &key[..]));
        // Under the locks the index is the truth: a writer may have given a
        // key a later deadline, or none, since `due` was read.
        let victims: Vec<&[u8]> = due
            .iter()
            .filter(|(key, _)| self.expiries.is_key_expired(key, now_ms))
            .map(|(key, _)| &key[..])
            .collect();
        let mark = self.delete_keys_and_deadlines(&victims, Deleted::Expired)?;
        drop(guard);
        self.wait_durable(mark)?;
        Ok(victims.len())
    }

    /// Deletes `keys` (whose locks the caller holds) in write batches the
    /// engine accepts: one, or halves of it when the engine's own batch
    /// limits are lower. With deferred acknowledgement the deletes are
    /// visible at once and durable later: the returned mark says when
    /// ([`Keyspace::wait_durable`], after the locks are released, so
    /// writers of those keys never wait for this fsync). That is safe for
    /// the sweep and `clear`: a later write of one of the keys gets a later
    /// LSN, so its own acknowledgement covers the delete.
    ///
    /// Each batch written also clears its keys' deadlines in the expiry
    /// index, and counts them in `expired_keys` when they are
    /// [`Deleted::Expired`], so that index, store and count agree even when
    /// a later half fails.
    fn delete_keys_and_deadlines(
        &self,
        keys: &[&[u8]],
        why: Deleted,
    ) -> Result<Option<folio::AckMark>> {
        let mut batch = WriteBatch::new();
        for key in keys {
            batch.delete(*key);
        }
        let removing = self.removals.write();
        let written = match self.store.deferred_ack() {
            Some(deferred) => deferred
                .write_batch(&batch)
                .map(|()| Some(deferred.visible_mark())),
            None => self.store.write_batch(&batch).map(|()| None),
        };
        match written {
            Err(Error::BatchTooLarge { .. }) if keys.len() > 1 => {
                drop(removing);
                let (first, second) = keys.split_at(keys.len() / 2);
                self.delete_keys_and_deadlines(first, why)?;
                self.delete_keys_and_deadlines(second, why)
            }
            Ok(mark) => {
                for key in keys {
                    self.expiries.set(key, None);
                }
                drop(removing);
                if why == Deleted::Expired {
                    self.count_expired(u64::try_from(keys.len()).unwrap_or(u64::MAX));
                }
                Ok(mark)
            }
            Err(e) => Err(e),
        }
    }

    /// Waits until the deletes `mark` covers are durable.
    fn wait_durable(&self, mark: Option<folio::AckMark>) -> Result<()> {
        match (mark, self.store.deferred_ack()) {
            (Some(mark), Some(deferred)) => deferred.wait_acked(mark),
            _ => Ok(()),
        }
    }

    /// Deletes every key (`FLUSHDB`), `batch_keys` per write batch, as one
    /// step for every other client: it holds every stripe, so writes wait
    /// for it, and from its start reads find nothing. A flush that fails
    /// part way leaves the keys of its later batches, visible again.
    pub(crate) fn clear(&self, batch_keys: usize) -> Result<()> {
        let all_stripes = self.locks.lock_all();
        self.clearing.store(true, Ordering::SeqCst);
        let deleted = self.delete_everything(batch_keys);
        self.clearing.store(false, Ordering::SeqCst);
        drop(all_stripes);
        // Durable after the stripes are free: a later write of one of the
        // keys gets a later LSN, so its own acknowledgement covers this.
        self.wait_durable(deleted?)
    }

    /// Lists every key once (the engine copies its keys out anyway; a
    /// listing per batch would make a flush quadratic) and deletes them in
    /// batches; the caller holds every stripe. Returns the last batch's
    /// mark.
    fn delete_everything(&self, batch_keys: usize) -> Result<Option<folio::AckMark>> {
        let mut all = Vec::new();
        self.store.for_each_key(&mut |key| {
            all.push(key.to_vec());
            ControlFlow::Continue(())
        })?;
        let mut last = None;
        for keys in all.chunks(batch_keys.max(1)) {
            let keys: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
            last = self
                .delete_keys_and_deadlines(&keys, Deleted::Cleared)?
                .or(last);
        }
        Ok(last)
    }

    /// One page of `SCAN` from `cursor` (see `scan`).
    pub(crate) fn scan(&self, cursor: u64, count: usize, now_ms: u64) -> Result<ScanPage> {
        scan::scan(self, cursor, count, now_ms)
    }
}

/// Why a batch of keys is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Deleted {
    /// By the sweep: they expired, and count in `expired_keys`.
    Expired,
    /// By `FLUSHDB`.
    Cleared,
}

/// A key over the engine's limit cannot be stored, so reads and deletes
/// find it absent, as Redis would (only writes name the limit).
fn absent_if_too_large<T: Default>(result: Result<T>) -> Result<T> {
    match result {
        Err(Error::KeyTooLarge { .. }) => Ok(T::default()),
        other => other,
    }
}

/// The error for a stored value not in the server's format.
fn foreign(key: &[u8], err: envelope::DecodeError) -> Error {
    Error::corruption(
        "key space",
        None,
        format!("key {}: {err}", key[..key.len().min(64)].escape_ascii()),
    )
}

#[cfg(test)]
mod tests;
