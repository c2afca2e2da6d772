//! [`FileVfs`]: the operating system's files, through positional reads and
//! writes (`pread`/`pwrite`), `fdatasync`, and `flock` on the directory.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{DirLock, Vfs, VfsFile};
use crate::error::{Error, Result};

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct FileVfs;

#[derive(Debug)]
struct OsFile {
    file: File,
    path: PathBuf,
}

/// Tries at locking a `LOCK` file that is replaced under the opener
/// before it reports the store locked.
const LOCK_ATTEMPTS: usize = 8;

/// True when `path` names the very file `file` has open (not a file that
/// replaced it, and not nothing).
fn still_named(file: &File, path: &Path) -> Result<bool> {
    let open = file.metadata().map_err(|e| Error::io("stat", path, e))?;
    match fs::metadata(path) {
        Ok(named) => Ok((named.dev(), named.ino()) == (open.dev(), open.ino())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io("stat", path, e)),
    }
}

#[derive(Debug)]
struct OsDirLock {
    _file: File,
}

impl DirLock for OsDirLock {}

impl VfsFile for OsFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize> {
        loop {
            match self.file.read_at(buf, offset) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => return other.map_err(|e| Error::io("read", &self.path, e)),
            }
        }
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        self.file
            .write_all_at(buf, offset)
            .map_err(|e| Error::io("write", &self.path, e))
    }

    fn sync_data(&self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(|e| Error::io("fsync", &self.path, e))
    }

    fn size(&self) -> Result<u64> {
        Ok(self
            .file
            .metadata()
            .map_err(|e| Error::io("stat", &self.path, e))?
            .len())
    }

    fn set_len(&self, len: u64) -> Result<()> {
        self.file
            .set_len(len)
            .map_err(|e| Error::io("truncate", &self.path, e))
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Vfs for FileVfs {
    fn create_dir_all(&self, dir: &Path) -> Result<()> {
        fs::create_dir_all(dir).map_err(|e| Error::io("mkdir", dir, e))
    }

    fn open(&self, path: &Path, create: bool) -> Result<Arc<dyn VfsFile>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(false)
            .open(path)
            .map_err(|e| Error::io("open", path, e))?;
        Ok(Arc::new(OsFile {
            file,
            path: path.to_path_buf(),
        }))
    }

    fn exists(&self, path: &Path) -> Result<bool> {
        path.try_exists().map_err(|e| Error::io("stat", path, e))
    }

    fn remove_file(&self, path: &Path) -> Result<()> {
        fs::remove_file(path).map_err(|e| Error::io("remove", path, e))
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        fs::rename(from, to).map_err(|e| Error::io("rename", from, e))
    }

    fn list(&self, dir: &Path) -> Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))? {
            let entry = entry.map_err(|e| Error::io("list", dir, e))?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        Ok(names)
    }

    fn sync_dir(&self, dir: &Path) -> Result<()> {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io("fsync dir", dir, e))
    }

    fn lock_dir(&self, dir: &Path) -> Result<Box<dyn DirLock>> {
        let path = dir.join("LOCK");
        // A store being removed unlinks `LOCK` while holding its lock: an
        // opener that opened the old file just before may lock it after,
        // while a second opener creates and locks a new one. The lock
        // counts only if the path still names the file locked.
        for _ in 0..LOCK_ATTEMPTS {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| Error::io("open", &path, e))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(Error::Locked {
                        path: dir.to_path_buf(),
                    })
                }
                Err(fs::TryLockError::Error(e)) => return Err(Error::io("lock", &path, e)),
            }
            if still_named(&file, &path)? {
                return Ok(Box::new(OsDirLock { _file: file }));
            }
        }
        Err(Error::Locked {
            path: dir.to_path_buf(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lock taken on a `LOCK` file that was unlinked, or replaced, since
    /// it was opened guards nothing: `still_named` tells.
    #[test]
    fn a_lock_file_replaced_after_it_was_opened_is_not_still_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("LOCK");
        let old = File::create(&path).unwrap();
        assert!(still_named(&old, &path).unwrap());
        fs::remove_file(&path).unwrap();
        assert!(!still_named(&old, &path).unwrap(), "unlinked");
        let new = File::create(&path).unwrap();
        assert!(!still_named(&old, &path).unwrap(), "replaced");
        assert!(still_named(&new, &path).unwrap());
    }

    #[test]
    fn a_directory_locked_once_is_locked_for_a_second_opener() {
        let dir = tempfile::tempdir().unwrap();
        let held = FileVfs.lock_dir(dir.path()).unwrap();
        assert!(matches!(
            FileVfs.lock_dir(dir.path()),
            Err(Error::Locked { .. })
        ));
        drop(held);
        FileVfs.lock_dir(dir.path()).unwrap();
    }
}
