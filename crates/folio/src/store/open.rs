//! Opening and closing a [`PagedStore`]: superblock, checkpoint, restore.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use parking_lot::Mutex;

use super::checkpoint::{self, checkpoint_file_name, Checkpoint};
use super::superblock::{Superblock, COPY_BYTES, SUPERBLOCK_FILE};
use super::{Lifecycle, PagedStore};
use crate::buffer::replacer::new_replacer;
use crate::buffer::BufferPool;
use crate::config::Config;
use crate::disk::DiskManager;
use crate::error::{Error, Result};
use crate::gate::Gate;
use crate::index::Index;
use crate::io::{write_file_atomic, Vfs, VfsFile};

/// File-name prefixes of the files a store owns (besides the superblock and
/// the lock file).
pub(crate) const DATA_FILE_PREFIXES: [&str; 2] = ["segment-", "checkpoint-"];

impl PagedStore {
    /// Opens or creates the store in `dir` through `vfs`.
    pub fn open_with_vfs(vfs: Arc<dyn Vfs>, dir: &Path, config: &Config) -> Result<Self> {
        config.validate()?;
        vfs.create_dir_all(dir)?;
        let lock = vfs.lock_dir(dir)?;
        let sb_path = dir.join(SUPERBLOCK_FILE);
        if !vfs.exists(&sb_path)? {
            create_superblock(&*vfs, dir, config)?;
        }
        let superblock_file = vfs.open(&sb_path, false)?;
        let mut superblock = read_superblock(&*superblock_file, dir)?;
        let mut config = config.clone();
        adopt_page_size(&mut config, superblock.page_bytes)?;

        let disk = Arc::new(DiskManager::new(vfs.clone(), dir, config.page_bytes));
        let index = Index::new(disk.clone());
        if superblock.checkpoint != 0 {
            let cp = load_checkpoint(&*vfs, dir, &superblock, &config)?;
            restore(&disk, &index, cp, dir)?;
        }
        let pool = BufferPool::new(
            config.frames(),
            config.page_bytes,
            new_replacer(config.replacer, config.frames()),
            disk.clone(),
        );
        superblock.generation = next_generation(superblock.generation, &sb_path)?;
        superblock.clean = false;
        superblock.write(&*superblock_file)?;
        Ok(PagedStore {
            dir: dir.to_path_buf(),
            vfs,
            config,
            index,
            pool,
            disk,
            superblock_file,
            lifecycle: Mutex::new(Lifecycle {
                superblock,
                lock: Some(lock),
            }),
            gate: Gate::default(),
            closed: AtomicBool::new(false),
        })
    }

    /// Writes everything back, then a checkpoint and a clean superblock.
    /// Called with the gate held exclusively; may be called again after a
    /// failure.
    pub(super) fn shut_down(&self) -> Result<()> {
        let mut life = self.lifecycle.lock();
        self.refuse_if_poisoned()?;
        self.pool.flush_all()?;
        self.sync_segments()?;
        // A write-back by a racing miss may have failed after the flush:
        // never write a clean superblock over pages that are not on disk.
        self.refuse_if_poisoned()?;
        let sb_path = self.dir.join(SUPERBLOCK_FILE);
        let previous = life.superblock.checkpoint;
        let generation = next_generation(previous, &sb_path)?;
        let bytes = checkpoint::encode(
            u32::try_from(self.config.page_bytes).expect("page size fits u32"),
            generation,
            &self.disk.segment_metas(),
            |visit| self.index.for_each_entry(|k, e| visit(k, e)),
        );
        write_file_atomic(
            &*self.vfs,
            &self.dir.join(checkpoint_file_name(generation)),
            &bytes,
        )?;
        let superblock = Superblock {
            generation: next_generation(life.superblock.generation, &sb_path)?,
            checkpoint: generation,
            clean: true,
            ..life.superblock
        };
        superblock.write(&*self.superblock_file)?;
        life.superblock = superblock;
        if previous != 0 {
            let old = self.dir.join(checkpoint_file_name(previous));
            if let Err(e) = self.vfs.remove_file(&old) {
                tracing::warn!(error = %e, "could not remove an old checkpoint");
            }
        }
        life.lock = None;
        Ok(())
    }
}

impl PagedStore {
    /// Pages may be missing from disk after a failed write-back: leave the
    /// store marked unclean rather than checkpoint it.
    fn refuse_if_poisoned(&self) -> Result<()> {
        match self.pool.poisoned() {
            Some(cause) => Err(Error::Poisoned {
                cause: cause.to_string(),
            }),
            None => Ok(()),
        }
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

/// `generation + 1`, or corruption when a damaged file says `u64::MAX`.
fn next_generation(generation: u64, path: &Path) -> Result<u64> {
    generation
        .checked_add(1)
        .ok_or_else(|| Error::corruption(path, None, "generation counter at its maximum"))
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

fn read_superblock(file: &dyn VfsFile, dir: &Path) -> Result<Superblock> {
    let superblock = Superblock::read(file)?;
    if !superblock.clean {
        return Err(Error::Unclean {
            path: dir.to_path_buf(),
            reason: "it was not closed, and this version has no write-ahead log to recover \
                     from; its last cleanly closed state cannot be trusted"
                .to_string(),
        });
    }
    Ok(superblock)
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
    Ok(cp)
}

fn restore(disk: &DiskManager, index: &Index, cp: Checkpoint, dir: &Path) -> Result<()> {
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
