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
use crate::kv::{KvStore, WriteBatch};

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

impl<S: KvStore + ?Sized> Shared<S> {
    pub(super) fn vacuum(&self, asked: PageLsn) -> PageResult<VacuumStats> {
        let mut state = self.vacuum.lock();
        self.vacuum_locked(&mut state, asked)
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
        if state.clean_at == Some(horizon) {
            return None;
        }
        match self.vacuum_locked(&mut state, horizon) {
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

    fn vacuum_locked(&self, state: &mut VacuumState, asked: PageLsn) -> PageResult<VacuumStats> {
        let started = Instant::now();
        let horizon = self.raise_horizon(asked)?;
        // A put that passed its horizon check before the raise may still be
        // on its way into the LogIndex, on a page the scan below would not
        // list: wait until every such put is in.
        self.quiesce_puts();
        state.clean_at = None;
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
            for lsn in dropped {
                batch.delete(key::encode(id, lsn));
                if batch.len() >= self.options.vacuum_batch_ops.max(1) {
                    if let Err(e) = self.commit(&mut batch, &mut stats) {
                        failed = Err(e);
                        return ControlFlow::Break(());
                    }
                }
            }
            ControlFlow::Continue(())
        });
        failed?;
        self.commit(&mut batch, &mut stats)?;
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

    /// Makes `max(applied, min(asked, newest))` the durable vacuum
    /// horizon; returns it.
    fn raise_horizon(&self, asked: PageLsn) -> PageResult<PageLsn> {
        let applied = PageLsn(self.horizon.load(Ordering::Acquire));
        let asked = asked.min(PageLsn(self.newest.load(Ordering::Acquire)));
        if asked <= applied {
            return Ok(applied);
        }
        self.store.put(HORIZON_KEY, &asked.0.to_be_bytes())?;
        // Durable before any delete can be: no backend promises to keep
        // the order of unflushed writes across a crash.
        self.store.flush()?;
        self.horizon.store(asked.0, Ordering::Release);
        self.liveness.raise_floor(asked);
        Ok(asked)
    }

    fn commit(&self, batch: &mut WriteBatch, stats: &mut VacuumStats) -> PageResult<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let removed = batch.len() as u64;
        let result = self.store.write_batch(batch);
        *batch = WriteBatch::new();
        result?;
        stats.versions_removed += removed;
        self.versions_vacuumed.fetch_add(removed, Ordering::Relaxed);
        Ok(())
    }
}
