//! SAVE, LASTSAVE, SHUTDOWN, FLUSHDB and FLUSHALL.
//!
//! `SAVE` is a checkpoint of every store: afterwards a restart replays
//! nothing written before it. `SHUTDOWN` stops the server as SIGTERM does
//! (finish in-flight commands, close the stores, which checkpoints them);
//! `SAVE` makes it checkpoint before it starts shutting down, `NOSAVE` is
//! accepted, but closing always makes every acknowledged write durable.
//! `FLUSHDB` and `FLUSHALL` delete every key of the key store (the only
//! database); page versions are not keys and stay.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::{syntax_error, HandlerResult};
use crate::resp::Reply;
use crate::shared::{unix_now, Shared};

/// Keys deleted per write batch by `FLUSHDB`.
const FLUSH_BATCH_KEYS: usize = 1024;

/// `SAVE`.
pub(super) fn save(shared: &Shared, _args: &[Bytes]) -> HandlerResult {
    checkpoint_all(shared)?;
    Ok(Reply::ok())
}

fn checkpoint_all(shared: &Shared) -> Result<(), folio::Error> {
    shared.keys.store().checkpoint()?;
    if let Some(pages) = &shared.pages {
        pages.store().checkpoint()?;
    }
    shared.last_save_unix.store(unix_now(), Ordering::Release);
    Ok(())
}

/// `LASTSAVE`: Unix time of the last successful `SAVE` (or of the start).
pub(super) fn lastsave(shared: &Shared, _args: &[Bytes]) -> HandlerResult {
    Ok(Reply::count(shared.last_save_unix.load(Ordering::Acquire)))
}

/// `SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] | ABORT`: checks the options (and
/// with `SAVE` checkpoints: a failure refuses to shut down, unless `FORCE`
/// says to go on, as Redis 7 does); on success `dispatch` closes the
/// connection without a reply and signals the accept loop, as Redis does.
pub(super) fn shutdown(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    let (mut save, mut nosave, mut now, mut force, mut abort) = (false, false, false, false, false);
    for option in &args[1..] {
        match option.to_ascii_lowercase().as_slice() {
            b"save" => save = true,
            b"nosave" => nosave = true,
            b"now" => now = true,
            b"force" => force = true,
            b"abort" => abort = true,
            _ => return Ok(syntax_error()),
        }
    }
    // As Redis: ABORT (any number of times) with no other flag.
    if (save && nosave) || (abort && (save || nosave || now || force)) {
        return Ok(syntax_error());
    }
    if abort {
        // A shutdown here never waits for replicas: there is none to abort.
        return Ok(Reply::err("No shutdown in progress."));
    }
    if save {
        if let Err(err) = checkpoint_all(shared) {
            if !force {
                tracing::warn!(error = %err, "SHUTDOWN SAVE: checkpoint failed; not shutting down");
                return Ok(Reply::err("Errors trying to SHUTDOWN. Check logs."));
            }
            tracing::warn!(error = %err, "SHUTDOWN SAVE FORCE: checkpoint failed; shutting down anyway");
        }
    }
    Ok(Reply::ok())
}

/// `FLUSHDB [ASYNC|SYNC]` and `FLUSHALL [ASYNC|SYNC]`: removes every key.
/// Keys written while it runs may survive it.
pub(super) fn flushdb(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    match &args[1..] {
        [] => {}
        [mode] if mode.eq_ignore_ascii_case(b"async") || mode.eq_ignore_ascii_case(b"sync") => {}
        _ => return Ok(syntax_error()),
    }
    shared.keys.clear(FLUSH_BATCH_KEYS)?;
    Ok(Reply::ok())
}
