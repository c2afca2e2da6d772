//! The multi-version page store: GetPage@LSN over any [`KvStore`].
//!
//! Compute nodes of a disaggregated database read pages at different log
//! positions, so [`PageStore`] keeps several versions of each page and
//! answers [`PageStore::get_page`] with the newest version at or below the
//! LSN asked for. Each version is one key of the store underneath (page id
//! ++ LSN, see [`key`]); the [`LogIndex`] in memory holds every page's
//! sorted LSNs and is rebuilt from the store's keys at open. Vacuum removes
//! versions no live compute node can ask for; the [`Liveness`] registry
//! says which nodes are live and sets the horizon.
//!
//! ```
//! use std::sync::Arc;
//! use folio::{Config, PageError, PageLsn, PageOptions, PageStore};
//! let dir = tempfile::tempdir().unwrap();
//! let store = folio::open("paged", dir.path(), &Config::default()).unwrap();
//! let pages: PageStore = PageStore::open(Arc::from(store), PageOptions::default()).unwrap();
//! pages.put_page(b"blk 7", PageLsn(100), &[1u8; 8192]).unwrap();
//! pages.put_page(b"blk 7", PageLsn(150), &[2u8; 8192]).unwrap();
//! assert_eq!(pages.get_page(b"blk 7", PageLsn(120)).unwrap().unwrap().0, PageLsn(100));
//! assert_eq!(pages.get_page(b"blk 7", PageLsn(99)).unwrap(), None);
//! pages.vacuum(PageLsn(150)).unwrap();
//! assert!(matches!(
//!     pages.get_page(b"blk 7", PageLsn(120)),
//!     Err(PageError::VersionVacuumed { .. })
//! ));
//! pages.close().unwrap();
//! ```
//!
//! Rules a caller can rely on:
//! - versions are immutable: a put of an existing (page, LSN) with the same
//!   bytes does nothing, with different bytes it is [`PageError::Conflict`];
//! - the *vacuum horizon* `H` is stored durably before vacuum removes
//!   anything, only grows, and never passes the highest LSN ever put; a
//!   put of a new version below it is [`PageError::BelowHorizon`];
//! - a read at `lsn` returns the newest kept version at or below `lsn`;
//!   when there is none and `lsn < H`, the version it needed may have been
//!   vacuumed and the read is [`PageError::VersionVacuumed`], never a wrong
//!   version and never "not found".
//!
//! Invariants:
//! - the LogIndex never names a version the store lacks: a put writes the
//!   store before the index, vacuum removes from the index before the store
//!   (so a read that loses that race finds the index changed and retries);
//! - a page's put lock is held from the horizon check to the index insert
//!   of a put; vacuum, after raising `H`, takes and releases every put lock
//!   before it looks for pages to trim, so every version a put slipped in
//!   under the old horizon is in the LogIndex by then, and no later put can
//!   add one below `H`;
//! - a deferred put ([`PageStore::put_page_deferred`]) is visible before it
//!   is durable. The store's log recovers a prefix of its writes, and the
//!   horizon and the deletes of a vacuum are written after every version
//!   they were computed from, so no crash keeps a vacuum's effect without
//!   the versions it relied on.

pub mod error;
pub mod key;
pub mod log_index;
mod vacuum;

use std::hash::BuildHasher;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use foldhash::fast::RandomState;
use parking_lot::{Mutex, MutexGuard};

pub use error::{PageError, PageResult};
pub use key::{PageLsn, MAX_PAGE_ID_BYTES};
pub use log_index::{LogIndex, LogIndexStats};
pub use vacuum::VacuumStats;

use crate::clock::{Clock, SystemClock};
use crate::kv::KvStore;
use crate::liveness::{Liveness, DEFAULT_INTERVAL_MS};
use crate::periodic::Periodic;

/// How often the background thread looks whether a sweep or a vacuum is
/// due, in milliseconds and as a duration.
const BACKGROUND_POLL_MS: u64 = 50;
const BACKGROUND_POLL: std::time::Duration = std::time::Duration::from_millis(BACKGROUND_POLL_MS);
use key::HORIZON_KEY;

const PUT_LOCKS: usize = 1024;

/// Reads of a version that vanish under a concurrent vacuum are retried
/// this many times before the store is declared inconsistent.
const READ_ATTEMPTS: usize = 4;

/// When a put returns: once its version is durable, or once it is visible
/// (see [`PageStore::put_page_deferred`]).
#[derive(Debug, Clone, Copy)]
enum Ack {
    Durable,
    Deferred,
}

/// Settings of a [`PageStore`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PageOptions {
    /// Liveness sweep interval (a node is failed after two silent ones).
    pub liveness_interval_ms: u64,
    /// How often the background thread vacuums to the live horizon.
    pub vacuum_interval_ms: u64,
    /// Run the background thread (sweeps and vacuum). Without it, call
    /// [`PageStore::tick`].
    pub background: bool,
    /// Most deletes per write batch vacuum issues.
    pub vacuum_batch_ops: usize,
    /// The clock for liveness and vacuum scheduling.
    pub clock: Arc<dyn Clock>,
}

impl Default for PageOptions {
    fn default() -> Self {
        PageOptions {
            liveness_interval_ms: DEFAULT_INTERVAL_MS,
            vacuum_interval_ms: 10_000,
            background: true,
            vacuum_batch_ops: 1024,
            clock: Arc::new(SystemClock::default()),
        }
    }
}

impl PageOptions {
    /// Smallest liveness interval with the background thread: it polls
    /// every 50 ms, so a shorter interval would make every sweep late, and
    /// a late sweep fails no one.
    pub const MIN_BACKGROUND_INTERVAL_MS: u64 = 2 * BACKGROUND_POLL_MS;

    /// Refuses values the page store cannot honour.
    fn validate(&self) -> PageResult<()> {
        if self.background && self.liveness_interval_ms < Self::MIN_BACKGROUND_INTERVAL_MS {
            return Err(PageError::InvalidOption {
                field: "liveness_interval_ms",
                value: self.liveness_interval_ms,
                min: Self::MIN_BACKGROUND_INTERVAL_MS,
                why: "the background thread checks for due sweeps every 50 ms",
            });
        }
        if self.vacuum_batch_ops == 0 {
            return Err(PageError::InvalidOption {
                field: "vacuum_batch_ops",
                value: 0,
                min: 1,
                why: "a vacuum deletes in batches of this many versions",
            });
        }
        Ok(())
    }
}

/// Counters of a [`PageStore`].
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct PageStats {
    /// Pages, versions and memory of the LogIndex.
    pub index: LogIndexStats,
    /// The vacuum horizon applied (0: nothing vacuumed yet).
    pub vacuum_horizon: u64,
    /// Vacuum runs since open.
    pub vacuums: u64,
    /// Versions vacuum removed since open.
    pub versions_vacuumed: u64,
    /// Live (alive or suspect) compute nodes.
    pub live_nodes: u64,
}

/// A multi-version page store over the key-value store `S`, which it owns:
/// every key in `S` is a page version or the page store's metadata.
pub struct PageStore<S: KvStore + ?Sized + 'static = dyn KvStore> {
    shared: Arc<Shared<S>>,
    vacuumer: Mutex<Option<Periodic>>,
}

struct Shared<S: KvStore + ?Sized> {
    index: LogIndex,
    liveness: Liveness,
    put_locks: Box<[Mutex<()>]>,
    hasher: RandomState,
    /// The vacuum horizon applied: no version below it may be put.
    horizon: AtomicU64,
    /// The highest LSN ever put (0 when none): vacuum never goes past it,
    /// so a horizon far ahead of the data cannot refuse later puts.
    newest: AtomicU64,
    /// Set by a put at exactly the applied horizon (the one LSN at or below
    /// `H` a put may add), cleared by a vacuum before its scan: a page may
    /// then hold two versions at or below an unchanged horizon, so the
    /// background vacuum must run although the horizon did not move.
    put_at_horizon: AtomicBool,
    vacuum: Mutex<vacuum::VacuumState>,
    vacuum_runs: AtomicU64,
    versions_vacuumed: AtomicU64,
    options: PageOptions,
    store: Arc<S>,
}

impl<S: KvStore + ?Sized> std::fmt::Debug for PageStore<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageStore")
            .field("engine", &self.shared.store.engine_name())
            .field("stats", &self.stats())
            .finish()
    }
}

impl<S: KvStore + ?Sized + 'static> PageStore<S> {
    /// Opens a page store over `store`: rebuilds the LogIndex from its keys,
    /// reads the vacuum horizon, and starts the background thread. The
    /// store must own every key and accept version keys (up to 72 bytes)
    /// and single-delete batches of them: open it with
    /// [`key::page_store_config`] of the config meant for keys.
    pub fn open(store: Arc<S>, options: PageOptions) -> PageResult<Self> {
        options.validate()?;
        let index = LogIndex::new();
        let mut foreign = None;
        let mut newest = 0;
        store.for_each_key(&mut |k| {
            if let Some((id, lsn)) = key::decode(k) {
                index.insert(id, lsn);
                newest = newest.max(lsn.0);
            } else if k != HORIZON_KEY {
                foreign = Some(k.len());
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        })?;
        if let Some(len) = foreign {
            return Err(PageError::ForeignKey { len });
        }
        let horizon = read_horizon(&*store)?;
        let liveness = Liveness::new(options.clock.clone(), options.liveness_interval_ms, horizon);
        let shared = Arc::new(Shared {
            index,
            liveness,
            put_locks: (0..PUT_LOCKS).map(|_| Mutex::new(())).collect(),
            hasher: RandomState::default(),
            horizon: AtomicU64::new(horizon.0),
            newest: AtomicU64::new(newest),
            put_at_horizon: AtomicBool::new(false),
            vacuum: Mutex::new(vacuum::VacuumState::new(
                &*options.clock,
                options.vacuum_interval_ms,
            )),
            vacuum_runs: AtomicU64::new(0),
            versions_vacuumed: AtomicU64::new(0),
            options,
            store,
        });
        let vacuumer = if shared.options.background {
            let worker = shared.clone();
            Some(
                Periodic::start("folio-vacuum", BACKGROUND_POLL, move || {
                    worker.tick();
                })
                .map_err(PageError::Spawn)?,
            )
        } else {
            None
        };
        Ok(PageStore {
            shared,
            vacuumer: Mutex::new(vacuumer),
        })
    }

    /// Stores version `lsn` of page `id`. Returns `false` when that exact
    /// version was already stored (nothing changes).
    pub fn put_page(&self, id: &[u8], lsn: PageLsn, image: &[u8]) -> PageResult<bool> {
        self.shared.put_page(id, lsn, image, Ack::Durable)
    }

    /// As [`PageStore::put_page`], but over a store that defers
    /// acknowledgements ([`KvStore::deferred_ack`]) it returns once the
    /// version is visible, before it is durable: it is durable once a mark
    /// of `store().deferred_ack()` taken after this call is acknowledged.
    /// Over any other store it is [`PageStore::put_page`].
    pub fn put_page_deferred(&self, id: &[u8], lsn: PageLsn, image: &[u8]) -> PageResult<bool> {
        self.shared.put_page(id, lsn, image, Ack::Deferred)
    }

    /// The newest version of page `id` at or below `lsn`, with its LSN;
    /// `None` when the page has none.
    pub fn get_page(&self, id: &[u8], lsn: PageLsn) -> PageResult<Option<(PageLsn, Vec<u8>)>> {
        self.shared.get_page(id, lsn)
    }

    /// The LSNs of every stored version of page `id`, oldest first.
    pub fn versions(&self, id: &[u8]) -> PageResult<Vec<PageLsn>> {
        key::check_page_id(id)?;
        Ok(self.shared.index.versions(id))
    }

    /// Removes every version older than the newest at or below `horizon`,
    /// on every page. A horizon below the one already applied vacuums at
    /// the applied one (an applied horizon never moves back); one above the
    /// highest LSN ever put vacuums at that LSN (the same versions go, and
    /// later puts are not refused).
    pub fn vacuum(&self, horizon: PageLsn) -> PageResult<VacuumStats> {
        self.shared.vacuum(horizon)
    }

    /// Vacuums to the live horizon ([`PageStore::live_horizon`]), read once
    /// no other vacuum runs and lowered to the nodes live as it is applied
    /// (a node may join behind meanwhile); `None` when there is no live
    /// horizon yet.
    pub fn vacuum_live(&self) -> PageResult<Option<VacuumStats>> {
        self.shared.vacuum_live()
    }

    /// Records a heartbeat of compute node `node` at `lsn`. Returns the
    /// vacuum horizon (applied, or reserved by a vacuum under way) when
    /// `lsn` is below it: the node is recorded, but versions it reads below
    /// that horizon may be gone.
    pub fn heartbeat(&self, node: &[u8], lsn: PageLsn) -> PageResult<Option<PageLsn>> {
        self.shared.liveness.heartbeat(node, lsn)
    }

    /// The liveness registry.
    pub fn liveness(&self) -> &Liveness {
        &self.shared.liveness
    }

    /// The horizon live nodes allow (see [`Liveness::horizon`]).
    pub fn live_horizon(&self) -> Option<PageLsn> {
        self.shared.liveness.horizon()
    }

    /// The vacuum horizon applied so far (0: none).
    pub fn vacuum_horizon(&self) -> PageLsn {
        PageLsn(self.shared.horizon.load(Ordering::Acquire))
    }

    /// One step of the background work: a liveness sweep if due, then a
    /// vacuum to the live horizon if due. Returns the vacuum's figures when
    /// one ran. The background thread calls this; tests with a manual
    /// clock call it themselves.
    pub fn tick(&self) -> Option<VacuumStats> {
        self.shared.tick()
    }

    /// Counters.
    pub fn stats(&self) -> PageStats {
        self.shared.stats()
    }

    /// The key-value store underneath.
    pub fn store(&self) -> &Arc<S> {
        &self.shared.store
    }

    /// Durability barrier of the store underneath.
    pub fn flush(&self) -> PageResult<()> {
        Ok(self.shared.store.flush()?)
    }

    /// Stops the background thread and closes the store underneath.
    pub fn close(&self) -> PageResult<()> {
        self.stop_background();
        Ok(self.shared.store.close()?)
    }

    fn stop_background(&self) {
        if let Some(vacuumer) = self.vacuumer.lock().take() {
            vacuumer.stop();
        }
    }
}

impl<S: KvStore + ?Sized + 'static> Drop for PageStore<S> {
    fn drop(&mut self) {
        self.stop_background();
    }
}

fn read_horizon<S: KvStore + ?Sized>(store: &S) -> PageResult<PageLsn> {
    match store.get(HORIZON_KEY)? {
        None => Ok(PageLsn(0)),
        Some(bytes) => {
            let bytes: [u8; 8] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| PageError::BadHorizon { len: bytes.len() })?;
            Ok(PageLsn(u64::from_be_bytes(bytes)))
        }
    }
}

impl<S: KvStore + ?Sized> Shared<S> {
    fn put_lock(&self, id: &[u8]) -> MutexGuard<'_, ()> {
        // The modulo keeps the value below PUT_LOCKS, which fits usize.
        #[allow(clippy::cast_possible_truncation)]
        let i = (self.hasher.hash_one(id) % PUT_LOCKS as u64) as usize;
        self.put_locks[i].lock()
    }

    fn put_page(&self, id: &[u8], lsn: PageLsn, image: &[u8], ack: Ack) -> PageResult<bool> {
        key::check_page_id(id)?;
        let key = key::encode(id, lsn);
        let page = self.put_lock(id);
        // A retried put of a kept version is a no-op even below the horizon.
        if self.index.contains(id, lsn) {
            match self.store.get(&key)? {
                Some(stored) if stored == image => {}
                Some(_) => return Err(PageError::Conflict { lsn }),
                None => return Err(PageError::MissingVersion { lsn }),
            }
            drop(page);
            // It may be a deferred put not durable yet: a durable put
            // reports it stored only once it is.
            if let (Ack::Durable, Some(deferred)) = (ack, self.store.deferred_ack()) {
                deferred.wait_acked(deferred.visible_mark())?;
            }
            return Ok(false);
        }
        let horizon = PageLsn(self.horizon.load(Ordering::Acquire));
        if lsn < horizon {
            return Err(PageError::BelowHorizon { lsn, horizon });
        }
        match (ack, self.store.deferred_ack()) {
            (Ack::Deferred, Some(deferred)) => deferred.put(&key, image)?,
            _ => self.store.put(&key, image)?,
        }
        self.newest.fetch_max(lsn.0, Ordering::AcqRel);
        self.index.insert(id, lsn);
        if lsn == horizon {
            self.put_at_horizon.store(true, Ordering::SeqCst);
        }
        Ok(true)
    }

    fn get_page(&self, id: &[u8], lsn: PageLsn) -> PageResult<Option<(PageLsn, Vec<u8>)>> {
        key::check_page_id(id)?;
        let mut vanished = None;
        for _ in 0..READ_ATTEMPTS {
            let Some(found) = self.index.floor(id, lsn) else {
                let horizon = PageLsn(self.horizon.load(Ordering::Acquire));
                if lsn < horizon {
                    return Err(PageError::VersionVacuumed { lsn, horizon });
                }
                return Ok(None);
            };
            match self.store.get(&key::encode(id, found))? {
                Some(image) => return Ok(Some((found, image))),
                // Vacuum took it between the lookup and the read: look again.
                None => vanished = Some(found),
            }
        }
        Err(PageError::MissingVersion {
            lsn: vanished.unwrap_or(lsn),
        })
    }

    fn stats(&self) -> PageStats {
        PageStats {
            index: self.index.stats(),
            vacuum_horizon: self.horizon.load(Ordering::Acquire),
            vacuums: self.vacuum_runs.load(Ordering::Relaxed),
            versions_vacuumed: self.versions_vacuumed.load(Ordering::Relaxed),
            live_nodes: self.liveness.live_nodes() as u64,
        }
    }
}
