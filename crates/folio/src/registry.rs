//! Opening a backend by name, and removing a store's files.

use std::path::Path;
use std::sync::Arc;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::io::{FileVfs, Vfs};
use crate::kv::KvStore;
use crate::memory::{MemoryStore, SNAPSHOT_PREFIX};
use crate::store::{PagedStore, SUPERBLOCK_FILE};

/// Names of the engines this build can open.
pub const ENGINES: &[&str] = &[crate::store::ENGINE_NAME, crate::memory::ENGINE_NAME];

/// Opens (or creates) the store at `path` with the engine named `engine`.
/// This is the *init* operation of the pluggable interface.
///
/// A relative `path` is resolved against the working directory once, here:
/// the store names its files by the absolute path, so a later `chdir` of
/// the process cannot send new segments or logs to another directory.
pub fn open(engine: &str, path: &Path, config: &Config) -> Result<Box<dyn KvStore>> {
    let path = std::path::absolute(path).map_err(|e| Error::io("resolve", path, e))?;
    open_with_vfs(engine, Arc::new(FileVfs), &path, config)
}

/// As [`open`], through `vfs` (an in-memory or crash-simulating file
/// system, for tests).
pub fn open_with_vfs(
    engine: &str,
    vfs: Arc<dyn Vfs>,
    path: &Path,
    config: &Config,
) -> Result<Box<dyn KvStore>> {
    match engine {
        crate::store::ENGINE_NAME => Ok(Box::new(PagedStore::open_with_vfs(vfs, path, config)?)),
        crate::memory::ENGINE_NAME => Ok(Box::new(MemoryStore::open_with_vfs(vfs, path, config)?)),
        _ => Err(Error::UnknownEngine {
            name: engine.to_string(),
            known: ENGINES.to_vec(),
        }),
    }
}

/// Refuses a directory holding a file whose name starts with one of
/// `prefixes`, the files of the engine `owner`: an engine must not take
/// another's store for a damaged one of its own.
pub(crate) fn refuse_other_engine(
    dir: &Path,
    names: &[String],
    prefixes: &[&str],
    owner: &str,
) -> Result<()> {
    match names
        .iter()
        .find(|n| prefixes.iter().any(|p| n.starts_with(p)))
    {
        Some(name) => Err(Error::InvalidConfig {
            field: "engine",
            reason: format!(
                "{} holds a store of another engine ({name}); open it with engine \"{owner}\"",
                dir.display()
            ),
        }),
        None => Ok(()),
    }
}

/// Removes every file of the closed store at `path` (of any engine), then
/// the directory if it is empty. Fails with `Locked` while the store is
/// open.
pub fn remove_store(path: &Path) -> Result<()> {
    let vfs = FileVfs;
    if !vfs.exists(path)? {
        return Ok(());
    }
    let lock = vfs.lock_dir(path)?;
    for name in vfs.list(path)? {
        let ours = name == SUPERBLOCK_FILE
            || crate::store::DATA_FILE_PREFIXES
                .iter()
                .chain(&[SNAPSHOT_PREFIX])
                .any(|p| name.starts_with(p));
        if ours {
            vfs.remove_file(&path.join(&name))?;
        }
    }
    // Unlink the lock file while still holding its lock. An opener that
    // opened the old file before and locks it after finds it no longer
    // named `LOCK` and tries again on the new one (`FileVfs::lock_dir`).
    vfs.remove_file(&path.join("LOCK"))?;
    drop(lock);
    vfs.sync_dir(path)?;
    // Leave the directory when it holds files that are not ours.
    let _ = std::fs::remove_dir(path);
    Ok(())
}
