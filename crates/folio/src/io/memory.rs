//! [`MemVfs`]: an in-memory file system. Clones share the same files, so a
//! test can close a store and reopen it from the same `MemVfs`. Every write
//! is immediately "durable" (there is no crash to survive in memory).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use super::{DirLock, Vfs, VfsFile};
use crate::error::{Error, Result};

/// An in-memory file system.
#[derive(Debug, Default, Clone)]
pub struct MemVfs {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    files: Mutex<HashMap<PathBuf, Arc<MemFile>>>,
    dirs: Mutex<HashSet<PathBuf>>,
    locks: Mutex<HashSet<PathBuf>>,
}

#[derive(Debug)]
struct MemFile {
    path: PathBuf,
    data: RwLock<Vec<u8>>,
}

#[derive(Debug)]
struct MemDirLock {
    inner: Arc<Inner>,
    dir: PathBuf,
}

impl DirLock for MemDirLock {}

impl Drop for MemDirLock {
    fn drop(&mut self) {
        self.inner.locks.lock().remove(&self.dir);
    }
}

impl MemVfs {
    /// An empty file system.
    pub fn new() -> Self {
        Self::default()
    }

    fn not_found(op: &'static str, path: &Path) -> Error {
        Error::io(op, path, std::io::ErrorKind::NotFound.into())
    }

    /// Direct access to a file's bytes, for tests that damage files.
    pub fn with_file_bytes<R>(&self, path: &Path, f: impl FnOnce(&mut Vec<u8>) -> R) -> Option<R> {
        let file = self.inner.files.lock().get(path).cloned()?;
        let mut data = file.data.write();
        Some(f(&mut data))
    }
}

fn to_usize(offset: u64, path: &Path) -> Result<usize> {
    usize::try_from(offset).map_err(|_| {
        Error::io(
            "seek",
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "offset overflows usize"),
        )
    })
}

impl VfsFile for MemFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize> {
        let data = self.data.read();
        let start = to_usize(offset, &self.path)?.min(data.len());
        let n = buf.len().min(data.len() - start);
        buf[..n].copy_from_slice(&data[start..start + n]);
        Ok(n)
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        let start = to_usize(offset, &self.path)?;
        let mut data = self.data.write();
        let end = start + buf.len();
        if data.len() < end {
            data.resize(end, 0);
        }
        data[start..end].copy_from_slice(buf);
        Ok(())
    }

    fn sync_data(&self) -> Result<()> {
        Ok(())
    }

    fn size(&self) -> Result<u64> {
        Ok(self.data.read().len() as u64)
    }

    fn set_len(&self, len: u64) -> Result<()> {
        let len = to_usize(len, &self.path)?;
        self.data.write().resize(len, 0);
        Ok(())
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Vfs for MemVfs {
    fn create_dir_all(&self, dir: &Path) -> Result<()> {
        let mut dirs = self.inner.dirs.lock();
        for ancestor in dir.ancestors() {
            dirs.insert(ancestor.to_path_buf());
        }
        Ok(())
    }

    fn open(&self, path: &Path, create: bool) -> Result<Arc<dyn VfsFile>> {
        let mut files = self.inner.files.lock();
        if let Some(file) = files.get(path) {
            return Ok(file.clone());
        }
        let parent_exists = path
            .parent()
            .is_none_or(|p| p.as_os_str().is_empty() || self.inner.dirs.lock().contains(p));
        if !create || !parent_exists {
            return Err(Self::not_found("open", path));
        }
        let file = Arc::new(MemFile {
            path: path.to_path_buf(),
            data: RwLock::new(Vec::new()),
        });
        files.insert(path.to_path_buf(), file.clone());
        Ok(file)
    }

    fn exists(&self, path: &Path) -> Result<bool> {
        Ok(self.inner.files.lock().contains_key(path) || self.inner.dirs.lock().contains(path))
    }

    fn remove_file(&self, path: &Path) -> Result<()> {
        match self.inner.files.lock().remove(path) {
            Some(_) => Ok(()),
            None => Err(Self::not_found("remove", path)),
        }
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        let mut files = self.inner.files.lock();
        let file = files
            .remove(from)
            .ok_or_else(|| Self::not_found("rename", from))?;
        let renamed = Arc::new(MemFile {
            path: to.to_path_buf(),
            data: RwLock::new(std::mem::take(&mut *file.data.write())),
        });
        files.insert(to.to_path_buf(), renamed);
        Ok(())
    }

    fn list(&self, dir: &Path) -> Result<Vec<String>> {
        if !self.inner.dirs.lock().contains(dir) {
            return Err(Self::not_found("list", dir));
        }
        let files = self.inner.files.lock();
        Ok(files
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect())
    }

    fn sync_dir(&self, _dir: &Path) -> Result<()> {
        Ok(())
    }

    fn lock_dir(&self, dir: &Path) -> Result<Box<dyn DirLock>> {
        if !self.inner.locks.lock().insert(dir.to_path_buf()) {
            return Err(Error::Locked {
                path: dir.to_path_buf(),
            });
        }
        Ok(Box::new(MemDirLock {
            inner: self.inner.clone(),
            dir: dir.to_path_buf(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{read_file, write_file_atomic};

    #[test]
    fn write_read_rename_list() {
        let vfs = MemVfs::new();
        let dir = Path::new("/d");
        vfs.create_dir_all(dir).unwrap();
        write_file_atomic(&vfs, &dir.join("a"), b"hello").unwrap();
        assert_eq!(read_file(&vfs, &dir.join("a")).unwrap(), b"hello");
        assert_eq!(vfs.list(dir).unwrap(), vec!["a".to_string()]);
        let f = vfs.open(&dir.join("a"), false).unwrap();
        f.write_all_at(b"XY", 10).unwrap();
        assert_eq!(f.size().unwrap(), 12);
        let mut buf = [9u8; 8];
        assert_eq!(f.read_at(&mut buf, 4).unwrap(), 8);
        assert_eq!(&buf, b"o\0\0\0\0\0XY");
    }

    #[test]
    fn lock_is_exclusive_until_dropped() {
        let vfs = MemVfs::new();
        let dir = Path::new("/d");
        let lock = vfs.lock_dir(dir).unwrap();
        assert!(matches!(vfs.lock_dir(dir), Err(Error::Locked { .. })));
        drop(lock);
        vfs.lock_dir(dir).unwrap();
    }
}
