//! The write path: value into a slot, record into the WAL, entry into the
//! index — in that order, under the key's stripe lock (see the module
//! documentation of `store`).
//!
//! A write waits for its WAL record as the durability mode says
//! ([`Ack::Wait`]), or not at all ([`Ack::Defer`], for
//! [`crate::DeferredAck`]: the index entry is swapped while the record is
//! still queued, and the caller waits for a mark later).

use super::{Inner, Located};
use crate::ack::Ack;
use crate::error::{Error, Result};
use crate::kv::{AckMark, BatchOp, WriteBatch};
use crate::wal::{payload, RecordKind};

impl Inner {
    pub(super) fn put(&self, key: &[u8], value: &[u8], ack: Ack) -> Result<()> {
        self.config.check_put(key, value)?;
        let _ops = self.write_gate()?;
        let located = self.store_value(value)?;
        let _key = self.keys.lock(key);
        self.log(RecordKind::Put, ack, || payload::encode_put(key, value))?;
        let _snapshot = self.unlogged_swap(key);
        self.index.insert(key, located);
        self.logged_bytes
            .add(payload::record_bytes(1, key.len() + value.len()));
        Ok(())
    }

    pub(super) fn delete(&self, key: &[u8], ack: Ack) -> Result<bool> {
        self.config.check_key(key)?;
        let _ops = self.write_gate()?;
        let _key = self.keys.lock(key);
        // Under the stripe no other writer changes the key: deleting an
        // absent key logs nothing.
        if self.index.pin().get(key).is_none() {
            return Ok(false);
        }
        self.log(RecordKind::Delete, ack, || payload::encode_delete(key))?;
        self.logged_bytes.add(payload::record_bytes(1, key.len()));
        let _snapshot = self.unlogged_swap(key);
        Ok(self.index.remove(key))
    }

    pub(super) fn write_batch(&self, batch: &WriteBatch, ack: Ack) -> Result<()> {
        self.config.check_batch(batch)?;
        let _ops = self.write_gate()?;
        let staged = self.stage_batch(batch)?;
        let _keys = self.keys.lock_all(batch.ops().iter().map(BatchOp::key));
        self.log(RecordKind::Batch, ack, || payload::encode_batch(batch))?;
        self.swap_batch(staged);
        self.logged_bytes
            .add(payload::record_bytes(batch.len(), batch.payload_bytes()));
        Ok(())
    }

    /// Swaps every entry of a batch while no get runs (readers see all of
    /// it or none); a copy of the index without a WAL sees all of it or
    /// none too, as every key is recorded before the first swap.
    fn swap_batch(&self, staged: Vec<(&[u8], Option<Located>)>) {
        let _snapshot = self.snapshot.read();
        if self.wal.is_none() {
            for (key, _) in &staged {
                self.record_undo(key);
            }
        }
        let _view = self.view.exclusive();
        for (key, value) in staged {
            match value {
                Some(located) => self.index.insert(key, located),
                None => self.index.remove(key),
            };
        }
    }

    /// Without a WAL a checkpoint copies the index as of one instant
    /// (nothing replays over it): before `key`'s entry is swapped, its
    /// entry as of that instant is recorded if a copy is in progress
    /// (`undo.rs`). The caller holds `key`'s stripe, and swaps under the
    /// returned guard.
    fn unlogged_swap(&self, key: &[u8]) -> Option<parking_lot::RwLockReadGuard<'_, ()>> {
        self.wal.is_none().then(|| {
            let held = self.snapshot.read();
            self.record_undo(key);
            held
        })
    }

    /// Records `key`'s entry for the copy in progress, if there is one.
    /// The caller holds `key`'s stripe and the `snapshot` read lock.
    fn record_undo(&self, key: &[u8]) {
        if self.undo.is_active() {
            self.undo.record(key, || self.index.pin().get(key).copied());
        }
    }

    /// Appends a record when there is a WAL; returns once it is as durable
    /// as the mode promises, or at once with [`Ack::Defer`]. A WAL failure
    /// poisons the store.
    fn log(&self, kind: RecordKind, ack: Ack, payload: impl FnOnce() -> Vec<u8>) -> Result<()> {
        crate::ack::append(self.wal.as_ref(), kind, ack, payload)
            .inspect_err(|e| self.poison_on_wal_failure(e))
    }

    fn poison_on_wal_failure(&self, e: &Error) {
        if matches!(e, Error::Poisoned { .. }) {
            self.poison(e);
        }
    }

    /// A mark covering every write visible now: the last LSN handed out
    /// (a write's LSN is issued before its index entry is swapped). Without
    /// a WAL nothing is ever waited for.
    pub(super) fn visible_mark(&self) -> AckMark {
        crate::ack::visible_mark(self.wal.as_ref())
    }

    /// True when every write up to `mark` is acknowledged.
    pub(super) fn is_acked(&self, mark: AckMark) -> bool {
        crate::ack::is_acked(self.wal.as_ref(), mark)
    }

    /// Writes the queued deferred writes unless another thread is writing
    /// the log. A WAL failure poisons the store.
    pub(super) fn write_queued(&self) -> Result<bool> {
        crate::ack::write_queued(self.wal.as_ref()).inspect_err(|e| self.poison_on_wal_failure(e))
    }

    /// Waits until every write up to `mark` is acknowledged. A WAL failure
    /// poisons the store.
    pub(super) fn wait_acked(&self, mark: AckMark) -> Result<()> {
        crate::ack::wait_acked(self.wal.as_ref(), mark)
            .inspect_err(|e| self.poison_on_wal_failure(e))
    }

    /// Makes every acknowledged write durable: a WAL fsync, or without a
    /// WAL a checkpoint.
    pub(super) fn flush(&self) -> Result<()> {
        let _ops = self.write_gate()?;
        match &self.wal {
            Some(wal) => wal.flush().inspect_err(|e| self.poison(e)),
            None => {
                let mut life = self.lifecycle.lock();
                self.checkpoint(&mut life, false)
            }
        }
    }
}
