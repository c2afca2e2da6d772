//! Page and node commands: the face of the multi-version page store.
//!
//! | command | reply |
//! |---|---|
//! | `PAGE.PUT id lsn image` | `+OK` (also when that exact version was already stored) |
//! | `PAGE.GET id lsn` | `[found_lsn, image]`, nil when the page has no version at or below `lsn`, `-VACUUMED ...` when that version was vacuumed |
//! | `PAGE.VERSIONS id` | array of LSNs, oldest first |
//! | `PAGE.VACUUM [horizon]` | number of versions removed (default horizon: the live one; none yet: 0) |
//! | `NODE.HEARTBEAT node lsn` | `+OK` |
//! | `NODE.LIST` | array of `[node, lsn, state]`, state `alive`, `suspect` or `failed` |
//! | `NODE.HORIZON` | the live horizon, or nil while there is none |
//!
//! LSNs are unsigned 64-bit decimal integers. They are replied as RESP
//! integers, which are signed: an LSN above 2^63 - 1 is replied as a bulk
//! string of its digits.

use bytes::Bytes;
use folio::{PageLsn, PageStore};

use super::{page_error, syntax_error, HandlerResult};
use crate::resp::Reply;
use crate::shared::Shared;

/// The page store, or the reply saying the server has none.
fn pages(shared: &Shared) -> Result<&PageStore, Reply> {
    shared
        .pages
        .as_deref()
        .ok_or_else(|| Reply::err("the page store is not enabled on this server"))
}

/// Parses an LSN argument.
fn lsn(arg: &[u8]) -> Result<PageLsn, Reply> {
    std::str::from_utf8(arg)
        .ok()
        .filter(|s| !s.starts_with('+'))
        .and_then(|s| s.parse::<u64>().ok())
        .map(PageLsn)
        .ok_or_else(|| Reply::err("LSN is not an unsigned 64-bit integer"))
}

/// An LSN as a reply: an integer when RESP can carry it, else its digits.
fn lsn_reply(lsn: PageLsn) -> Reply {
    match i64::try_from(lsn.0) {
        Ok(n) => Reply::Integer(n),
        Err(_) => Reply::bulk(lsn.0.to_string().into_bytes()),
    }
}

/// Runs `f` with the page store, turning a missing store or a bad argument
/// into its reply.
fn with_pages(
    shared: &Shared,
    f: impl FnOnce(&PageStore) -> Result<HandlerResult, Reply>,
) -> HandlerResult {
    match pages(shared).and_then(f) {
        Ok(result) => result,
        Err(reply) => Ok(reply),
    }
}

/// `PAGE.PUT id lsn image`.
pub(super) fn put(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    with_pages(shared, |pages| {
        let at = lsn(&args[2])?;
        Ok(match pages.put_page(&args[1], at, &args[3]) {
            Ok(_) => Ok(Reply::ok()),
            Err(e) => page_error(e),
        })
    })
}

/// `PAGE.GET id lsn`.
pub(super) fn get(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    with_pages(shared, |pages| {
        let at = lsn(&args[2])?;
        Ok(match pages.get_page(&args[1], at) {
            Ok(Some((found, image))) => {
                Ok(Reply::Array(vec![lsn_reply(found), Reply::bulk(image)]))
            }
            Ok(None) => Ok(Reply::NullBulk),
            Err(e) => page_error(e),
        })
    })
}

/// `PAGE.VERSIONS id`.
pub(super) fn versions(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    with_pages(shared, |pages| {
        Ok(match pages.versions(&args[1]) {
            Ok(lsns) => Ok(Reply::Array(lsns.into_iter().map(lsn_reply).collect())),
            Err(e) => page_error(e),
        })
    })
}

/// `PAGE.VACUUM [horizon]`.
pub(super) fn vacuum(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    with_pages(shared, |pages| {
        let horizon = match args {
            [_, arg] => Some(lsn(arg)?),
            [_] => pages.live_horizon(),
            _ => return Err(syntax_error()),
        };
        let Some(horizon) = horizon else {
            return Ok(Ok(Reply::Integer(0)));
        };
        // A vacuum visits every page: `dispatch` runs it off the runtime.
        Ok(match pages.vacuum(horizon) {
            Ok(stats) => Ok(Reply::count(stats.versions_removed)),
            Err(e) => page_error(e),
        })
    })
}

/// `NODE.HEARTBEAT node lsn`.
pub(super) fn heartbeat(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    with_pages(shared, |pages| {
        let at = lsn(&args[2])?;
        Ok(match pages.heartbeat(&args[1], at) {
            Ok(()) => Ok(Reply::ok()),
            Err(e) => page_error(e),
        })
    })
}

/// `NODE.LIST`.
pub(super) fn list(shared: &Shared, _args: &[Bytes]) -> HandlerResult {
    with_pages(shared, |pages| {
        let nodes = pages.liveness().nodes().into_iter().map(|node| {
            Reply::Array(vec![
                Reply::bulk(node.id.0),
                lsn_reply(node.lsn),
                Reply::bulk(node.state.name().as_bytes().to_vec()),
            ])
        });
        Ok(Ok(Reply::Array(nodes.collect())))
    })
}

/// `NODE.HORIZON`.
pub(super) fn horizon(shared: &Shared, _args: &[Bytes]) -> HandlerResult {
    with_pages(shared, |pages| {
        Ok(Ok(pages.live_horizon().map_or(Reply::NullBulk, lsn_reply)))
    })
}
