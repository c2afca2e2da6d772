//! Status codes, and the one mapping from engine errors to them.
//!
//! The numbers are the ABI: `include/folio.h` defines the same values, and
//! `tests/header.rs` checks that the two agree. A call either succeeds
//! (`OK`, or `NOT_FOUND` where absence is an answer rather than a failure) or
//! fails with a [`Failure`]: a negative code and the message that
//! `kvstore_last_error` then returns.

use std::os::raw::c_int;

use folio::{Error, PageError};

/// Success.
pub const OK: c_int = 0;
/// The key, or a version of the page at or below the LSN, is absent.
pub const NOT_FOUND: c_int = 1;
/// A bad argument: a NULL pointer, input over a limit, a bad option.
pub const EINVAL: c_int = -1;
/// An I/O error, or a store that cannot serve the call now; writes may now
/// be refused until the store is reopened.
pub const EIO: c_int = -2;
/// A checksum or structure check failed.
pub const ECORRUPT: c_int = -3;
/// The disk is full.
pub const ENOSPC: c_int = -4;
/// The page version asked for was removed by vacuum.
pub const EVACUUMED: c_int = -5;
/// The store is closed.
pub const ECLOSED: c_int = -6;
/// A bug (a panic caught at the boundary, an error this build cannot
/// classify) or no memory for an output buffer (any other allocation
/// failure aborts, as Rust's allocations do).
pub const EINTERNAL: c_int = -99;

/// A failed call: its status code and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// One of the negative codes above.
    pub status: c_int,
    /// The message for `kvstore_last_error`.
    pub message: String,
}

impl Failure {
    /// A bad argument.
    pub fn invalid(message: impl Into<String>) -> Self {
        Failure {
            status: EINVAL,
            message: message.into(),
        }
    }

    /// Prefixes the message with what was being done.
    pub fn context(mut self, what: impl std::fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure {
            status: status_of(&error),
            message: error.to_string(),
        }
    }
}

impl From<PageError> for Failure {
    fn from(error: PageError) -> Self {
        Failure {
            status: page_status_of(&error),
            message: error.to_string(),
        }
    }
}

/// The status code of an engine error. The only place engine errors are
/// classified; `page_status_of` defers to it for the store underneath.
pub fn status_of(error: &Error) -> c_int {
    match error {
        Error::KeyTooLarge { .. }
        | Error::ValueTooLarge { .. }
        | Error::BatchTooLarge { .. }
        | Error::InvalidConfig { .. }
        | Error::UnknownEngine { .. } => EINVAL,
        // A format version this build cannot read fails a structure check
        // as surely as a bad checksum; an unclean store this build cannot
        // recover is damaged as far as the caller can tell.
        Error::Corruption { .. } | Error::UnsupportedFormat { .. } | Error::Unclean { .. } => {
            ECORRUPT
        }
        Error::StorageFull { .. } => ENOSPC,
        // Locked, poisoned and pinned-out stores cannot serve the call now;
        // like an I/O error, a reopen (or a retry) is the remedy. So is a
        // peer engine's own failure (folio-peers): the store failed, not the
        // caller and not this library.
        Error::Io { .. }
        | Error::Locked { .. }
        | Error::Poisoned { .. }
        | Error::BufferPoolExhausted { .. }
        | Error::Backend { .. } => EIO,
        Error::Closed => ECLOSED,
        _ => EINTERNAL,
    }
}

/// The status code of a page-store error.
fn page_status_of(error: &PageError) -> c_int {
    match error {
        PageError::Store(inner) => status_of(inner),
        PageError::VersionVacuumed { .. } => EVACUUMED,
        // A put below the horizon or over a different image is the
        // caller's mistake: nothing was removed, nothing is damaged.
        PageError::InvalidPageId { .. }
        | PageError::BelowHorizon { .. }
        | PageError::Conflict { .. }
        | PageError::InvalidNodeId { .. }
        | PageError::TooManyNodes
        | PageError::InvalidOption { .. } => EINVAL,
        PageError::ForeignKey { .. }
        | PageError::BadHorizon { .. }
        | PageError::MissingVersion { .. } => ECORRUPT,
        PageError::Spawn(_) => EIO,
        _ => EINTERNAL,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use folio::PageLsn;

    #[test]
    fn engine_errors_map_to_their_codes() {
        let io = std::io::Error::other("boom");
        let cases = [
            (Error::KeyTooLarge { len: 9, max: 8 }, EINVAL),
            (Error::corruption("f", Some(4), "crc"), ECORRUPT),
            (Error::io("write", "f", io), EIO),
            (
                Error::io("write", "f", std::io::ErrorKind::StorageFull.into()),
                ENOSPC,
            ),
            (Error::Closed, ECLOSED),
            (Error::Poisoned { cause: "x".into() }, EIO),
            (
                Error::Backend {
                    engine: "rocksdb",
                    message: "busy".into(),
                },
                EIO,
            ),
        ];
        for (error, status) in cases {
            assert_eq!(Failure::from(error).status, status);
        }
    }

    #[test]
    fn page_errors_map_through_the_store() {
        let vacuumed = PageError::VersionVacuumed {
            lsn: PageLsn(1),
            horizon: PageLsn(5),
        };
        assert_eq!(Failure::from(vacuumed).status, EVACUUMED);
        let closed = PageError::Store(Error::Closed);
        assert_eq!(Failure::from(closed).status, ECLOSED);
        let failure = Failure::from(PageError::InvalidPageId { len: 0 });
        assert_eq!(failure.status, EINVAL);
        assert!(failure.message.contains("1 to 64 bytes"), "{failure:?}");
    }
}
