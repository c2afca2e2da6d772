//! Engine errors as RESP error replies: the only mapping of `folio::Error`
//! and `folio::PageError`. (One `VACUUMED` reply is not an engine error:
//! `NODE.HEARTBEAT`'s for a node behind the vacuum horizon, in `pages`.)
//!
//! The text is always the error's `Display`, which names the limit or the file
//! concerned. The code before it tells clients what kind of failure it is:
//!
//! | code      | errors                                            | meaning for the client             |
//! |-----------|---------------------------------------------------|------------------------------------|
//! | `ERR`     | `KeyTooLarge`, `ValueTooLarge`, `BatchTooLarge`, others | the request is wrong; fix it |
//! | `IOERR`   | `Io`, `StorageFull`, `Poisoned`, `Backend`        | the disk or a peer engine failed; writes may be refused until the store is reopened |
//! | `CORRUPT` | `Corruption`, `UnsupportedFormat`                 | data on disk is damaged or foreign |
//! | `BUSY`    | `BufferPoolExhausted`                             | transient; retry later             |
//! | `CLOSED`  | `Closed`                                          | the store is shutting down         |
//! | `VACUUMED`| `PageError::VersionVacuumed`                      | the page version asked for was vacuumed |
//!
//! Everything but `ERR` is also logged at `warn`, since it concerns the
//! operator rather than the client.

use folio::{Error, PageError};

use super::HandlerResult;
use crate::resp::Reply;

/// The reply for an engine error.
pub fn engine_error(err: &Error) -> Reply {
    let code = match err {
        Error::Io { .. }
        | Error::StorageFull { .. }
        | Error::Poisoned { .. }
        | Error::Backend { .. } => "IOERR",
        Error::Corruption { .. } | Error::UnsupportedFormat { .. } => "CORRUPT",
        Error::BufferPoolExhausted { .. } => "BUSY",
        Error::Closed => "CLOSED",
        _ => "ERR",
    };
    if code != "ERR" {
        tracing::warn!(error = %err, "engine error answered to a client");
    }
    Reply::error_with_code(code, err.to_string())
}

/// The reply for a page-store error: the store's own errors go through
/// [`engine_error`] (returned as `Err` for the dispatcher to map), the
/// page store's as `VACUUMED`, `CORRUPT` or `ERR`.
pub(super) fn page_error(err: PageError) -> HandlerResult {
    let code = match err {
        PageError::Store(inner) => return Err(inner),
        PageError::VersionVacuumed { .. } => "VACUUMED",
        PageError::MissingVersion { .. } | PageError::BadHorizon { .. } => "CORRUPT",
        _ => "ERR",
    };
    if code == "CORRUPT" {
        tracing::warn!(error = %err, "page store error answered to a client");
    }
    Ok(Reply::error_with_code(code, err.to_string()))
}
