//! [`LogFile`]: a WAL file whose fsyncs take turns and whose first failed
//! fsync fails every later one.
//!
//! Linux reports a write-back error to one `fsync` of an open file, not to
//! every one. In `Buffered` mode the tail's file is synced by the writer
//! thread with the tail released and, at the same time, by a rotation that
//! holds the tail: if one of them got the error, the other could return 0
//! and report records durable whose pages were lost, or start the next file
//! vouching for them. So the syncs of one file take turns, and once one has
//! failed, none succeeds again (PostgreSQL's "fsyncgate" lesson: an fsync
//! that failed is never retried into a success).
//!
//! Invariant: once `sync_error` is set it stays set, and every later
//! [`LogFile::sync_data`] fails with it.

use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::io::VfsFile;

/// A WAL file: writes go straight through, fsyncs are serialised and their
/// first failure is sticky.
pub(super) struct LogFile {
    file: Arc<dyn VfsFile>,
    /// Held across each fsync; the first fsync error, once there was one.
    sync_error: Mutex<Option<String>>,
}

impl LogFile {
    pub(super) fn new(file: Arc<dyn VfsFile>) -> Self {
        LogFile {
            file,
            sync_error: Mutex::new(None),
        }
    }

    /// Writes `buf` at `offset`.
    pub(super) fn write_all_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        self.file.write_all_at(buf, offset)
    }

    /// fdatasyncs the file, after any fsync of it under way; fails, without
    /// syncing, once an earlier fsync of it failed.
    pub(super) fn sync_data(&self) -> Result<()> {
        let mut sync_error = self.sync_error.lock();
        if let Some(cause) = &*sync_error {
            return Err(Error::Poisoned {
                cause: format!(
                    "an earlier fsync of {} failed: {cause}",
                    self.file.path().display()
                ),
            });
        }
        self.file
            .sync_data()
            .inspect_err(|e| *sync_error = Some(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::io::{FaultOp, FaultVfs, MemVfs, Vfs};

    #[test]
    fn a_failed_fsync_fails_every_later_one() {
        let vfs = FaultVfs::new(Arc::new(MemVfs::new()));
        vfs.create_dir_all(Path::new("/w")).unwrap();
        let file = LogFile::new(vfs.open(Path::new("/w/log"), true).unwrap());
        file.write_all_at(b"record", 0).unwrap();
        file.sync_data().unwrap();
        vfs.fail_once_after(FaultOp::Sync, 0, std::io::ErrorKind::Other);
        file.sync_data().expect_err("the injected failure");
        // The disk would let the next fsync through: the file does not.
        let err = file.sync_data().expect_err("sticky");
        assert!(err.to_string().contains("earlier fsync"), "{err}");
        assert_eq!(vfs.injected(), 1);
    }
}
