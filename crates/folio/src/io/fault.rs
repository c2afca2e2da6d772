//! [`FaultVfs`]: wraps another [`Vfs`] and fails chosen operations on
//! demand, for tests of error paths (EIO, ENOSPC, failed fsync).
//!
//! A fault names the operations it hits and the error they return, and is
//! either persistent (every matching call fails until `heal`) or armed to
//! fail only the n-th matching call from now.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::{DirLock, Vfs, VfsFile};
use crate::error::{Error, Result};

/// Operations a fault can hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultOp {
    /// `VfsFile::read_at`.
    Read,
    /// `VfsFile::write_all_at`.
    Write,
    /// `VfsFile::sync_data` and `Vfs::sync_dir`.
    Sync,
    /// Every operation.
    Any,
}

#[derive(Debug, Clone, Copy)]
struct Fault {
    op: FaultOp,
    kind: io::ErrorKind,
    /// Matching calls to let through before failing; `None` = fail all.
    skip: Option<u64>,
}

#[derive(Debug, Default)]
struct Plan {
    fault: Mutex<Option<Fault>>,
    injected: AtomicU64,
}

impl Plan {
    fn check(&self, op: FaultOp, path: &Path) -> Result<()> {
        let mut guard = self.fault.lock();
        let Some(fault) = guard.as_mut() else {
            return Ok(());
        };
        if fault.op != FaultOp::Any && fault.op != op {
            return Ok(());
        }
        let kind = fault.kind;
        match fault.skip {
            Some(0) => *guard = None,
            Some(n) => {
                fault.skip = Some(n - 1);
                return Ok(());
            }
            None => {}
        }
        self.injected.fetch_add(1, Ordering::Relaxed);
        let name = match op {
            FaultOp::Read => "read",
            FaultOp::Write => "write",
            FaultOp::Sync => "fsync",
            FaultOp::Any => "io",
        };
        Err(Error::io(
            name,
            path,
            io::Error::new(kind, "injected fault"),
        ))
    }
}

/// A [`Vfs`] that fails operations on demand.
#[derive(Debug, Clone)]
pub struct FaultVfs {
    inner: Arc<dyn Vfs>,
    plan: Arc<Plan>,
}

#[derive(Debug)]
struct FaultFile {
    inner: Arc<dyn VfsFile>,
    plan: Arc<Plan>,
}

impl FaultVfs {
    /// Wraps `inner`, with no fault set.
    pub fn new(inner: Arc<dyn Vfs>) -> Self {
        FaultVfs {
            inner,
            plan: Arc::default(),
        }
    }

    /// Every later `op` call fails with `kind` until [`Self::heal`].
    pub fn fail(&self, op: FaultOp, kind: io::ErrorKind) {
        *self.plan.fault.lock() = Some(Fault {
            op,
            kind,
            skip: None,
        });
    }

    /// Lets `skip` matching calls through, fails the next one with `kind`,
    /// then heals.
    pub fn fail_once_after(&self, op: FaultOp, skip: u64, kind: io::ErrorKind) {
        *self.plan.fault.lock() = Some(Fault {
            op,
            kind,
            skip: Some(skip),
        });
    }

    /// Removes the fault.
    pub fn heal(&self) {
        *self.plan.fault.lock() = None;
    }

    /// How many calls have failed so far.
    pub fn injected(&self) -> u64 {
        self.plan.injected.load(Ordering::Relaxed)
    }
}

impl VfsFile for FaultFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize> {
        self.plan.check(FaultOp::Read, self.inner.path())?;
        self.inner.read_at(buf, offset)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        self.plan.check(FaultOp::Write, self.inner.path())?;
        self.inner.write_all_at(buf, offset)
    }
    fn sync_data(&self) -> Result<()> {
        self.plan.check(FaultOp::Sync, self.inner.path())?;
        self.inner.sync_data()
    }
    fn size(&self) -> Result<u64> {
        self.inner.size()
    }
    fn set_len(&self, len: u64) -> Result<()> {
        self.plan.check(FaultOp::Write, self.inner.path())?;
        self.inner.set_len(len)
    }
    fn path(&self) -> &Path {
        self.inner.path()
    }
}

impl Vfs for FaultVfs {
    fn create_dir_all(&self, dir: &Path) -> Result<()> {
        self.inner.create_dir_all(dir)
    }
    fn open(&self, path: &Path, create: bool) -> Result<Arc<dyn VfsFile>> {
        let inner = self.inner.open(path, create)?;
        Ok(Arc::new(FaultFile {
            inner,
            plan: self.plan.clone(),
        }))
    }
    fn exists(&self, path: &Path) -> Result<bool> {
        self.inner.exists(path)
    }
    fn remove_file(&self, path: &Path) -> Result<()> {
        self.inner.remove_file(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        self.plan.check(FaultOp::Write, from)?;
        self.inner.rename(from, to)
    }
    fn list(&self, dir: &Path) -> Result<Vec<String>> {
        self.inner.list(dir)
    }
    fn sync_dir(&self, dir: &Path) -> Result<()> {
        self.plan.check(FaultOp::Sync, dir)?;
        self.inner.sync_dir(dir)
    }
    fn lock_dir(&self, dir: &Path) -> Result<Box<dyn DirLock>> {
        self.inner.lock_dir(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::MemVfs;

    #[test]
    fn persistent_and_one_shot_faults() {
        let vfs = FaultVfs::new(Arc::new(MemVfs::new()));
        vfs.create_dir_all(Path::new("/d")).unwrap();
        let f = vfs.open(Path::new("/d/f"), true).unwrap();
        vfs.fail(FaultOp::Sync, io::ErrorKind::StorageFull);
        f.write_all_at(b"x", 0).unwrap();
        assert!(matches!(f.sync_data(), Err(Error::StorageFull { .. })));
        vfs.heal();
        f.sync_data().unwrap();
        vfs.fail_once_after(FaultOp::Write, 2, io::ErrorKind::Other);
        f.write_all_at(b"a", 0).unwrap();
        f.write_all_at(b"b", 0).unwrap();
        assert!(f.write_all_at(b"c", 0).is_err());
        f.write_all_at(b"d", 0).unwrap();
        assert_eq!(vfs.injected(), 2);
    }
}
