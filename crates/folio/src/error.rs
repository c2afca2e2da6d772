//! The engine's error type.
//!
//! Every fallible engine call returns [`Error`]. The variants are what a caller
//! can act on: a limit was exceeded (fix the input), the data is damaged
//! (`Corruption`), the disk failed (`Io`, `StorageFull`), the store is in a
//! state that refuses the call (`Closed`, `Poisoned`, `Unclean`, `Locked`), or
//! a peer engine behind an adapter failed in its own way (`Backend`).
//! Boundaries map these once: the RESP server to error replies, the C ABI to
//! status codes.

use std::io;
use std::path::PathBuf;

/// Result alias for engine calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error from a Folio engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A key longer than the configured limit.
    #[error("key is {len} bytes; the limit is {max} bytes (config max_key_bytes)")]
    KeyTooLarge {
        /// Length of the rejected key.
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// A value longer than the configured limit.
    #[error("value is {len} bytes; the limit is {max} bytes (config max_value_bytes)")]
    ValueTooLarge {
        /// Length of the rejected value.
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// A write batch over its limits.
    #[error("write batch holds {what}; the limit is {max} (config {field})")]
    BatchTooLarge {
        /// What was counted, with its amount ("3000000 operations").
        what: String,
        /// The limit in force.
        max: usize,
        /// The config field that sets the limit.
        field: &'static str,
    },
    /// A configuration value out of range or malformed.
    #[error("invalid config {field}: {reason}")]
    InvalidConfig {
        /// The offending field.
        field: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// A backend name the registry does not know.
    #[error("unknown engine {name:?}; known engines: {}", known.join(", "))]
    UnknownEngine {
        /// The name asked for.
        name: String,
        /// The names the registry knows.
        known: Vec<&'static str>,
    },
    /// Bytes read back from disk failed a checksum or structure check.
    #[error("corruption in {}{}: {what}", path.display(), offset.map(|o| format!(" at offset {o}")).unwrap_or_default())]
    Corruption {
        /// The damaged file.
        path: PathBuf,
        /// Byte offset of the damage inside the file, when known.
        offset: Option<u64>,
        /// What check failed.
        what: String,
    },
    /// A file was written by an incompatible format version.
    #[error("{} has format version {found}; this build reads version {supported}", path.display())]
    UnsupportedFormat {
        /// The file.
        path: PathBuf,
        /// The version found on disk.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// An I/O call failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// The operation ("read", "write", "fsync", ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The disk is full (ENOSPC or a quota).
    #[error("no space left to {op} {}: free space and reopen the store", path.display())]
    StorageFull {
        /// The operation that ran out of space.
        op: &'static str,
        /// The file.
        path: PathBuf,
    },
    /// The store was not closed cleanly and cannot be recovered by this build.
    #[error("store at {} was not closed cleanly: {reason}", path.display())]
    Unclean {
        /// The store's directory.
        path: PathBuf,
        /// Why it cannot be opened.
        reason: String,
    },
    /// Another handle or process holds the store's directory.
    #[error("store at {} is locked by another handle or process", path.display())]
    Locked {
        /// The store's directory.
        path: PathBuf,
    },
    /// A write or fsync failed earlier; the store refuses writes until reopened.
    #[error("store refuses writes after an earlier I/O failure ({cause}); reopen it")]
    Poisoned {
        /// The first failure, as text.
        cause: String,
    },
    /// Every frame of the buffer pool is pinned.
    #[error("all {frames} buffer-pool frames are pinned; raise cache_bytes or lower concurrency")]
    BufferPoolExhausted {
        /// Number of frames in the pool.
        frames: usize,
    },
    /// The store has been closed.
    #[error("store is closed")]
    Closed,
    /// A peer engine behind an adapter (crate `folio-peers`) failed in a
    /// way no other variant describes; its own message, as text.
    #[error("{engine} engine failed: {message}")]
    Backend {
        /// The engine's registry name ("rocksdb", "redb", ...).
        engine: &'static str,
        /// The engine's error, as it describes it.
        message: String,
    },
}

impl Error {
    /// Wraps an I/O error with the operation and path, mapping ENOSPC to
    /// [`Error::StorageFull`].
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        let path = path.into();
        if source.kind() == io::ErrorKind::StorageFull {
            Error::StorageFull { op, path }
        } else {
            Error::Io { op, path, source }
        }
    }

    /// A corruption error for `path` at `offset`.
    pub fn corruption(
        path: impl Into<PathBuf>,
        offset: Option<u64>,
        what: impl Into<String>,
    ) -> Self {
        Error::Corruption {
            path: path.into(),
            offset,
            what: what.into(),
        }
    }

    /// True for errors that mean bytes on disk are damaged.
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Corruption { .. })
    }
}
