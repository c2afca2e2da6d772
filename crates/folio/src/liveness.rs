//! The liveness registry: which compute nodes are alive, and the vacuum
//! horizon they allow.
//!
//! A compute node calls [`Liveness::heartbeat`] with its id and the LSN it
//! reads at; that registers or refreshes it and sets its reference bit.
//! Every `interval_ms` a CLOCK second-chance sweep passes over every node:
//! a set bit is cleared (the node gets a second chance), a bit already
//! clear means the node sent nothing since the previous sweep — at least a
//! whole interval, as each sweep is due an interval after the previous one
//! *ran* — and it is declared failed. So a node is failed by the second
//! sweep after its last heartbeat: silence shorter than one interval is
//! always survived, however late sweeps run; silence of two intervals plus
//! the polls' delays (50 ms each in the page store) never. A node that
//! heartbeats every half interval survives one lost heartbeat.
//! Failed nodes are logged, handed to the failure listener and kept in a
//! bounded list of recent failures.
//!
//! The **horizon** is the minimum LSN over live nodes: no live node can
//! ask for a version older than the newest one at or below it.
//!
//! Invariants:
//! - the horizon is never below the **floor**, the vacuum horizon applied
//!   or about to be (what was vacuumed is gone whoever asks); above it, it is the
//!   minimum over the nodes live *now*: it comes back down when a node's
//!   LSN does, when a node joins behind, or when the node that held it up
//!   fails, so a vacuum never removes a version a live node can still ask
//!   for, and one runaway heartbeat (`u64::MAX`) is forgotten once the
//!   node reports its real LSN or fails;
//! - after a restart there is no horizon for two intervals, then it starts
//!   from the floor;
//! - there is no horizon until two sweeps have run since the registry was
//!   made: nodes that were alive before a restart get two intervals to
//!   heartbeat again before anything is vacuumed on their behalf;
//! - a node is in at most one of the live map and the failed list;
//! - the floor rises under the live map's write lock, and a heartbeat
//!   compares its LSN with the floor under the read lock: a vacuum reserves
//!   its horizon ([`Liveness::reserve`]) before writing it, so a node that
//!   heartbeats below it is either counted in it or told it is behind —
//!   never told "fine" while a vacuum removes what it reads.
//!
//! Time comes from a [`Clock`]; sweeps run when [`Liveness::poll`] finds
//! one due, so tests drive the registry with a [`crate::clock::ManualClock`].
//! When a poll comes an interval or more late (two or more since the last
//! sweep ran: the process stalled, or the thread polling was held up, and
//! heartbeats may be waiting unread), one sweep runs that clears bits and
//! fails no one: a stall of the detector is not counted against the nodes.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use foldhash::fast::RandomState;
use parking_lot::{Mutex, RwLock};

use crate::clock::Clock;
use crate::page::{PageError, PageLsn, PageResult};

/// Longest node id, in bytes.
pub const MAX_NODE_ID_BYTES: usize = 256;
/// Most nodes the registry tracks at once.
pub const MAX_NODES: usize = 65_536;
/// Recent failures kept for [`Liveness::nodes`].
pub const MAX_FAILED_KEPT: usize = 1_024;
/// Default sweep interval.
pub const DEFAULT_INTERVAL_MS: u64 = 3_000;

/// A compute node's id: opaque bytes, 1 to [`MAX_NODE_ID_BYTES`] long.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub Vec<u8>);

/// Where a node stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeState {
    /// It heartbeated since the last sweep.
    Alive,
    /// No heartbeat since the last sweep (yet); the next sweep fails it
    /// unless it heartbeats first.
    Suspect,
    /// A sweep declared it failed.
    Failed,
}

impl NodeState {
    /// The state's name as the server prints it.
    pub fn name(self) -> &'static str {
        match self {
            NodeState::Alive => "alive",
            NodeState::Suspect => "suspect",
            NodeState::Failed => "failed",
        }
    }
}

/// One node as [`Liveness::nodes`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// The node.
    pub id: NodeId,
    /// The LSN of its last heartbeat.
    pub lsn: PageLsn,
    /// Where it stands.
    pub state: NodeState,
    /// Clock time of its last heartbeat.
    pub last_heartbeat_ms: u64,
}

/// What one sweep did.
#[derive(Debug, Clone, Default)]
pub struct SweepReport {
    /// Nodes whose bit was set and is now cleared.
    pub survived: usize,
    /// Nodes declared failed.
    pub failed: Vec<NodeInfo>,
    /// Wall time the sweep took, in nanoseconds.
    pub elapsed_ns: u64,
}

/// Called with each node a sweep declares failed.
pub type FailureListener = Arc<dyn Fn(&NodeInfo) + Send + Sync>;

#[derive(Debug)]
struct Node {
    referenced: AtomicBool,
    lsn: AtomicU64,
    last_heartbeat_ms: AtomicU64,
}

impl Node {
    fn info(&self, id: &[u8], state: NodeState) -> NodeInfo {
        NodeInfo {
            id: NodeId(id.to_vec()),
            lsn: PageLsn(self.lsn.load(Ordering::Acquire)),
            state,
            last_heartbeat_ms: self.last_heartbeat_ms.load(Ordering::Acquire),
        }
    }
}

#[derive(Debug)]
struct Schedule {
    /// Clock time the last sweep ran (the registry's creation before any).
    last_sweep_ms: u64,
    /// `last_sweep_ms + interval`: sweeps are spaced from when they run,
    /// so consecutive ones are always an interval apart or more.
    next_sweep_ms: u64,
    sweeps: u64,
}

/// The registry of compute nodes and their CLOCK sweep. Shared between
/// threads: heartbeats of known nodes take a read lock and two atomic
/// stores, so they do not wait for each other.
pub struct Liveness {
    clock: Arc<dyn Clock>,
    interval_ms: u64,
    live: RwLock<HashMap<Box<[u8]>, Node, RandomState>>,
    failed: Mutex<VecDeque<NodeInfo>>,
    schedule: Mutex<Schedule>,
    /// The vacuum horizon applied so far: the horizon never goes below it.
    floor: Mutex<Option<PageLsn>>,
    listener: RwLock<Option<FailureListener>>,
}

impl std::fmt::Debug for Liveness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Liveness")
            .field("interval_ms", &self.interval_ms)
            .field("live", &self.live.read().len())
            .field("horizon", &self.horizon())
            .finish()
    }
}

impl Liveness {
    /// A registry sweeping every `interval_ms` (at least 1) by `clock`,
    /// whose horizon starts at `floor` (the vacuum horizon already applied;
    /// 0 when nothing was vacuumed).
    pub fn new(clock: Arc<dyn Clock>, interval_ms: u64, floor: PageLsn) -> Self {
        let interval_ms = interval_ms.max(1);
        let now_ms = clock.now_ms();
        Liveness {
            clock,
            interval_ms,
            live: RwLock::new(HashMap::default()),
            failed: Mutex::new(VecDeque::new()),
            schedule: Mutex::new(Schedule {
                last_sweep_ms: now_ms,
                next_sweep_ms: now_ms.saturating_add(interval_ms),
                sweeps: 0,
            }),
            floor: Mutex::new((floor.0 > 0).then_some(floor)),
            listener: RwLock::new(None),
        }
    }

    /// The sweep interval.
    pub fn interval_ms(&self) -> u64 {
        self.interval_ms
    }

    /// The clock the registry reads.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Sets the function called with every node a sweep declares failed.
    /// It runs on the sweeping thread (the page store's background thread)
    /// with no registry lock held, so it may call into the registry; it
    /// must not close the page store, which joins that thread.
    pub fn set_failure_listener(&self, listener: FailureListener) {
        *self.listener.write() = Some(listener);
    }

    /// Registers or refreshes node `id` at `lsn` and sets its reference
    /// bit. A node's LSN may go backwards, and the horizon with it down to
    /// the floor. Returns the floor when `lsn` is below it: the node is
    /// recorded, but versions it reads below the floor may be vacuumed.
    pub fn heartbeat(&self, id: &[u8], lsn: PageLsn) -> PageResult<Option<PageLsn>> {
        if id.is_empty() || id.len() > MAX_NODE_ID_BYTES {
            return Err(PageError::InvalidNodeId { len: id.len() });
        }
        let now_ms = self.clock.now_ms();
        {
            let live = self.live.read();
            if let Some(node) = live.get(id) {
                node.lsn.store(lsn.0, Ordering::Release);
                node.last_heartbeat_ms.store(now_ms, Ordering::Release);
                node.referenced.store(true, Ordering::Release);
                // Under the live lock: see `reserve`.
                return Ok(self.floor_above(lsn));
            }
        }
        let mut live = self.live.write();
        if live.len() >= MAX_NODES && !live.contains_key(id) {
            return Err(PageError::TooManyNodes);
        }
        let node = live.entry(id.into()).or_insert_with(|| Node {
            referenced: AtomicBool::new(true),
            lsn: AtomicU64::new(lsn.0),
            last_heartbeat_ms: AtomicU64::new(now_ms),
        });
        node.lsn.store(lsn.0, Ordering::Release);
        node.last_heartbeat_ms.store(now_ms, Ordering::Release);
        node.referenced.store(true, Ordering::Release);
        // Under the live lock: see `sweep`.
        self.failed.lock().retain(|f| f.id.0 != id);
        let behind = self.floor_above(lsn);
        drop(live);
        tracing::info!(node = %String::from_utf8_lossy(id), lsn = lsn.0, "compute node registered");
        Ok(behind)
    }

    /// The floor, when it is above `lsn`.
    fn floor_above(&self, lsn: PageLsn) -> Option<PageLsn> {
        (*self.floor.lock()).filter(|&floor| lsn < floor)
    }

    /// Runs a sweep if one is due by the clock. Returns its report.
    pub fn poll(&self) -> Option<SweepReport> {
        let now_ms = self.clock.now_ms();
        let late = {
            let mut schedule = self.schedule.lock();
            if now_ms < schedule.next_sweep_ms {
                return None;
            }
            let since_ms = now_ms.saturating_sub(schedule.last_sweep_ms);
            let late = since_ms >= self.interval_ms.saturating_mul(2);
            schedule.last_sweep_ms = now_ms;
            schedule.next_sweep_ms = now_ms.saturating_add(self.interval_ms);
            schedule.sweeps += 1;
            late
        };
        Some(self.sweep(!late))
    }

    /// One CLOCK pass over every node (normally run by [`Liveness::poll`]).
    /// With `may_fail` false (the sweep is late: the detector itself
    /// stalled, and nodes may not have been heard) bits are cleared and no
    /// node fails.
    fn sweep(&self, may_fail: bool) -> SweepReport {
        let started = Instant::now();
        let mut report = SweepReport::default();
        let mut suspects = Vec::new();
        for (id, node) in self.live.read().iter() {
            if node.referenced.swap(false, Ordering::AcqRel) {
                report.survived += 1;
            } else if may_fail {
                suspects.push(id.clone());
            } else {
                report.survived += 1;
            }
        }
        if !suspects.is_empty() {
            let mut live = self.live.write();
            for id in suspects {
                // A heartbeat between the pass and this lock saves the node.
                if live
                    .get(&id)
                    .is_some_and(|n| !n.referenced.load(Ordering::Acquire))
                {
                    if let Some(node) = live.remove(&id) {
                        report.failed.push(node.info(&id, NodeState::Failed));
                    }
                }
            }
            // Under the live lock, so a node rejoining right now is either
            // still live here or already in the failed list when its
            // heartbeat removes it from there: never both.
            let mut kept = self.failed.lock();
            for node in &report.failed {
                if kept.len() == MAX_FAILED_KEPT {
                    kept.pop_front();
                }
                kept.push_back(node.clone());
            }
        }
        self.report_failures(&report.failed);
        report.elapsed_ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        report
    }

    /// Logs the failed nodes and hands them to the listener, with no lock
    /// of the registry held.
    fn report_failures(&self, failed: &[NodeInfo]) {
        if failed.is_empty() {
            return;
        }
        let listener = self.listener.read().clone();
        for node in failed {
            tracing::warn!(
                node = %String::from_utf8_lossy(&node.id.0),
                lsn = node.lsn.0,
                last_heartbeat_ms = node.last_heartbeat_ms,
                "compute node failed: no heartbeat since the sweep before last"
            );
            if let Some(listener) = listener.as_ref() {
                listener(node);
            }
        }
    }

    /// Sweeps run since the registry was made.
    pub fn sweeps(&self) -> u64 {
        self.schedule.lock().sweeps
    }

    /// Number of live (alive or suspect) nodes.
    pub fn live_nodes(&self) -> usize {
        self.live.read().len()
    }

    /// The vacuum horizon: the minimum LSN over the nodes live now, never
    /// below the floor (the vacuum horizon applied). `None` until two
    /// sweeps have run, and while no node is live and no vacuum has been
    /// applied.
    pub fn horizon(&self) -> Option<PageLsn> {
        if self.schedule.lock().sweeps < 2 {
            return None;
        }
        let min_live = self
            .live
            .read()
            .values()
            .map(|n| n.lsn.load(Ordering::Acquire))
            .min()
            .map(PageLsn);
        (*self.floor.lock()).max(min_live)
    }

    /// Reserves the horizon a vacuum is about to write: raises the floor
    /// to `lsn` — with `cap_at_live`, to the minimum LSN over the nodes
    /// live now when that is lower — and returns the floor. Done under the
    /// live map's write lock, so every heartbeat is either counted here or
    /// compares its LSN with the new floor (see [`Liveness::heartbeat`]).
    pub fn reserve(&self, lsn: PageLsn, cap_at_live: bool) -> PageLsn {
        let live = self.live.write();
        let min_live = live.values().map(|n| n.lsn.load(Ordering::Acquire)).min();
        let target = match min_live {
            Some(min) if cap_at_live => lsn.min(PageLsn(min)),
            _ => lsn,
        };
        let mut floor = self.floor.lock();
        let raised = (*floor).map_or(target, |f| f.max(target));
        *floor = Some(raised);
        raised
    }

    /// The floor: the vacuum horizon applied, or reserved by a vacuum under
    /// way (`None` before any).
    pub fn floor(&self) -> Option<PageLsn> {
        *self.floor.lock()
    }

    /// Puts back `previous` (the floor read before a [`Liveness::reserve`])
    /// when the horizon reserved was never written: a vacuum that failed
    /// must not leave heartbeats told they are behind, or a later vacuum
    /// running at a horizon its caller was told had failed. The caller
    /// serialises vacuums, so nothing else raised the floor meanwhile.
    pub fn unreserve(&self, previous: Option<PageLsn>) {
        let _live = self.live.write();
        *self.floor.lock() = previous;
    }

    /// Every live node, then the recent failures (oldest first), as of one
    /// instant: the live map stays read-locked while the failures are
    /// copied (a sweep moves a node between the two under its write lock,
    /// so no node is listed twice or missed).
    pub fn nodes(&self) -> Vec<NodeInfo> {
        let live = self.live.read();
        let mut nodes: Vec<NodeInfo> = live
            .iter()
            .map(|(id, node)| {
                let state = if node.referenced.load(Ordering::Acquire) {
                    NodeState::Alive
                } else {
                    NodeState::Suspect
                };
                node.info(id, state)
            })
            .collect();
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        nodes.extend(self.failed.lock().iter().cloned());
        drop(live);
        nodes
    }
}
