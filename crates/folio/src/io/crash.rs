//! [`CrashVfs`]: an in-memory file system that keeps what was written apart
//! from what was made durable, so tests can ask "what would a machine that
//! lost power right now find on its disk?".
//!
//! Model (what Folio assumes of real media; docs/ARCHITECTURE.md):
//! - A file's bytes are durable up to its last `sync_data`; writes and
//!   length changes since then may be lost, kept, kept in part, or torn at a
//!   512-byte sector boundary.
//! - A file's existence and name are durable once its directory was synced
//!   after the creation or rename; otherwise the crash may forget them.
//! - So is a directory's: one created since its parent's last sync is lost
//!   in a crash, with everything in it. Root directories always survive.
//!
//! [`CrashVfs::crash_state`] builds such a state as a fresh `CrashVfs` (all
//! of it durable). [`CrashVfs::crash_after`] makes every I/O after the n-th
//! fail, as if the process died there — for sweeps over every crash point.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use rand::Rng;

use super::{parent_dir, DirLock, MemVfs, Vfs, VfsFile};
use crate::error::{Error, Result};

/// Sector size for torn writes.
pub const SECTOR_BYTES: usize = 512;

/// What a crash does to unsynced data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CrashPolicy {
    /// Every unsynced write and length change is lost.
    DropUnsynced,
    /// Each unsynced operation survives or not at random, independently.
    RandomSubset,
    /// All unsynced operations survive but the last, which is torn: a
    /// random whole number of its sectors reaches the disk.
    TearLast,
    /// Everything written survives (the OS flushed in time).
    KeepAll,
}

impl CrashPolicy {
    /// Every policy, for sweeps.
    pub const ALL: [CrashPolicy; 4] = [
        CrashPolicy::DropUnsynced,
        CrashPolicy::RandomSubset,
        CrashPolicy::TearLast,
        CrashPolicy::KeepAll,
    ];
}

type Inode = usize;

#[derive(Debug, Clone)]
enum Op {
    Write { offset: usize, bytes: Vec<u8> },
    SetLen(usize),
}

#[derive(Debug, Clone, Default)]
struct FileState {
    durable: Vec<u8>,
    pending: Vec<Op>,
}

impl FileState {
    fn live(&self) -> Vec<u8> {
        let mut bytes = self.durable.clone();
        for op in &self.pending {
            apply(&mut bytes, op);
        }
        bytes
    }
}

fn apply(bytes: &mut Vec<u8>, op: &Op) {
    match op {
        Op::Write {
            offset,
            bytes: data,
        } => {
            if bytes.len() < offset + data.len() {
                bytes.resize(offset + data.len(), 0);
            }
            bytes[*offset..offset + data.len()].copy_from_slice(data);
        }
        Op::SetLen(len) => bytes.resize(*len, 0),
    }
}

#[derive(Debug, Default)]
struct State {
    inodes: Vec<FileState>,
    /// Names as the running process sees them.
    live: HashMap<PathBuf, Inode>,
    /// Names as the disk has them (after directory syncs).
    durable: HashMap<PathBuf, Inode>,
    /// Directories as the running process sees them.
    dirs: Vec<PathBuf>,
    /// Directories whose entry in their parent was synced since creation.
    durable_dirs: Vec<PathBuf>,
    io_count: u64,
    crash_after: Option<u64>,
}

impl State {
    /// True when a crash keeps directory `dir`: its entry and those of all
    /// its ancestors were synced into their parents.
    fn dir_survives(&self, dir: &Path) -> bool {
        dir.ancestors()
            .all(|a| is_root(a) || self.durable_dirs.iter().any(|d| d == a))
    }

    /// Counts an I/O; fails once the process has "died".
    fn tick(&mut self, op: &'static str, path: &Path) -> Result<()> {
        self.io_count += 1;
        match self.crash_after {
            Some(n) if self.io_count > n => Err(Error::io(
                op,
                path,
                std::io::Error::other("simulated crash: the process is gone"),
            )),
            _ => Ok(()),
        }
    }
}

/// A crash-simulating file system. Clones share state.
#[derive(Debug, Clone, Default)]
pub struct CrashVfs {
    state: Arc<Mutex<State>>,
    locks: MemVfs,
}

#[derive(Debug)]
struct CrashFile {
    state: Arc<Mutex<State>>,
    inode: Inode,
    path: PathBuf,
}

impl CrashVfs {
    /// An empty file system.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every I/O after the `n`-th from now fails, as if the process died.
    pub fn crash_after(&self, n: u64) {
        let mut s = self.state.lock();
        s.crash_after = Some(s.io_count + n);
    }

    /// I/O calls so far.
    pub fn io_count(&self) -> u64 {
        self.state.lock().io_count
    }

    /// What the disk holds after a crash now, under `policy`: a new file
    /// system whose contents are all durable.
    pub fn crash_state(&self, policy: CrashPolicy, rng: &mut impl Rng) -> CrashVfs {
        let s = self.state.lock();
        let keep_all = policy == CrashPolicy::KeepAll;
        let dirs: Vec<PathBuf> = s
            .dirs
            .iter()
            .filter(|d| keep_all || s.dir_survives(d))
            .cloned()
            .collect();
        let mut next = State {
            durable_dirs: dirs.clone(),
            dirs,
            ..State::default()
        };
        let names = if keep_all { &s.live } else { &s.durable };
        let lost_dirs: Vec<&PathBuf> = s.dirs.iter().filter(|d| !next.dirs.contains(d)).collect();
        let mut mapped: HashMap<Inode, Inode> = HashMap::new();
        for (path, &inode) in names {
            if lost_dirs.iter().any(|d| path.starts_with(d)) {
                continue;
            }
            let new = *mapped.entry(inode).or_insert_with(|| {
                next.inodes.push(FileState {
                    durable: survivor(&s.inodes[inode], policy, rng),
                    pending: Vec::new(),
                });
                next.inodes.len() - 1
            });
            next.live.insert(path.clone(), new);
            next.durable.insert(path.clone(), new);
        }
        CrashVfs {
            state: Arc::new(Mutex::new(next)),
            locks: MemVfs::new(),
        }
    }

    /// The live bytes of `path`, for tests that inspect or damage files.
    pub fn read_live(&self, path: &Path) -> Option<Vec<u8>> {
        let s = self.state.lock();
        s.live.get(path).map(|&i| s.inodes[i].live())
    }
}

/// True for a directory no parent holds (`/`, or the empty relative root).
fn is_root(dir: &Path) -> bool {
    dir.parent().is_none() || dir.as_os_str().is_empty() || dir == Path::new(".")
}

/// The bytes of a file after a crash under `policy`.
fn survivor(file: &FileState, policy: CrashPolicy, rng: &mut impl Rng) -> Vec<u8> {
    let mut bytes = file.durable.clone();
    let n = file.pending.len();
    for (i, op) in file.pending.iter().enumerate() {
        match policy {
            CrashPolicy::DropUnsynced => {}
            CrashPolicy::KeepAll => apply(&mut bytes, op),
            CrashPolicy::RandomSubset => {
                if rng.gen_bool(0.5) {
                    apply(&mut bytes, op);
                }
            }
            CrashPolicy::TearLast if i + 1 < n => apply(&mut bytes, op),
            CrashPolicy::TearLast => apply(&mut bytes, &torn(op, rng)),
        }
    }
    bytes
}

/// A write cut at a random sector boundary (whole sectors from its start).
fn torn(op: &Op, rng: &mut impl Rng) -> Op {
    match op {
        Op::Write { offset, bytes } => {
            let sectors = bytes.len().div_ceil(SECTOR_BYTES);
            let keep = (rng.gen_range(0..=sectors) * SECTOR_BYTES).min(bytes.len());
            Op::Write {
                offset: *offset,
                bytes: bytes[..keep].to_vec(),
            }
        }
        Op::SetLen(len) => Op::SetLen(*len),
    }
}

impl VfsFile for CrashFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize> {
        let mut s = self.state.lock();
        s.tick("read", &self.path)?;
        let live = s.inodes[self.inode].live();
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(live.len());
        let n = buf.len().min(live.len() - start);
        buf[..n].copy_from_slice(&live[start..start + n]);
        Ok(n)
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        let mut s = self.state.lock();
        s.tick("write", &self.path)?;
        let offset = usize::try_from(offset).expect("test offsets fit usize");
        s.inodes[self.inode].pending.push(Op::Write {
            offset,
            bytes: buf.to_vec(),
        });
        Ok(())
    }

    fn sync_data(&self) -> Result<()> {
        let mut s = self.state.lock();
        s.tick("fsync", &self.path)?;
        let file = &mut s.inodes[self.inode];
        file.durable = file.live();
        file.pending.clear();
        Ok(())
    }

    fn size(&self) -> Result<u64> {
        let s = self.state.lock();
        Ok(s.inodes[self.inode].live().len() as u64)
    }

    fn set_len(&self, len: u64) -> Result<()> {
        let mut s = self.state.lock();
        s.tick("truncate", &self.path)?;
        let len = usize::try_from(len).expect("test lengths fit usize");
        s.inodes[self.inode].pending.push(Op::SetLen(len));
        Ok(())
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Vfs for CrashVfs {
    fn create_dir_all(&self, dir: &Path) -> Result<()> {
        let mut s = self.state.lock();
        for a in dir.ancestors() {
            if !s.dirs.iter().any(|d| d == a) {
                s.dirs.push(a.to_path_buf());
            }
        }
        Ok(())
    }

    fn open(&self, path: &Path, create: bool) -> Result<Arc<dyn VfsFile>> {
        let mut s = self.state.lock();
        s.tick("open", path)?;
        let inode = match s.live.get(path) {
            Some(&i) => i,
            None if create => {
                s.inodes.push(FileState::default());
                let i = s.inodes.len() - 1;
                s.live.insert(path.to_path_buf(), i);
                i
            }
            None => return Err(Error::io("open", path, std::io::ErrorKind::NotFound.into())),
        };
        Ok(Arc::new(CrashFile {
            state: self.state.clone(),
            inode,
            path: path.to_path_buf(),
        }))
    }

    fn exists(&self, path: &Path) -> Result<bool> {
        let s = self.state.lock();
        Ok(s.live.contains_key(path) || s.dirs.iter().any(|d| d == path))
    }

    fn remove_file(&self, path: &Path) -> Result<()> {
        let mut s = self.state.lock();
        s.tick("remove", path)?;
        s.live
            .remove(path)
            .map(|_| ())
            .ok_or_else(|| Error::io("remove", path, std::io::ErrorKind::NotFound.into()))
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        let mut s = self.state.lock();
        s.tick("rename", from)?;
        let inode = s
            .live
            .remove(from)
            .ok_or_else(|| Error::io("rename", from, std::io::ErrorKind::NotFound.into()))?;
        s.live.insert(to.to_path_buf(), inode);
        Ok(())
    }

    fn list(&self, dir: &Path) -> Result<Vec<String>> {
        let s = self.state.lock();
        Ok(s.live
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect())
    }

    fn sync_dir(&self, dir: &Path) -> Result<()> {
        let mut s = self.state.lock();
        s.tick("fsync dir", dir)?;
        let State {
            live,
            durable,
            dirs,
            durable_dirs,
            ..
        } = &mut *s;
        durable.retain(|p, _| parent_dir(p) != dir);
        for (p, &i) in live.iter().filter(|(p, _)| parent_dir(p) == dir) {
            durable.insert(p.clone(), i);
        }
        for d in dirs.iter().filter(|d| !is_root(d) && parent_dir(d) == dir) {
            if !durable_dirs.contains(d) {
                durable_dirs.push(d.clone());
            }
        }
        Ok(())
    }

    fn lock_dir(&self, dir: &Path) -> Result<Box<dyn DirLock>> {
        self.locks.lock_dir(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn setup() -> (CrashVfs, Arc<dyn VfsFile>) {
        let vfs = CrashVfs::new();
        crate::io::create_dir_durable(&vfs, Path::new("/d")).unwrap();
        let f = vfs.open(Path::new("/d/f"), true).unwrap();
        (vfs, f)
    }

    /// A file at `path`, durable in its directory.
    fn durable_file(vfs: &CrashVfs, path: &Path) {
        let f = vfs.open(path, true).unwrap();
        f.write_all_at(b"x", 0).unwrap();
        f.sync_data().unwrap();
        vfs.sync_dir(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn a_directory_not_synced_into_its_parent_is_lost_with_its_files() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let vfs = CrashVfs::new();
        vfs.create_dir_all(Path::new("/a/b")).unwrap();
        durable_file(&vfs, Path::new("/a/b/f"));
        let after = vfs.crash_state(CrashPolicy::DropUnsynced, &mut rng);
        assert!(!after.exists(Path::new("/a")).unwrap());
        assert!(after.read_live(Path::new("/a/b/f")).is_none());
        // `/a/b`'s entry synced, but `/a`'s not: still lost.
        vfs.sync_dir(Path::new("/a")).unwrap();
        let after = vfs.crash_state(CrashPolicy::DropUnsynced, &mut rng);
        assert!(after.read_live(Path::new("/a/b/f")).is_none());
        vfs.sync_dir(Path::new("/")).unwrap();
        let after = vfs.crash_state(CrashPolicy::DropUnsynced, &mut rng);
        assert_eq!(after.read_live(Path::new("/a/b/f")).unwrap(), b"x");
        assert!(after.exists(Path::new("/a/b")).unwrap());
    }

    #[test]
    fn create_dir_durable_syncs_every_directory_it_creates() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        let vfs = CrashVfs::new();
        crate::io::create_dir_durable(&vfs, Path::new("/x")).unwrap();
        crate::io::create_dir_durable(&vfs, Path::new("/x/y/z")).unwrap();
        durable_file(&vfs, Path::new("/x/y/z/f"));
        let after = vfs.crash_state(CrashPolicy::DropUnsynced, &mut rng);
        assert_eq!(after.read_live(Path::new("/x/y/z/f")).unwrap(), b"x");
        // A directory an earlier attempt created without syncing it.
        let vfs = CrashVfs::new();
        vfs.create_dir_all(Path::new("/made")).unwrap();
        crate::io::create_dir_durable(&vfs, Path::new("/made")).unwrap();
        durable_file(&vfs, Path::new("/made/f"));
        let after = vfs.crash_state(CrashPolicy::DropUnsynced, &mut rng);
        assert_eq!(after.read_live(Path::new("/made/f")).unwrap(), b"x");
        // Relative paths: the parent of a bare name is `.`.
        let vfs = CrashVfs::new();
        crate::io::create_dir_durable(&vfs, Path::new("rel/dir")).unwrap();
        durable_file(&vfs, Path::new("rel/dir/f"));
        let after = vfs.crash_state(CrashPolicy::DropUnsynced, &mut rng);
        assert_eq!(after.read_live(Path::new("rel/dir/f")).unwrap(), b"x");
    }

    #[test]
    fn unsynced_writes_and_names_are_lost_synced_ones_kept() {
        let (vfs, f) = setup();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        f.write_all_at(b"durable", 0).unwrap();
        f.sync_data().unwrap();
        f.write_all_at(b"LOST", 0).unwrap();
        // The file's name was never made durable: the crash forgets it.
        assert!(vfs
            .crash_state(CrashPolicy::DropUnsynced, &mut rng)
            .read_live(Path::new("/d/f"))
            .is_none());
        vfs.sync_dir(Path::new("/d")).unwrap();
        let after = vfs.crash_state(CrashPolicy::DropUnsynced, &mut rng);
        assert_eq!(after.read_live(Path::new("/d/f")).unwrap(), b"durable");
        let kept = vfs.crash_state(CrashPolicy::KeepAll, &mut rng);
        assert_eq!(kept.read_live(Path::new("/d/f")).unwrap(), b"LOSTble");
    }

    #[test]
    fn a_torn_write_keeps_whole_sectors_from_its_start() {
        let (vfs, f) = setup();
        vfs.sync_dir(Path::new("/d")).unwrap();
        f.write_all_at(&[7u8; 2000], 0).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        for _ in 0..50 {
            let b = vfs
                .crash_state(CrashPolicy::TearLast, &mut rng)
                .read_live(Path::new("/d/f"))
                .unwrap();
            assert!(
                b.len() % SECTOR_BYTES == 0 || b.len() == 2000,
                "{}",
                b.len()
            );
            assert!(b.iter().all(|&x| x == 7));
        }
    }

    #[test]
    fn after_the_crash_point_every_io_fails() {
        let (vfs, f) = setup();
        vfs.crash_after(1);
        f.write_all_at(b"a", 0).unwrap();
        assert!(f.write_all_at(b"b", 1).is_err());
        assert!(f.sync_data().is_err());
    }
}
