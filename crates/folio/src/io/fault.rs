//! [`FaultVfs`]: wraps another [`Vfs`] and fails chosen operations on
//! demand, for tests of error paths (EIO, ENOSPC, failed fsync).
//!
//! A fault names the operations it hits and the error they return, and is
//! either persistent (every matching call from the n-th on fails until
//! `heal`) or armed to fail only the n-th matching call from now. A failing
//! write can be made short: it writes the first half of its buffer, then
//! fails, as a write cut by a full disk does. A fault can be limited to the
//! paths with a given ending (`.spare`).
//!
//! Beside faults, a slow disk (every fsync sleeps) and a sync gate: while
//! it is closed every fsync, of a file or a directory, waits at it, which
//! holds a thread in the middle of its I/O for as long as a test needs.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

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
    /// `Vfs::open`, `Vfs::rename` and `Vfs::remove_file`.
    Open,
    /// Every operation.
    Any,
}

#[derive(Debug, Clone, Copy)]
struct Fault {
    op: FaultOp,
    kind: io::ErrorKind,
    /// Matching calls to let through before failing.
    skip: u64,
    /// Fail every matching call after `skip`, not just one.
    persistent: bool,
    /// Only paths ending so match (`None`: every path).
    path_ending: Option<&'static str>,
}

#[derive(Debug, Default)]
struct Plan {
    fault: Mutex<Option<Fault>>,
    injected: AtomicU64,
    short_writes: std::sync::atomic::AtomicBool,
    /// Microseconds every file fsync sleeps before it runs: a slow disk.
    sync_delay_us: AtomicU64,
    gate: Mutex<SyncGate>,
    gate_changed: Condvar,
}

/// While `closed`, fsyncs wait; `held` are the threads waiting.
#[derive(Debug, Default)]
struct SyncGate {
    closed: bool,
    held: Vec<std::thread::ThreadId>,
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
        if fault.path_ending.is_some_and(|ending| {
            !path
                .as_os_str()
                .as_encoded_bytes()
                .ends_with(ending.as_bytes())
        }) {
            return Ok(());
        }
        let kind = fault.kind;
        if fault.skip > 0 {
            fault.skip -= 1;
            return Ok(());
        }
        if !fault.persistent {
            *guard = None;
        }
        self.injected.fetch_add(1, Ordering::Relaxed);
        let name = match op {
            FaultOp::Read => "read",
            FaultOp::Write => "write",
            FaultOp::Sync => "fsync",
            FaultOp::Open => "open",
            FaultOp::Any => "io",
        };
        Err(Error::io(
            name,
            path,
            io::Error::new(kind, "injected fault"),
        ))
    }

    /// An fsync's way through the gate: at once while it is open.
    fn pass_sync_gate(&self) {
        let mut gate = self.gate.lock();
        if !gate.closed {
            return;
        }
        let me = std::thread::current().id();
        gate.held.push(me);
        self.gate_changed.notify_all();
        while gate.closed {
            self.gate_changed.wait(&mut gate);
        }
        gate.held.retain(|&id| id != me);
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
        self.fail_from(op, 0, kind);
    }

    /// Lets `skip` matching calls through, then fails every later one with
    /// `kind` until [`Self::heal`].
    pub fn fail_from(&self, op: FaultOp, skip: u64, kind: io::ErrorKind) {
        *self.plan.fault.lock() = Some(Fault {
            op,
            kind,
            skip,
            persistent: true,
            path_ending: None,
        });
    }

    /// Every later `op` call on a path ending with `ending` fails with
    /// `kind` until [`Self::heal`]; other paths are not touched.
    pub fn fail_paths_ending(&self, op: FaultOp, ending: &'static str, kind: io::ErrorKind) {
        *self.plan.fault.lock() = Some(Fault {
            op,
            kind,
            skip: 0,
            persistent: true,
            path_ending: Some(ending),
        });
    }

    /// With `short`, a failing write first writes half its buffer.
    pub fn set_short_writes(&self, short: bool) {
        self.plan.short_writes.store(short, Ordering::Relaxed);
    }

    /// Lets `skip` matching calls through, fails the next one with `kind`,
    /// then heals.
    pub fn fail_once_after(&self, op: FaultOp, skip: u64, kind: io::ErrorKind) {
        *self.plan.fault.lock() = Some(Fault {
            op,
            kind,
            skip,
            persistent: false,
            path_ending: None,
        });
    }

    /// Makes every later file fsync take `delay` longer (a slow disk), so
    /// that tests can tell "acknowledged after the fsync" from "usually
    /// fsynced by the time anyone looks".
    pub fn set_sync_delay(&self, delay: std::time::Duration) {
        let us = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
        self.plan.sync_delay_us.store(us, Ordering::Relaxed);
    }

    /// Closes the sync gate: every later fsync, of a file or a directory,
    /// waits until [`Self::open_sync_gate`].
    pub fn close_sync_gate(&self) {
        self.plan.gate.lock().closed = true;
    }

    /// Opens the sync gate and lets every fsync held at it go on.
    pub fn open_sync_gate(&self) {
        self.plan.gate.lock().closed = false;
        self.plan.gate_changed.notify_all();
    }

    /// Waits until an fsync is held at the closed gate; returns the
    /// threads held there.
    pub fn wait_for_held_sync(&self) -> Vec<std::thread::ThreadId> {
        let mut gate = self.plan.gate.lock();
        while gate.held.is_empty() {
            self.plan.gate_changed.wait(&mut gate);
        }
        gate.held.clone()
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
        if let Err(e) = self.plan.check(FaultOp::Write, self.inner.path()) {
            if self.plan.short_writes.load(Ordering::Relaxed) && buf.len() > 1 {
                self.inner.write_all_at(&buf[..buf.len() / 2], offset)?;
            }
            return Err(e);
        }
        self.inner.write_all_at(buf, offset)
    }
    fn sync_data(&self) -> Result<()> {
        self.plan.pass_sync_gate();
        self.plan.check(FaultOp::Sync, self.inner.path())?;
        let delay_us = self.plan.sync_delay_us.load(Ordering::Relaxed);
        if delay_us > 0 {
            std::thread::sleep(std::time::Duration::from_micros(delay_us));
        }
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
        self.plan.check(FaultOp::Open, path)?;
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
        self.plan.check(FaultOp::Open, path)?;
        self.inner.remove_file(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        self.plan.check(FaultOp::Open, from)?;
        self.inner.rename(from, to)
    }
    fn list(&self, dir: &Path) -> Result<Vec<String>> {
        self.inner.list(dir)
    }
    fn sync_dir(&self, dir: &Path) -> Result<()> {
        self.plan.pass_sync_gate();
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
        vfs.set_short_writes(true);
        vfs.fail_from(FaultOp::Write, 1, io::ErrorKind::StorageFull);
        f.write_all_at(b"ok", 0).unwrap();
        assert!(f.write_all_at(b"wxyz", 0).is_err());
        let mut buf = [0u8; 4];
        f.read_at(&mut buf, 0).unwrap();
        assert_eq!(&buf[..2], b"wx", "a short write lands its first half");
        assert!(f.write_all_at(b"again", 8).is_err(), "persistent");
        vfs.heal();
        f.write_all_at(b"fine", 8).unwrap();
    }

    #[test]
    fn a_fault_limited_to_a_path_ending_spares_other_paths() {
        let vfs = FaultVfs::new(Arc::new(MemVfs::new()));
        vfs.create_dir_all(Path::new("/d")).unwrap();
        vfs.fail_paths_ending(FaultOp::Open, ".spare", io::ErrorKind::StorageFull);
        assert!(vfs.open(Path::new("/d/1.spare"), true).is_err());
        assert!(vfs.open(Path::new("/d/1.wal"), true).is_ok());
        assert!(vfs.open(Path::new("/d/spare.wal"), true).is_ok());
        assert_eq!(vfs.injected(), 1);
    }

    #[test]
    fn the_sync_gate_holds_fsyncs_until_opened() {
        let vfs = FaultVfs::new(Arc::new(MemVfs::new()));
        vfs.create_dir_all(Path::new("/d")).unwrap();
        let f = vfs.open(Path::new("/d/f"), true).unwrap();
        f.sync_data().unwrap(); // open: passes
        vfs.close_sync_gate();
        let synced = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let syncer = {
            let (vfs, synced) = (vfs.clone(), synced.clone());
            std::thread::spawn(move || {
                vfs.sync_dir(Path::new("/d")).unwrap();
                synced.store(true, Ordering::SeqCst);
            })
        };
        assert_eq!(vfs.wait_for_held_sync(), vec![syncer.thread().id()]);
        assert!(!synced.load(Ordering::SeqCst), "held at the gate");
        vfs.open_sync_gate();
        syncer.join().unwrap();
        assert!(synced.load(Ordering::SeqCst));
        f.sync_data().unwrap();
    }
}
