//! The page store's error type.

use super::key::{PageLsn, MAX_PAGE_ID_BYTES};
use crate::liveness::{MAX_NODES, MAX_NODE_ID_BYTES};

/// Result alias for page-store calls.
pub type PageResult<T, E = PageError> = std::result::Result<T, E>;

/// An error from the page store or the liveness registry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PageError {
    /// A page id that is empty or too long.
    #[error("page id is {len} bytes; page ids are 1 to {MAX_PAGE_ID_BYTES} bytes")]
    InvalidPageId {
        /// Length of the rejected id.
        len: usize,
    },
    /// The version a read needs was removed by vacuum.
    #[error(
        "version vacuumed: no version of the page at LSN {lsn} is kept (vacuum horizon {horizon})"
    )]
    VersionVacuumed {
        /// The LSN the read asked for.
        lsn: PageLsn,
        /// The vacuum horizon in force.
        horizon: PageLsn,
    },
    /// A put below the vacuum horizon: no reader may ask for it, and
    /// accepting it could hide a vacuumed version from a read.
    #[error("version at LSN {lsn} is below the vacuum horizon {horizon}; versions must be at or above it")]
    BelowHorizon {
        /// The LSN of the rejected version.
        lsn: PageLsn,
        /// The vacuum horizon in force.
        horizon: PageLsn,
    },
    /// A put of an LSN the page already holds with different bytes.
    #[error("page already has a different image at LSN {lsn}; versions are immutable")]
    Conflict {
        /// The LSN of the existing version.
        lsn: PageLsn,
    },
    /// A node id that is empty or too long.
    #[error("node id is {len} bytes; node ids are 1 to {MAX_NODE_ID_BYTES} bytes")]
    InvalidNodeId {
        /// Length of the rejected id.
        len: usize,
    },
    /// A heartbeat from a new node when the registry is full.
    #[error("the liveness registry holds {MAX_NODES} nodes, its limit")]
    TooManyNodes,
    /// The underlying store holds a key no page store writes.
    #[error("the store holds a {len}-byte key that is not a page version; a page store needs a store of its own")]
    ForeignKey {
        /// Length of the key.
        len: usize,
    },
    /// The stored vacuum horizon is malformed.
    #[error("the stored vacuum horizon is {len} bytes; it must be 8")]
    BadHorizon {
        /// Length of the stored value.
        len: usize,
    },
    /// The index names a version the store does not hold, and no vacuum
    /// explains it (the store was changed behind the page store's back).
    #[error("LSN {lsn} of a page is in the LogIndex but not in the store")]
    MissingVersion {
        /// The LSN of the missing version.
        lsn: PageLsn,
    },
    /// A [`super::PageOptions`] value out of range.
    #[error("page store option {field} is {value}; it must be at least {min} ({why})")]
    InvalidOption {
        /// The option's name.
        field: &'static str,
        /// The value given.
        value: u64,
        /// The smallest value allowed.
        min: u64,
        /// Why the limit exists.
        why: &'static str,
    },
    /// The background thread could not be started.
    #[error("could not start the page store's background thread: {0}")]
    Spawn(#[source] std::io::Error),
    /// An error of the key-value store underneath.
    #[error(transparent)]
    Store(#[from] crate::Error),
}
