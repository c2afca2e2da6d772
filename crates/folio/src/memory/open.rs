//! Opening a [`MemoryStore`]: the directory lock, the newest snapshot, the
//! WAL after it.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use parking_lot::{Mutex, RwLock};

use super::checkpoint::{remove_snapshots_before, start_checkpointer};
use super::snapshot::{self, newest_snapshot, snapshot_file_name, SnapshotHeader};
use super::table::Table;
use super::{Inner, Lifecycle, MemoryStore};
use crate::config::{Config, Durability};
use crate::counter::StripedCounter;
use crate::error::{Error, Result};
use crate::gate::Gate;
use crate::io::Vfs;
use crate::keylocks::KeyLocks;
use crate::kv::BatchOp;
use crate::wal::{self, payload, Lsn, Recovery, SyncMode, Wal, WalOptions};

/// Names of the paged engine's files: a directory holding one is not ours.
const FOREIGN_PREFIXES: [&str; 3] = ["SUPERBLOCK", "segment-", "checkpoint-"];

impl MemoryStore {
    /// Opens or creates the store in `dir` through `vfs`: loads the newest
    /// snapshot and replays the WAL after it.
    pub fn open_with_vfs(vfs: Arc<dyn Vfs>, dir: &Path, config: &Config) -> Result<Self> {
        config.validate()?;
        crate::io::create_dir_durable(&*vfs, dir)?;
        let lock = vfs.lock_dir(dir)?;
        let names = vfs.list(dir)?;
        crate::registry::refuse_other_engine(
            dir,
            &names,
            &FOREIGN_PREFIXES,
            crate::store::ENGINE_NAME,
        )?;
        let table = Table::default();
        let header = match newest_snapshot(&names) {
            Some(generation) => load(&*vfs, dir, generation, &table, config)?,
            None => create(&*vfs, dir, &names)?,
        };
        // Before the WAL opens (and may need a new file's worth of space):
        // a snapshot cut short can be as big as the data set.
        remove_leftovers(&*vfs, dir, header.generation);
        let recovery = wal::recover(&*vfs, dir, Lsn(header.lsn), header.wal_seq)?;
        check_continuity(dir, &header, &recovery)?;
        replay(&table, &recovery, config, dir)?;
        let wal = open_wal(&vfs, dir, config, &recovery)?;
        let base_wal_seq = recovery
            .files
            .last()
            .map_or(header.wal_seq, |(seq, ..)| seq + 1);
        let inner = Inner {
            dir: dir.to_path_buf(),
            vfs,
            config: config.clone(),
            table,
            wal,
            stripes: KeyLocks::default(),
            ops: Gate::default(),
            view: Gate::default(),
            snapshot: RwLock::new(()),
            lifecycle: Mutex::new(Lifecycle {
                lock: Some(lock),
                generation: header.generation,
                base_lsn: recovery.next_lsn.0 - 1,
                base_wal_seq,
                logged_at_checkpoint: 0,
                checkpoint_started: Instant::now(),
                retry_at: None,
                failures_in_a_row: 0,
            }),
            logged_bytes: StripedCounter::default(),
            checkpoints: StripedCounter::default(),
            poisoned: OnceLock::new(),
            snapshot_failed: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        };
        // The log a crash left counts as logged since the last snapshot, so
        // runs that each crash before the trigger still retire it.
        inner.logged_bytes.add(recovery.record_bytes());
        let inner = Arc::new(inner);
        let checkpointer = start_checkpointer(inner.clone())?;
        Ok(MemoryStore {
            inner,
            checkpointer: Mutex::new(Some(checkpointer)),
        })
    }
}

/// Loads snapshot `generation` into `table`. A damaged newest snapshot is
/// corruption: an older one cannot stand in, since the WAL before the
/// newest may be retired already.
fn load(
    vfs: &dyn Vfs,
    dir: &Path,
    generation: u64,
    table: &Table,
    config: &Config,
) -> Result<SnapshotHeader> {
    let path = dir.join(snapshot_file_name(generation));
    let file = vfs.open(&path, false)?;
    let (mut longest_key, mut longest_value) = (0, 0);
    let header = snapshot::decode_file(&*file, &path, &mut |k, v| {
        longest_key = longest_key.max(k.len());
        longest_value = longest_value.max(v.len());
        table.insert(k, Arc::from(v));
    })?;
    if header.generation != generation {
        return Err(Error::corruption(
            &path,
            Some(16),
            format!("snapshot says generation {}", header.generation),
        ));
    }
    if table.len() != header.entries {
        return Err(Error::corruption(&path, None, "a key appears twice"));
    }
    if longest_key > config.max_key_bytes {
        return Err(Error::InvalidConfig {
            field: "max_key_bytes",
            reason: format!("the store holds a key of {longest_key} bytes; raise the limit"),
        });
    }
    // As replay refuses a logged value over the limit: what the store
    // holds must not depend on whether a snapshot ran before the restart.
    if longest_value > config.max_value_bytes {
        return Err(Error::InvalidConfig {
            field: "max_value_bytes",
            reason: format!("the store holds a value of {longest_value} bytes; raise the limit"),
        });
    }
    Ok(header)
}

/// Creates a new store's first snapshot (empty, at LSN 0), so that a
/// directory with WAL files but no snapshot is never taken for an empty
/// store.
fn create(vfs: &dyn Vfs, dir: &Path, names: &[String]) -> Result<SnapshotHeader> {
    if let Some(orphan) = names.iter().find(|n| wal::parse_wal_name(n).is_some()) {
        return Err(Error::corruption(
            dir.join(orphan),
            None,
            "WAL file present but no snapshot: the snapshot was lost",
        ));
    }
    let header = SnapshotHeader {
        generation: 1,
        ..SnapshotHeader::default()
    };
    snapshot::write(vfs, dir, header, std::iter::empty(), || Ok(()))?;
    Ok(header)
}

/// The first record after the snapshot must be the next LSN: a gap means
/// WAL files the snapshot needs are gone.
fn check_continuity(dir: &Path, header: &SnapshotHeader, recovery: &Recovery) -> Result<()> {
    match recovery.records.first() {
        Some(first) if first.lsn.0 != header.lsn + 1 => Err(Error::corruption(
            dir.join(snapshot_file_name(header.generation)),
            None,
            format!(
                "snapshot ends at LSN {} but the WAL resumes at LSN {}",
                header.lsn, first.lsn.0
            ),
        )),
        _ => Ok(()),
    }
}

/// Applies the recovered records, in LSN order.
fn replay(table: &Table, recovery: &Recovery, config: &Config, dir: &Path) -> Result<()> {
    for record in &recovery.records {
        let ops = payload::decode(record.kind, &record.payload).map_err(|e| {
            Error::corruption(dir, None, format!("WAL record LSN {}: {e}", record.lsn.0))
        })?;
        for op in ops {
            refuse_over_limit(&op, config)?;
            match op {
                BatchOp::Put { key, value } => table.insert(&key, Arc::from(value)),
                BatchOp::Delete { key } => {
                    table.remove(&key);
                }
            }
        }
    }
    Ok(())
}

/// A logged key or value over this open's limits: raise them to open.
fn refuse_over_limit(op: &BatchOp, config: &Config) -> Result<()> {
    let (field, len, max) = match op {
        BatchOp::Put { value, .. } if value.len() > config.max_value_bytes => {
            ("max_value_bytes", value.len(), config.max_value_bytes)
        }
        _ if op.key().len() > config.max_key_bytes => {
            ("max_key_bytes", op.key().len(), config.max_key_bytes)
        }
        _ => return Ok(()),
    };
    Err(Error::InvalidConfig {
        field,
        reason: format!(
            "the WAL holds a write of {len} bytes over the limit {max}; raise the limit"
        ),
    })
}

/// Opens the WAL (a new file after the recovered ones), or without one,
/// makes the recovered records durable where they are.
fn open_wal(
    vfs: &Arc<dyn Vfs>,
    dir: &Path,
    config: &Config,
    recovery: &Recovery,
) -> Result<Option<Wal>> {
    let sync = match config.durability {
        Durability::Sync => SyncMode::Sync,
        Durability::Buffered => SyncMode::Buffered {
            interval: std::time::Duration::from_millis(config.sync_interval_ms),
        },
        Durability::None => {
            wal::seal(&**vfs, dir, recovery)?;
            return Ok(None);
        }
    };
    let options = WalOptions {
        sync,
        file_bytes: config.wal_file_bytes,
        ..WalOptions::default()
    };
    Wal::open(vfs.clone(), dir, recovery, options).map(Some)
}

/// Removes what a crash may have left: snapshots older than the one loaded
/// (a crash between naming a new one and removing the old) and temporary
/// files of an interrupted snapshot.
fn remove_leftovers(vfs: &dyn Vfs, dir: &Path, generation: u64) {
    // The newest snapshot's name may not be durable yet (a crash between
    // its rename and the directory fsync): make it so before removing the
    // older ones, or a power cut could keep the removals and lose it.
    if let Err(e) = vfs.sync_dir(dir) {
        tracing::warn!(error = %e, "could not sync the directory; old snapshots kept");
        return;
    }
    if let Err(e) = remove_snapshots_before(vfs, dir, generation) {
        tracing::warn!(error = %e, "could not remove an old snapshot");
    }
    let Ok(names) = vfs.list(dir) else {
        return;
    };
    for name in names {
        if name.starts_with(super::SNAPSHOT_PREFIX) && name.ends_with(".tmp") {
            if let Err(e) = vfs.remove_file(&dir.join(&name)) {
                tracing::warn!(file = %name, error = %e, "could not remove a leftover file");
            }
        }
    }
}
