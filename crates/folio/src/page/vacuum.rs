//! Vacuum: removing the versions no live compute node can ask for.
//!
//! At horizon `H`, a page keeps its newest version at or below `H` and
//! every version above `H`; older ones go. The horizon is written to the
//! store and made durable first (so after a crash a read below it is still
//! refused rather than answered "not found"), and never passes the newest
//! LSN ever put. Then every put lock is taken and released once, and each
//! page's victims are cut from the LogIndex under the page's put lock and
//! deleted from the store, oldest first, in write batches. Readers only
//! ever wait for one shard's lock (see docs/ARCHITECTURE.md, "Readers and
//! vacuum").

use std::ops::ControlFlow;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::key::{self, PageLsn, HORIZON_KEY};
use super::{PageResult, Shared};
use crate::clock::Clock;
use crate::error::Error;
use crate::kv::{BatchOp, KvStore, WriteBatch};

/// What one vacuum run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VacuumStats {
    /// The horizon vacuumed at.
    pub horizon: PageLsn,
    /// Pages that lost at least one version.
    pub pages_trimmed: u64,
    /// Versions removed.
    pub versions_removed: u64,
    /// Wall time of the run, in microseconds.
    pub elapsed_us: u64,
}

/// The scheduler's state; its mutex is held for a whole run, so vacuums
/// never overlap.
#[derive(Debug)]
pub(super) struct VacuumState {
    /// Clock time the next background run is due (`u64::MAX`: never).
    next_due_ms: u64,
    /// The horizon of the last run that finished without error.
    clean_at: Option<PageLsn>,
}

impl VacuumState {
    pub(super) fn new(clock: &dyn Clock, interval_ms: u64) -> Self {
        let next_due_ms = if interval_ms == 0 {
            u64::MAX
        } else {
            clock.now_ms().saturating_add(interval_ms)
        };
        VacuumState {
            next_due_ms,
            clean_at: None,
        }
    }
}

/// Where a vacuum's horizon comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Target {
    /// Given by the caller: applied whatever the live nodes read.
    Given,
    /// The live horizon: lowered, as it is reserved, to the minimum LSN
    /// of the nodes live then (one may have joined behind since it was
    /// read).
    Live,
}

impl<S: KvStore + ?Sized> Shared<S> {
    pub(super) fn vacuum(&self, asked: PageLsn) -> PageResult<VacuumStats> {
        let mut state = self.vacuum.lock();
        self.vacuum_locked(&mut state, asked, Target::Given)
    }

    /// A vacuum to the live horizon, read once no other vacuum runs;
    /// `None` when there is no live horizon yet.
    pub(super) fn vacuum_live(&self) -> PageResult<Option<VacuumStats>> {
        let mut state = self.vacuum.lock();
        let Some(horizon) = self.liveness.horizon() else {
            return Ok(None);
        };
        self.vacuum_locked(&mut state, horizon, Target::Live)
            .map(Some)
    }

    /// A liveness sweep if due, then a vacuum to the live horizon if due
    /// and the horizon moved since the last clean run.
    pub(super) fn tick(&self) -> Option<VacuumStats> {
        self.liveness.poll();
        let now_ms = self.options.clock.now_ms();
        // A vacuum asked for on demand is running: sweeps must go on.
        let mut state = self.vacuum.try_lock()?;
        if now_ms < state.next_due_ms {
            return None;
        }
        state.next_due_ms = now_ms.saturating_add(self.options.vacuum_interval_ms);
        let horizon = self.liveness.horizon()?;
        if state.clean_at == Some(self.effective_horizon(horizon))
            && !self.put_at_horizon.load(Ordering::SeqCst)
        {
            return None;
        }
        match self.vacuum_locked(&mut state, horizon, Target::Live) {
            Ok(stats) => {
                if stats.versions_removed > 0 {
                    tracing::info!(
                        horizon = stats.horizon.0,
                        versions = stats.versions_removed,
                        pages = stats.pages_trimmed,
                        elapsed_us = stats.elapsed_us,
                        "vacuumed page versions"
                    );
                }
                Some(stats)
            }
            Err(error) => {
                tracing::warn!(horizon = horizon.0, %error, "background vacuum failed; retrying next interval");
                None
            }
        }
    }

    fn vacuum_locked(
        &self,
        state: &mut VacuumState,
        asked: PageLsn,
        target: Target,
    ) -> PageResult<VacuumStats> {
        let started = Instant::now();
        let horizon = self.raise_horizon(asked, target)?;
        // A put that passed its horizon check before the raise may still be
        // on its way into the LogIndex, on a page the scan below would not
        // list: wait until every such put is in.
        self.quiesce_puts();
        // Without ordered recovery, such a put (a page's kept version) must
        // be durable before the deletes of its older siblings are.
        if !self.store.keeps_write_order() {
            self.store.flush()?;
        }
        state.clean_at = None;
        // After the quiesce, before the scan: a put at the horizon that
        // sets the flag after this is seen by the next run, one before it
        // is in the LogIndex for this one.
        self.put_at_horizon.store(false, Ordering::SeqCst);
        self.vacuum_runs.fetch_add(1, Ordering::Relaxed);
        let mut stats = VacuumStats {
            horizon,
            ..VacuumStats::default()
        };
        let mut batch = WriteBatch::new();
        let mut failed = Ok(());
        self.index.for_each_trim_candidate(horizon, |id| {
            let dropped = {
                let _page = self.put_lock(id);
                self.index.trim(id, horizon)
            };
            stats.pages_trimmed += u64::from(!dropped.is_empty());
            for (i, &lsn) in dropped.iter().enumerate() {
                batch.delete(key::encode(id, lsn));
                if batch.len() >= self.options.vacuum_batch_ops.max(1) {
                    if let Err(e) = self.commit(std::mem::take(&mut batch), &mut stats) {
                        // The page's versions not batched yet go back too.
                        let _page = self.put_lock(id);
                        for &rest in &dropped[i + 1..] {
                            self.index.insert(id, rest);
                        }
                        failed = Err(e);
                        return ControlFlow::Break(());
                    }
                }
            }
            ControlFlow::Continue(())
        });
        failed?;
        self.commit(batch, &mut stats)?;
        state.clean_at = Some(horizon);
        stats.elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        Ok(stats)
    }

    /// Takes and releases every put lock: each put that held one when this
    /// began has finished.
    fn quiesce_puts(&self) {
        for lock in self.put_locks.iter() {
            drop(lock.lock());
        }
    }

    /// The horizon a vacuum asked for `asked` works at: `max(applied,
    /// min(asked, newest LSN ever put))`.
    fn effective_horizon(&self, asked: PageLsn) -> PageLsn {
        let applied = PageLsn(self.horizon.load(Ordering::Acquire));
        asked
            .min(PageLsn(self.newest.load(Ordering::Acquire)))
            .max(applied)
    }

    /// Makes [`Shared::effective_horizon`] of `asked` the durable vacuum
    /// horizon; returns it. The liveness registry reserves it first (with
    /// [`Target::Live`], lowered to the nodes live then): from then on a
    /// heartbeat below it is told it is behind, and one before it is
    /// counted in it.
    fn raise_horizon(&self, asked: PageLsn, target: Target) -> PageResult<PageLsn> {
        let applied = PageLsn(self.horizon.load(Ordering::Acquire));
        let wanted = self.effective_horizon(asked);
        if wanted <= applied {
            return Ok(applied);
        }
        let previous = self.liveness.floor();
        let horizon = self.liveness.reserve(wanted, target == Target::Live);
        if horizon <= applied {
            return Ok(applied);
        }
        // Durable before any delete can be: no backend promises to keep
        // the order of unflushed writes across a crash.
        let written = self
            .store
            .put(HORIZON_KEY, &horizon.0.to_be_bytes())
            .and_then(|()| self.store.flush());
        if let Err(e) = written {
            self.liveness.unreserve(previous);
            return Err(e.into());
        }
        self.horizon.store(horizon.0, Ordering::Release);
        Ok(horizon)
    }

    /// Deletes `batch`'s versions (already cut from the LogIndex) from
    /// the store. A batch over the store's own limits (`BatchTooLarge`: a
    /// store configured with small batches) is written in halves, in order,
    /// so each page's victims still go oldest first. When a write fails,
    /// the versions it did not delete go back into the LogIndex: index and
    /// store agree again, and the next vacuum retries them.
    fn commit(&self, batch: WriteBatch, stats: &mut VacuumStats) -> PageResult<()> {
        if batch.is_empty() {
            return Ok(());
        }
        match self.store.write_batch(&batch) {
            Ok(()) => {
                let removed = batch.len() as u64;
                stats.versions_removed += removed;
                self.versions_vacuumed.fetch_add(removed, Ordering::Relaxed);
                // Without ordered recovery a later batch could survive a
                // crash that loses an earlier one, leaving a page's older
                // victims but not its newer ones: a read would find the
                // wrong version. So each batch is made durable first.
                if !self.store.keeps_write_order() {
                    self.store.flush()?;
                }
                Ok(())
            }
            Err(Error::BatchTooLarge { .. }) if batch.len() > 1 => {
                let (first, second) = halves(&batch);
                if let Err(e) = self.commit(first, stats) {
                    self.restore(&second);
                    return Err(e);
                }
                self.commit(second, stats)
            }
            Err(e) => {
                self.restore(&batch);
                Err(e.into())
            }
        }
    }

    /// Puts the versions `batch` would have deleted back into the LogIndex.
    /// No put can race them: they are below the horizon already raised.
    fn restore(&self, batch: &WriteBatch) {
        for op in batch.ops() {
            if let Some((id, lsn)) = key::decode(op.key()) {
                let _page = self.put_lock(id);
                self.index.insert(id, lsn);
            }
        }
    }
}

/// The two halves of a batch of deletes, in order.
fn halves(batch: &WriteBatch) -> (WriteBatch, WriteBatch) {
    let ops = batch.ops();
    let (first, second) = ops.split_at(ops.len() / 2);
    let rebuild = |ops: &[BatchOp]| {
        let mut half = WriteBatch::new();
        for op in ops {
            half.delete(op.key().to_vec());
        }
        half
    };
    (rebuild(first), rebuild(second))
}
