//! The one I/O seam: every byte the engine reads or writes goes through
//! [`Vfs`] and [`VfsFile`].
//!
//! Implementations: [`FileVfs`] (the operating system's files) and
//! [`MemVfs`] (in memory, for tests and for stores that need no disk), and
//! [`FaultVfs`] (wraps another and fails chosen operations, for tests), and
//! [`CrashVfs`] (keeps unsynced data apart, to build crash states).
//!
//! Contract of an implementation:
//! - `read_at` fills as much of `buf` as the file holds from `offset` and
//!   returns the count; fewer than `buf.len()` only at end of file.
//! - `write_all_at` writes all of `buf` or returns an error; the file grows
//!   as needed (holes read back as zeros).
//! - Nothing written is durable until `sync_data` returns `Ok`; a created or
//!   renamed file is durable only after `sync_dir` of its directory.
//! - Errors carry the operation and the path (`Error::Io`), ENOSPC becomes
//!   `Error::StorageFull`.

mod crash;
mod fault;
mod file;
mod memory;

use std::fmt::Debug;
use std::path::Path;
use std::sync::Arc;

pub use crash::{CrashPolicy, CrashVfs, SECTOR_BYTES};
pub use fault::{FaultOp, FaultVfs};
pub use file::FileVfs;
pub use memory::MemVfs;

use crate::error::{Error, Result};

/// An open file with positional I/O.
pub trait VfsFile: Send + Sync + Debug {
    /// Reads from `offset` into `buf`; returns the bytes read, short only at
    /// end of file.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize>;
    /// Writes all of `buf` at `offset`.
    fn write_all_at(&self, buf: &[u8], offset: u64) -> Result<()>;
    /// Makes the file's data durable (fdatasync).
    fn sync_data(&self) -> Result<()>;
    /// The file's length in bytes.
    fn size(&self) -> Result<u64>;
    /// Truncates or extends the file.
    fn set_len(&self, len: u64) -> Result<()>;
    /// The path the file was opened with.
    fn path(&self) -> &Path;
}

/// A lock on a store's directory; released on drop.
pub trait DirLock: Send + Sync + Debug {}

/// A file system.
pub trait Vfs: Send + Sync + Debug {
    /// Creates `dir` and its parents. Like `mkdir`, a new directory's entry
    /// is durable only once its parent is synced: [`create_dir_durable`].
    fn create_dir_all(&self, dir: &Path) -> Result<()>;
    /// Opens `path` for reading and writing, creating it when `create`.
    fn open(&self, path: &Path, create: bool) -> Result<Arc<dyn VfsFile>>;
    /// True when `path` exists.
    fn exists(&self, path: &Path) -> Result<bool>;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> Result<()>;
    /// Atomically renames `from` to `to`, replacing `to`.
    fn rename(&self, from: &Path, to: &Path) -> Result<()>;
    /// Names of the files in `dir`.
    fn list(&self, dir: &Path) -> Result<Vec<String>>;
    /// Makes creations, removals and renames in `dir` durable.
    fn sync_dir(&self, dir: &Path) -> Result<()>;
    /// Takes an exclusive lock on the directory `dir`, or fails with
    /// `Error::Locked` when another holder has it.
    fn lock_dir(&self, dir: &Path) -> Result<Box<dyn DirLock>>;
}

/// Reads exactly `buf.len()` bytes at `offset`, or returns how many bytes the
/// file held there when it ends early.
pub fn read_full(file: &dyn VfsFile, buf: &mut [u8], offset: u64) -> Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        let n = file.read_at(&mut buf[done..], offset + done as u64)?;
        if n == 0 {
            break;
        }
        done += n;
    }
    Ok(done)
}

/// Creates `dir` and its missing parents and makes every creation durable:
/// the parent of each directory it created is synced, outermost first, and
/// `dir`'s parent in any case (an earlier attempt, or a script's `mkdir`,
/// may have created `dir` without syncing it). After `Ok`, a crash cannot
/// lose `dir` (and with it every file in it).
pub fn create_dir_durable(vfs: &dyn Vfs, dir: &Path) -> Result<()> {
    let mut missing = Vec::new();
    for ancestor in dir.ancestors().filter(|a| !a.as_os_str().is_empty()) {
        if vfs.exists(ancestor)? {
            break;
        }
        missing.push(ancestor);
    }
    vfs.create_dir_all(dir)?;
    for created in missing.iter().rev() {
        vfs.sync_dir(parent_dir(created))?;
    }
    if missing.is_empty() {
        vfs.sync_dir(parent_dir(dir))?;
    }
    Ok(())
}

/// The directory holding `path`: `.` for a bare relative name.
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Writes `bytes` to `path` through a temporary file, syncs it, renames it
/// into place and syncs the directory: after `Ok`, `path` holds `bytes` or
/// (after a crash before the rename) its old contents. A failed write
/// removes its temporary file.
pub fn write_file_atomic(vfs: &dyn Vfs, path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let written = (|| {
        let file = vfs.open(&tmp, true)?;
        file.set_len(0)?;
        file.write_all_at(bytes, 0)?;
        file.sync_data()?;
        drop(file);
        vfs.rename(&tmp, path)
    })();
    if let Err(e) = written {
        discard_tmp(vfs, &tmp);
        return Err(e);
    }
    if let Some(dir) = path.parent() {
        vfs.sync_dir(dir)?;
    }
    Ok(())
}

/// Removes the temporary file of a write that failed, as far as it can: on
/// a full disk it may be the space the user is told to free. (A crash
/// leaves it to the next open's clean-up.)
pub(crate) fn discard_tmp(vfs: &dyn Vfs, tmp: &Path) {
    match vfs.remove_file(tmp) {
        Ok(()) => {}
        Err(crate::Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(file = %tmp.display(), error = %e, "could not remove a temporary file");
        }
    }
}

/// Reads a whole file.
pub fn read_file(vfs: &dyn Vfs, path: &Path) -> Result<Vec<u8>> {
    let file = vfs.open(path, false)?;
    let size = file.size()?;
    let mut buf = Vec::new();
    // A damaged or sparse file may claim any size: fail, do not abort.
    usize::try_from(size)
        .ok()
        .and_then(|len| buf.try_reserve_exact(len).ok().map(|()| len))
        .ok_or_else(|| {
            Error::io(
                "read",
                path,
                std::io::Error::new(
                    std::io::ErrorKind::OutOfMemory,
                    format!("file of {size} bytes does not fit in memory"),
                ),
            )
        })?;
    buf.resize(buf.capacity(), 0);
    let n = read_full(&*file, &mut buf, 0)?;
    buf.truncate(n);
    Ok(buf)
}
