//! Spare WAL files, prepared ahead of need.
//!
//! In `Sync` mode a new WAL file is written full of zeros and fsynced
//! before its first record, so each group's fdatasync writes the group and
//! no block-allocation metadata. Done when a file fills, that stalls every
//! appender for as long as writing and fsyncing the whole file takes (the
//! default 16 MiB: 16 writes of 0.3 ms and a 22 ms fdatasync on the
//! development VM), and with leader group commit it blocks a server thread
//! for that long. Until a checkpoint retires old files there is no file to
//! reuse, so every rotation of a young log paid it: 9 per million SETs of
//! 100 bytes.
//!
//! Instead, once the file being appended to is half full and no retired
//! file waits to be reused, [`Spares::prepare`] writes the next file on a
//! helper thread under a name of its own; the rotation takes it
//! ([`Spares::take`]) and renames it into place as it would a retired file.
//! If none is ready in time the rotation makes its file itself, as before.
//! The helper fsyncs after every 1 MiB, so a log fsync queued behind its
//! writes waits for one chunk, not the whole file.
//!
//! Invariants:
//! - at most one spare is being prepared or ready at a time;
//! - a spare is handed out only after its zeros are fsynced;
//! - a spare's name never parses as a WAL file name, so recovery never
//!   reads one; [`remove_leftovers`] (from `seal`, at every open) removes
//!   those a crash left, and close removes one not used;
//! - a failure to prepare one is logged and costs nothing else: the
//!   rotation makes its own file, and any error of that poisons the log.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::Mutex;

use super::WAL_FILE_PREFIX;
use crate::error::Result;
use crate::io::{Vfs, VfsFile};

/// File-name suffix of spare WAL files (never a WAL file's `.log`).
const SPARE_FILE_SUFFIX: &str = ".spare";

/// The spare prepared while the log appends to file `seq`.
fn spare_file_name(seq: u32) -> String {
    format!("{WAL_FILE_PREFIX}{seq:08x}{SPARE_FILE_SUFFIX}")
}

fn is_spare_file_name(name: &str) -> bool {
    name.starts_with(WAL_FILE_PREFIX) && name.ends_with(SPARE_FILE_SUFFIX)
}

/// Removes spare files left in `dir` (by a crash while one was prepared,
/// or one not used before close). Failures are logged: a leftover only
/// takes space.
pub(super) fn remove_leftovers(vfs: &dyn Vfs, dir: &Path) -> Result<()> {
    for name in vfs.list(dir)? {
        if is_spare_file_name(&name) {
            if let Err(e) = vfs.remove_file(&dir.join(&name)) {
                tracing::warn!(file = %name, error = %e, "could not remove a spare WAL file");
            }
        }
    }
    Ok(())
}

/// Bytes of zeros written per call.
const CHUNK_BYTES: u64 = 1 << 20;

/// Writes zeros over the whole file, a chunk at a time, calling
/// `after_chunk` after each (which may stop it with `Ok(false)`); returns
/// whether it reached the end. The file's blocks are allocated then, so an
/// fdatasync after an append writes the data and no allocation metadata.
fn write_zeros(
    file: &dyn VfsFile,
    file_bytes: u64,
    mut after_chunk: impl FnMut() -> Result<bool>,
) -> Result<bool> {
    let zeros = vec![0u8; usize::try_from(CHUNK_BYTES.min(file_bytes)).unwrap_or(0)];
    let mut offset = 0;
    while offset < file_bytes {
        let n = (file_bytes - offset).min(CHUNK_BYTES);
        file.write_all_at(&zeros[..usize::try_from(n).unwrap_or(0)], offset)?;
        offset += n;
        if !after_chunk()? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Writes zeros over the whole file (a new file made at rotation).
pub(super) fn preallocate(file: &dyn VfsFile, file_bytes: u64) -> Result<()> {
    write_zeros(file, file_bytes, || Ok(true)).map(|_| ())
}

#[derive(Default)]
struct Slot {
    /// A helper thread is writing a spare.
    preparing: bool,
    /// A spare whose zeros are durable, waiting for a rotation.
    ready: Option<PathBuf>,
    /// The log is closing: no spare is started any more.
    closed: bool,
}

/// The log's spare file: prepared by a helper thread, taken at rotation.
pub(super) struct Spares {
    vfs: Arc<dyn Vfs>,
    dir: PathBuf,
    file_bytes: u64,
    slot: Mutex<Slot>,
    /// The last helper thread, joined at close.
    helper: Mutex<Option<JoinHandle<()>>>,
    /// Spares made ready so far.
    prepared: AtomicU64,
}

impl Spares {
    pub(super) fn new(vfs: Arc<dyn Vfs>, dir: &Path, file_bytes: u64) -> Self {
        Spares {
            vfs,
            dir: dir.to_path_buf(),
            file_bytes,
            slot: Mutex::new(Slot::default()),
            helper: Mutex::new(None),
            prepared: AtomicU64::new(0),
        }
    }

    /// Starts preparing a spare on a helper thread, unless one is being
    /// prepared or is ready; `tail_seq` is the file the log appends to.
    /// Returns at once.
    pub(super) fn prepare(self: &Arc<Self>, tail_seq: u32) {
        // Lock order: `helper` before `slot`. Holding `helper` until the new
        // thread's handle is stored, so `close` always finds it to join.
        let mut helper = self.helper.lock();
        {
            let mut slot = self.slot.lock();
            if slot.closed || slot.preparing || slot.ready.is_some() {
                return;
            }
            slot.preparing = true;
        }
        if let Some(done) = helper.take() {
            // Finished: it cleared `preparing` as its last step.
            let _ = done.join();
        }
        let spares = self.clone();
        let path = self.dir.join(spare_file_name(tail_seq));
        let spawned = std::thread::Builder::new()
            .name("folio-wal-spare".into())
            .spawn(move || spares.write_spare(path));
        match spawned {
            Ok(handle) => *helper = Some(handle),
            Err(e) => {
                tracing::warn!(error = %e, "could not start preparing a spare WAL file");
                self.slot.lock().preparing = false;
            }
        }
    }

    /// The helper thread: writes and fsyncs the spare, then offers it.
    /// It fsyncs after every chunk, so a log fsync that meets the spare's
    /// writes in the disk's queue waits for one chunk, not the whole file
    /// (16 MiB: 22 ms on the development VM); it stops early once the log
    /// closes.
    fn write_spare(&self, path: PathBuf) {
        let written = self.vfs.open(&path, true).and_then(|file| {
            file.set_len(0)?;
            write_zeros(&*file, self.file_bytes, || {
                file.sync_data()?;
                Ok(!self.slot.lock().closed)
            })
        });
        let mut slot = self.slot.lock();
        slot.preparing = false;
        match written {
            Ok(true) if !slot.closed => {
                slot.ready = Some(path);
                self.prepared.fetch_add(1, Ordering::Relaxed);
            }
            Ok(_) => {
                drop(slot);
                let _ = self.vfs.remove_file(&path);
            }
            Err(e) => {
                drop(slot);
                tracing::warn!(error = %e, "could not prepare a spare WAL file; the next file is made when needed");
                let _ = self.vfs.remove_file(&path);
            }
        }
    }

    /// The ready spare, if there is one: the caller renames it into place.
    pub(super) fn take(&self) -> Option<PathBuf> {
        self.slot.lock().ready.take()
    }

    /// Spares made ready so far.
    pub(super) fn prepared(&self) -> u64 {
        self.prepared.load(Ordering::Relaxed)
    }

    /// Starts no more spares, waits for one being prepared (it stops at its
    /// next chunk), then removes any spare not used.
    pub(super) fn close(&self) {
        self.slot.lock().closed = true;
        if let Some(helper) = self.helper.lock().take() {
            let _ = helper.join();
        }
        if let Some(unused) = self.take() {
            if let Err(e) = self.vfs.remove_file(&unused) {
                tracing::warn!(error = %e, "could not remove an unused spare WAL file");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spare_names_are_never_wal_names() {
        let name = spare_file_name(7);
        assert!(is_spare_file_name(&name));
        assert_eq!(super::super::parse_wal_name(&name), None);
        assert!(!is_spare_file_name(&super::super::wal_file_name(7)));
    }
}
