//! Write-ahead log: one log-writer thread with group commit, and recovery.
//!
//! Writers hand records to [`Wal::append`]; one writer at a time — whoever
//! holds the tail lock — takes everything waiting, writes it with one
//! `write` and (in `Sync` mode) one `fdatasync`, then acknowledges all of
//! it: group commit. For a blocking append in `Sync` mode that is the
//! writer thread; in `Buffered` mode an appender writes the queue itself,
//! and the thread fsyncs every interval. A deferred append is written once
//! someone asks for it (`write_queued`, on the thread that then answers
//! for it, or `wait_acked`), or by the writer thread once nobody has for
//! `DEFERRED_WRITE_DELAY`. Records are numbered by LSN, 1, 2, 3,
//! ... across files; a record is the unit of atomicity (a write batch is
//! one record).
//!
//! Files are `wal-<seq:08x>.log`, preallocated to `file_bytes`; a new file
//! is created (and the directory fsynced) when one is full, after the full
//! one was fsynced. A log opened after recovery never appends to an old file:
//! a torn one is truncated at the cut and fsynced, and writing goes on in a
//! new file.
//!
//! Invariants: `synced <= written < next_lsn`; an append returns only after
//! its record is written (`Buffered`) or fsynced (`Sync`) — a deferred
//! append returns at once, and `wait_acked` waits for the same; records
//! are written and acknowledged in LSN order; after the first
//! failed write or fsync every append fails (`Error::Poisoned`) — no fsync
//! is ever retried.
//!
//! Retired files (every record in a checkpoint) are renamed into the next
//! files rather than created anew; their old records carry an older file
//! number, which recovery reads as the end of the log. With none to reuse,
//! a `Sync` log has its next file written full of zeros ahead of need by a
//! helper thread (`spare`), so a rotation is a rename, not a stall.

mod log_file;
pub mod payload;
mod reader;
mod record;
mod spare;
mod writer;

pub use reader::{parse_wal_name, recover, scan_file, FileScan, Recovery, ScanEnd};
pub use record::{Record, RecordKind, HEADER_BYTES, MAX_PAYLOAD_BYTES};
pub use writer::{seal, AckListener, SyncMode, Wal, WalOptions, WalStats};

/// File-name prefix of WAL files.
pub const WAL_FILE_PREFIX: &str = "wal-";
/// File-name suffix of WAL files.
pub const WAL_FILE_SUFFIX: &str = ".log";

/// A log sequence number: the position of a record in the log, from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Lsn(pub u64);

impl Lsn {
    /// The LSN after this one.
    pub fn next(self) -> Lsn {
        Lsn(self.0 + 1)
    }
}

/// The file name of WAL file `seq`.
pub fn wal_file_name(seq: u32) -> String {
    format!("{WAL_FILE_PREFIX}{seq:08x}{WAL_FILE_SUFFIX}")
}

/// Removes every WAL file numbered below `seq` in `dir` (a log that is not
/// open: without a WAL writer there is nothing to recycle them into).
pub(crate) fn remove_files_before(
    vfs: &dyn crate::io::Vfs,
    dir: &std::path::Path,
    seq: u32,
) -> crate::Result<()> {
    for name in vfs.list(dir)? {
        if parse_wal_name(&name).is_some_and(|s| s < seq) {
            vfs.remove_file(&dir.join(name))?;
        }
    }
    Ok(())
}
