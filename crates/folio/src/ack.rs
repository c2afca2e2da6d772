//! Appending to an engine's optional WAL, waiting ([`Ack::Wait`]) or not
//! ([`Ack::Defer`], for [`crate::DeferredAck`]), and the marks that
//! acknowledge deferred writes — shared by both engines. Without a WAL
//! nothing is logged and every mark is acknowledged.

use crate::error::Result;
use crate::kv::AckMark;
use crate::wal::{Lsn, RecordKind, Wal};

/// Whether a write waits for its WAL record's acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ack {
    /// Return once the record is as durable as the mode promises.
    Wait,
    /// Return once the record is queued.
    Defer,
}

/// Appends a record to `wal`, if any, as `ack` says.
pub(crate) fn append(
    wal: Option<&Wal>,
    kind: RecordKind,
    ack: Ack,
    payload: impl FnOnce() -> Vec<u8>,
) -> Result<()> {
    let Some(wal) = wal else {
        return Ok(());
    };
    match ack {
        Ack::Wait => wal.append(kind, payload()),
        Ack::Defer => wal.append_deferred(kind, payload()),
    }
    .map(drop)
}

/// A mark covering every write visible now: the last LSN handed out (a
/// write's LSN is issued before readers can see it).
pub(crate) fn visible_mark(wal: Option<&Wal>) -> AckMark {
    AckMark(wal.map_or(0, |wal| wal.issued_lsn().0))
}

/// True when every write up to `mark` is acknowledged.
pub(crate) fn is_acked(wal: Option<&Wal>, mark: AckMark) -> bool {
    wal.is_none_or(|wal| wal.acked_lsn() >= Lsn(mark.0))
}

/// Writes the queued deferred writes on this thread unless another thread
/// is writing the log ([`Wal::write_queued`]); without a WAL there is
/// nothing to write.
pub(crate) fn write_queued(wal: Option<&Wal>) -> Result<bool> {
    wal.map_or(Ok(true), Wal::write_queued)
}

/// Waits until every write up to `mark` is acknowledged.
pub(crate) fn wait_acked(wal: Option<&Wal>, mark: AckMark) -> Result<()> {
    wal.map_or(Ok(()), |wal| wal.wait_acked(Lsn(mark.0)))
}
