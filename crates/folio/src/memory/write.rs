//! The write path: limits, then the WAL record, then the table — under the
//! key's stripe (see the module documentation of `memory`).
//!
//! A write waits for its WAL record as the durability mode says
//! ([`Ack::Wait`]), or not at all ([`Ack::Defer`], for
//! [`crate::DeferredAck`]: the table is updated while the record is still
//! queued, and the caller waits for a mark later).

use std::sync::Arc;

use super::table::Bytes;
use super::Inner;
use crate::ack::Ack;
use crate::error::{Error, Result};
use crate::kv::{AckMark, BatchOp, WriteBatch};
use crate::wal::{payload, RecordKind};

impl Inner {
    pub(super) fn put(&self, key: &[u8], value: &[u8], ack: Ack) -> Result<()> {
        self.config.check_put(key, value)?;
        let _ops = self.write_gate()?;
        let logged = payload::record_bytes(1, key.len() + value.len());
        let value: Bytes = Arc::from(value);
        let _key = self.stripes.lock(key);
        self.log(RecordKind::Put, ack, || payload::encode_put(key, &value))?;
        let _snapshot = self.unlogged_update();
        self.table.insert(key, value);
        self.logged_bytes.add(logged);
        Ok(())
    }

    pub(super) fn delete(&self, key: &[u8], ack: Ack) -> Result<bool> {
        self.config.check_key(key)?;
        let _ops = self.write_gate()?;
        let _key = self.stripes.lock(key);
        // Under the stripe no other writer changes the key: deleting an
        // absent key logs nothing.
        if !self.table.contains(key) {
            return Ok(false);
        }
        self.log(RecordKind::Delete, ack, || payload::encode_delete(key))?;
        let _snapshot = self.unlogged_update();
        let removed = self.table.remove(key);
        debug_assert!(removed, "a key present under its stripe vanished");
        self.logged_bytes.add(payload::record_bytes(1, key.len()));
        Ok(removed)
    }

    pub(super) fn write_batch(&self, batch: &WriteBatch, ack: Ack) -> Result<()> {
        self.config.check_batch(batch)?;
        let _ops = self.write_gate()?;
        if batch.is_empty() {
            return Ok(());
        }
        let staged: Vec<(&[u8], Option<Bytes>)> = batch
            .ops()
            .iter()
            .map(|op| match op {
                BatchOp::Put { key, value } => (key.as_slice(), Some(Arc::from(value.as_slice()))),
                BatchOp::Delete { key } => (key.as_slice(), None),
            })
            .collect();
        let _keys = self.stripes.lock_all(batch.ops().iter().map(BatchOp::key));
        self.log(RecordKind::Batch, ack, || payload::encode_batch(batch))?;
        let _snapshot = self.unlogged_update();
        // No get runs while the batch is applied: readers see all or none.
        let _view = self.view.exclusive();
        for (key, value) in staged {
            match value {
                Some(value) => self.table.insert(key, value),
                None => {
                    self.table.remove(key);
                }
            }
        }
        self.logged_bytes
            .add(payload::record_bytes(batch.len(), batch.payload_bytes()));
        Ok(())
    }

    /// Without a WAL a snapshot must copy the table as of one instant
    /// (nothing replays over it): updates wait while it copies.
    fn unlogged_update(&self) -> Option<parking_lot::RwLockReadGuard<'_, ()>> {
        self.wal.is_none().then(|| self.snapshot.read())
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

    /// A mark covering every write visible now: the last LSN handed out (a
    /// write's LSN is issued before the table is updated). Without a WAL
    /// nothing is ever waited for.
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
    /// WAL a snapshot.
    pub(super) fn flush(&self) -> Result<()> {
        let _ops = self.write_gate()?;
        match &self.wal {
            Some(wal) => wal.flush().inspect_err(|e| self.poison(e)),
            None => {
                let mut life = self.lifecycle.lock();
                self.checkpoint_if_changed(&mut life)
            }
        }
    }
}
