//! Opening a [`PagedStore`]: superblock, checkpoint, WAL replay.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Mutex, RwLock};

use super::checkpoint::{self, checkpoint_file_name, Checkpoint};
use super::checkpointer::{next_generation, start_checkpointer};
use super::superblock::{Superblock, COPY_BYTES, SUPERBLOCK_FILE};
use super::{Inner, Lifecycle, PagedStore};
use crate::buffer::replacer::new_replacer;
use crate::buffer::BufferPool;
use crate::config::{Config, Durability};
use crate::counter::StripedCounter;
use crate::disk::DiskManager;
use crate::error::{Error, Result};
use crate::gate::Gate;
use crate::index::Index;
use crate::io::{write_file_atomic, Vfs};
use crate::keylocks::KeyLocks;
use crate::kv::BatchOp;
use crate::reuse::ReuseClock;
use crate::wal::{self, payload, Lsn, Recovery, SyncMode, Wal, WalOptions};

/// File-name prefixes of the files a store owns (besides the superblock and
/// the lock file).
pub(crate) const DATA_FILE_PREFIXES: [&str; 3] = ["segment-", "checkpoint-", "wal-"];

impl PagedStore {
    /// Opens or creates the store in `dir` through `vfs`. A store that was
    /// not closed is recovered: its last checkpoint is loaded and the WAL
    /// after it replayed.
    pub fn open_with_vfs(vfs: Arc<dyn Vfs>, dir: &Path, config: &Config) -> Result<Self> {
        config.validate()?;
        crate::io::create_dir_durable(&*vfs, dir)?;
        let lock = vfs.lock_dir(dir)?;
        // A memory store's directory holds a snapshot from its creation on.
        crate::registry::refuse_other_engine(
            dir,
            &vfs.list(dir)?,
            &[crate::memory::SNAPSHOT_PREFIX],
            crate::memory::ENGINE_NAME,
        )?;
        let sb_path = dir.join(SUPERBLOCK_FILE);
        if !vfs.exists(&sb_path)? {
            create_superblock(&*vfs, dir, config)?;
        }
        let superblock_file = vfs.open(&sb_path, false)?;
        let superblock = Superblock::read(&*superblock_file)?;
        let mut config = config.clone();
        adopt_page_size(&mut config, superblock.page_bytes)?;

        let clock = Arc::new(ReuseClock::default());
        // Without a WAL a checkpoint copies the index as of one instant
        // (`begin_copy` inside it): a slot no copy named is reused at once.
        let disk = Arc::new(if config.durability == Durability::None {
            DiskManager::new_reusing_unnamed(vfs.clone(), dir, config.page_bytes, clock.clone())
        } else {
            DiskManager::new(vfs.clone(), dir, config.page_bytes, clock.clone())
        });
        let index = Index::new(disk.clone());
        let (ckpt_lsn, wal_seq) = if superblock.checkpoint != 0 {
            let cp = load_checkpoint(&*vfs, dir, &superblock, &config)?;
            let at = (cp.lsn, cp.wal_seq);
            restore(&disk, &index, cp, dir)?;
            at
        } else {
            (0, 0)
        };
        let recovery = wal::recover(&*vfs, dir, Lsn(ckpt_lsn), wal_seq)?;
        report_recovery(dir, &superblock, &recovery);
        let last_lsn = recovery.next_lsn.0 - 1;
        let wal = open_wal(&vfs, dir, &config, &recovery, &clock)?;
        let pool = BufferPool::new(
            config.frames(),
            config.page_bytes,
            new_replacer(config.replacer, config.frames()),
            disk.clone(),
        );
        let base_wal_seq = recovery.files.last().map_or(wal_seq, |(seq, ..)| seq + 1);
        let inner = Inner {
            dir: dir.to_path_buf(),
            vfs,
            config,
            index,
            pool,
            disk,
            wal,
            clock,
            superblock_file,
            lifecycle: Mutex::new(Lifecycle {
                superblock,
                lock: Some(lock),
                base_lsn: last_lsn,
                base_wal_seq,
                logged_at_checkpoint: 0,
                checkpoint_started: Instant::now(),
            }),
            ops: Gate::default(),
            view: Gate::default(),
            snapshot: RwLock::new(()),
            undo: super::undo::CopyUndo::new(),
            keys: KeyLocks::default(),
            logged_bytes: StripedCounter::default(),
            checkpoints: StripedCounter::default(),
            closed: AtomicBool::new(false),
        };
        // The log a crash left counts as logged since the last checkpoint,
        // so runs that each crash before the trigger still retire it.
        inner.logged_bytes.add(recovery.record_bytes());
        inner.replay(recovery, dir)?;
        if inner.wal.is_none() {
            // Without a WAL, slots freed from now on wait for a checkpoint.
            inner.clock.issue(last_lsn + 1);
        }
        inner.mark_open(&sb_path)?;
        inner.remove_leftovers();
        let inner = Arc::new(inner);
        let checkpointer = start_checkpointer(inner.clone())?;
        Ok(PagedStore {
            inner,
            checkpointer: Mutex::new(Some(checkpointer)),
        })
    }
}

/// Opens the WAL (a new file after the recovered ones), or without one,
/// makes the recovered records durable: replay may free slots they name.
fn open_wal(
    vfs: &Arc<dyn Vfs>,
    dir: &Path,
    config: &Config,
    recovery: &Recovery,
    clock: &Arc<ReuseClock>,
) -> Result<Option<Wal>> {
    let sync = match config.durability {
        Durability::Sync => SyncMode::Sync,
        Durability::Buffered => SyncMode::Buffered {
            interval: std::time::Duration::from_millis(config.sync_interval_ms),
        },
        Durability::None => {
            wal::seal(&**vfs, dir, recovery)?;
            let last = recovery.next_lsn.0 - 1;
            clock.issue(last);
            clock.make_durable(last);
            return Ok(None);
        }
    };
    let options = WalOptions {
        sync,
        file_bytes: config.wal_file_bytes,
        ..WalOptions::default()
    };
    Wal::open_with_clock(vfs.clone(), dir, recovery, options, clock.clone()).map(Some)
}

fn report_recovery(dir: &Path, sb: &Superblock, recovery: &Recovery) {
    if !sb.clean || !recovery.records.is_empty() {
        tracing::info!(
            dir = %dir.display(),
            checkpoint = sb.checkpoint,
            records = recovery.records.len(),
            torn = ?recovery.torn,
            "recovering: replaying the WAL after the last checkpoint"
        );
    }
}

impl Inner {
    /// Applies the recovered records, in LSN order, without logging them.
    fn replay(&self, recovery: Recovery, dir: &Path) -> Result<()> {
        for record in recovery.records {
            let ops = payload::decode(record.kind, &record.payload).map_err(|e| {
                Error::corruption(dir, None, format!("WAL record LSN {}: {e}", record.lsn.0))
            })?;
            for op in ops {
                self.replay_op(op)?;
            }
        }
        Ok(())
    }

    fn replay_op(&self, op: BatchOp) -> Result<()> {
        self.config.check_key(op.key()).map_err(refuse_limit)?;
        match op {
            BatchOp::Put { key, value } => {
                self.config.check_value(&value).map_err(refuse_limit)?;
                let located = self.store_value(&value)?;
                self.index.insert(&key, located);
            }
            BatchOp::Delete { key } => {
                self.index.remove(&key);
            }
        }
        Ok(())
    }

    /// Removes what a crash may have left: checkpoints other than the one
    /// the superblock names (a crash between naming a new one and removing
    /// the old) and temporary files of an interrupted atomic write.
    fn remove_leftovers(&self) {
        let current = checkpoint_file_name(self.lifecycle.lock().superblock.checkpoint);
        let Ok(names) = self.vfs.list(&self.dir) else {
            return;
        };
        for name in names {
            let stale_checkpoint = name.starts_with("checkpoint-") && name != current;
            if stale_checkpoint || name.ends_with(".tmp") {
                if let Err(e) = self.vfs.remove_file(&self.dir.join(&name)) {
                    tracing::warn!(file = %name, error = %e, "could not remove a leftover file");
                }
            }
        }
    }

    /// Marks the superblock "not clean" for as long as the store is open.
    fn mark_open(&self, sb_path: &Path) -> Result<()> {
        let mut life = self.lifecycle.lock();
        let superblock = Superblock {
            generation: next_generation(life.superblock.generation, sb_path)?,
            clean: false,
            ..life.superblock
        };
        superblock.write(&*self.superblock_file)?;
        life.superblock = superblock;
        Ok(())
    }
}

/// A logged key or value over this open's limits: the limits must be
/// raised to open the store.
fn refuse_limit(e: Error) -> Error {
    Error::InvalidConfig {
        field: match e {
            Error::KeyTooLarge { .. } => "max_key_bytes",
            _ => "max_value_bytes",
        },
        reason: format!("the WAL holds a write over the limit ({e}); raise the limit"),
    }
}

/// Creates the superblock of a new store through a temporary file and a
/// rename, so a crash or an error leaves either no superblock (and no data)
/// or a valid one describing an empty, clean store.
fn create_superblock(vfs: &dyn Vfs, dir: &Path, config: &Config) -> Result<()> {
    refuse_orphan_data(vfs, dir)?;
    let initial = Superblock {
        page_bytes: u32::try_from(config.page_bytes).expect("page size fits u32"),
        generation: 0,
        checkpoint: 0,
        clean: true,
    };
    let mut bytes = vec![0u8; 2 * usize::try_from(COPY_BYTES).expect("4 KiB fits usize")];
    let encoded = initial.encode();
    bytes[..encoded.len()].copy_from_slice(&encoded);
    write_file_atomic(vfs, &dir.join(SUPERBLOCK_FILE), &bytes)
}

fn refuse_orphan_data(vfs: &dyn Vfs, dir: &Path) -> Result<()> {
    let orphan = vfs
        .list(dir)?
        .into_iter()
        .find(|name| DATA_FILE_PREFIXES.iter().any(|p| name.starts_with(p)));
    match orphan {
        Some(name) => Err(Error::corruption(
            dir.join(SUPERBLOCK_FILE),
            None,
            format!("superblock missing but data file {name} is present"),
        )),
        None => Ok(()),
    }
}

/// The page size on disk wins over the configured one.
fn adopt_page_size(config: &mut Config, page_bytes: u32) -> Result<()> {
    let on_disk = page_bytes as usize;
    if on_disk != config.page_bytes {
        tracing::info!(
            on_disk,
            configured = config.page_bytes,
            "using the store's page size"
        );
        config.page_bytes = on_disk;
        config.max_value_bytes = config.max_value_bytes.min(Config::value_ceiling(on_disk));
    }
    config.validate()
}

fn load_checkpoint(
    vfs: &dyn Vfs,
    dir: &Path,
    sb: &Superblock,
    config: &Config,
) -> Result<Checkpoint> {
    let cp = checkpoint::load(vfs, dir, sb)?;
    if let Some((key, _)) = cp
        .entries
        .iter()
        .find(|(k, _)| k.len() > config.max_key_bytes)
    {
        return Err(Error::InvalidConfig {
            field: "max_key_bytes",
            reason: format!(
                "the store holds a key of {} bytes; raise the limit",
                key.len()
            ),
        });
    }
    // As replay refuses a logged value over the limit: what the store
    // holds must not depend on whether a checkpoint ran before the restart.
    if let Some(longest) = cp.entries.iter().map(|(_, e)| e.len).max() {
        if longest as usize > config.max_value_bytes {
            return Err(Error::InvalidConfig {
                field: "max_value_bytes",
                reason: format!("the store holds a value of {longest} bytes; raise the limit"),
            });
        }
    }
    Ok(cp)
}

fn restore(
    disk: &DiskManager,
    index: &Index<DiskManager>,
    cp: Checkpoint,
    dir: &Path,
) -> Result<()> {
    let used = cp
        .entries
        .iter()
        .filter_map(|(_, e)| e.slot.map(|s| (s, e.len as usize)));
    disk.restore(&cp.segments, used)?;
    for (key, entry) in cp.entries {
        if index.insert(&key, index.located(entry)) {
            return Err(Error::corruption(
                dir.join(checkpoint_file_name(cp.generation)),
                None,
                "a key appears twice",
            ));
        }
    }
    Ok(())
}
