//! Page and node commands: the face of the multi-version page store.
//!
//! | command | reply |
//! |---|---|
//! | `PAGE.PUT id lsn image` | `+OK` (also when that exact version was already stored) |
//! | `PAGE.GET id lsn` | `[found_lsn, image]`, nil when the page has no version at or below `lsn`, `-VACUUMED ...` when that version was vacuumed |
//! | `PAGE.VERSIONS id` | array of LSNs, oldest first |
//! | `PAGE.VACUUM [horizon]` | number of versions removed (default horizon: the live one; none yet: 0) |
//! | `NODE.HEARTBEAT node lsn` | `+OK`; `-VACUUMED ...` (heartbeat recorded) when `lsn` is below the vacuum horizon |
//! | `NODE.LIST` | array of `[node, lsn, state]`, state `alive`, `suspect` or `failed` |
//! | `NODE.HORIZON` | the live horizon, or nil while there is none |
//!
//! LSNs are unsigned 64-bit decimal integers. They are replied as RESP
//! integers, which are signed: an LSN above 2^63 - 1 is replied as a bulk
//! string of its digits.

use bytes::Bytes;
use folio::{PageError, PageLsn, PageStore};

use super::{page_error, syntax_error, HandlerResult};
use crate::resp::Reply;
use crate::shared::Shared;

/// Why a page command answers with an error: a bad argument (its reply
/// is ready) or a page-store error (mapped by [`page_error`]).
enum Refusal {
    Reply(Reply),
    Page(PageError),
}

impl From<Reply> for Refusal {
    fn from(reply: Reply) -> Self {
        Refusal::Reply(reply)
    }
}

impl From<PageError> for Refusal {
    fn from(err: PageError) -> Self {
        Refusal::Page(err)
    }
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

/// Runs `f` with the page store; a server without one, a bad argument and
/// a page-store error each become their reply.
fn with_pages(
    shared: &Shared,
    f: impl FnOnce(&PageStore) -> Result<Reply, Refusal>,
) -> HandlerResult {
    let Some(pages) = shared.pages.as_deref() else {
        return Ok(Reply::err("the page store is not enabled on this server"));
    };
    match f(pages) {
        Ok(reply) | Err(Refusal::Reply(reply)) => Ok(reply),
        Err(Refusal::Page(err)) => page_error(err),
    }
}

/// `PAGE.PUT id lsn image`.
pub(super) fn put(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    with_pages(shared, |pages| {
        // Visible now, durable before the reply leaves (the connection
        // waits for the page store's mark; see `acks`).
        pages.put_page_deferred(&args[1], lsn(&args[2])?, &args[3])?;
        Ok(Reply::ok())
    })
}

/// `PAGE.GET id lsn`.
pub(super) fn get(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    with_pages(shared, |pages| {
        Ok(match pages.get_page(&args[1], lsn(&args[2])?)? {
            Some((found, image)) => Reply::Array(vec![lsn_reply(found), Reply::bulk(image)]),
            None => Reply::NullBulk,
        })
    })
}

/// `PAGE.VERSIONS id`.
pub(super) fn versions(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    with_pages(shared, |pages| {
        let lsns = pages.versions(&args[1])?;
        Ok(Reply::Array(lsns.into_iter().map(lsn_reply).collect()))
    })
}

/// `PAGE.VACUUM [horizon]`.
pub(super) fn vacuum(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    with_pages(shared, |pages| {
        // A vacuum visits every page: `dispatch` runs it off the runtime.
        let stats = match args {
            [_, arg] => Some(pages.vacuum(lsn(arg)?)?),
            [_] => pages.vacuum_live()?,
            _ => return Err(syntax_error().into()),
        };
        Ok(Reply::count(stats.map_or(0, |s| s.versions_removed)))
    })
}

/// `NODE.HEARTBEAT node lsn`. A node behind the vacuum horizon is
/// recorded, and told: the versions it reads below the horizon may be gone.
pub(super) fn heartbeat(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    with_pages(shared, |pages| {
        let node_lsn = lsn(&args[2])?;
        if let Some(horizon) = pages.heartbeat(&args[1], node_lsn)? {
            tracing::warn!(
                node = %args[1].escape_ascii(),
                lsn = node_lsn.0,
                horizon = horizon.0,
                "a compute node is behind the vacuum horizon"
            );
            return Ok(Reply::Error(
                format!(
                    "VACUUMED node's LSN {} is below the vacuum horizon {}: page versions it reads below {} may be gone (the heartbeat is recorded)",
                    node_lsn.0, horizon.0, horizon.0
                )
                .into_bytes(),
            ));
        }
        Ok(Reply::ok())
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
        Ok(Reply::Array(nodes.collect()))
    })
}

/// `NODE.HORIZON`.
pub(super) fn horizon(shared: &Shared, _args: &[Bytes]) -> HandlerResult {
    with_pages(shared, |pages| {
        Ok(pages.live_horizon().map_or(Reply::NullBulk, lsn_reply))
    })
}
