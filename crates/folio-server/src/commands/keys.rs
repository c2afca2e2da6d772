//! Key commands: GET, SET, DEL, EXISTS, MGET, MSET, DBSIZE.
//!
//! Every write locks the stripes of its keys first (see `keylock`), so the
//! read-then-write of `SET ... NX|XX|GET` is atomic against other writes.
//! Multi-key `DEL` is atomic against writers but a concurrent reader may see
//! some keys gone and others not; `MSET` is one atomic write batch. An `MGET`
//! reply holds at most [`MAX_MGET_REPLY_BYTES`] of values.

use bytes::Bytes;
use folio::WriteBatch;

use super::{syntax_error, wrong_arity, HandlerResult};
use crate::resp::Reply;
use crate::shared::Shared;

/// `GET key`.
pub(super) fn get(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    Ok(optional_bulk(shared.store.get(&args[1])?))
}

/// Options of `SET`.
#[derive(Default)]
struct SetOptions {
    /// Only set if the key is absent.
    nx: bool,
    /// Only set if the key is present.
    xx: bool,
    /// Reply with the previous value.
    get: bool,
}

impl SetOptions {
    /// Parses the options after `SET key value`, or the error reply.
    fn parse(options: &[Bytes]) -> Result<Self, Reply> {
        let mut parsed = SetOptions::default();
        for option in options {
            match option.to_ascii_lowercase().as_slice() {
                b"nx" if !parsed.xx => parsed.nx = true,
                b"xx" if !parsed.nx => parsed.xx = true,
                b"get" => parsed.get = true,
                // No key ever has an expiry here, so keeping it is a no-op.
                b"keepttl" => {}
                b"ex" | b"px" | b"exat" | b"pxat" => {
                    return Err(Reply::err(
                        "key expiry (EX/PX/EXAT/PXAT) is not supported by this server",
                    ));
                }
                _ => return Err(syntax_error()),
            }
        }
        Ok(parsed)
    }

    fn conditional(&self) -> bool {
        self.nx || self.xx || self.get
    }
}

/// `SET key value [NX|XX] [GET] [KEEPTTL]`.
pub(super) fn set(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    let (key, value) = (&args[1], &args[2]);
    let options = match SetOptions::parse(&args[3..]) {
        Ok(options) => options,
        Err(reply) => return Ok(reply),
    };
    let _guard = shared.locks.lock([&key[..]]);
    if !options.conditional() {
        shared.store.put(key, value)?;
        return Ok(Reply::ok());
    }
    let old = shared.store.get(key)?;
    let write = !((options.nx && old.is_some()) || (options.xx && old.is_none()));
    if write {
        shared.store.put(key, value)?;
    }
    Ok(match (options.get, write) {
        (true, _) => optional_bulk(old),
        (false, true) => Reply::ok(),
        (false, false) => Reply::NullBulk,
    })
}

/// `DEL key [key ...]`: the number of keys removed.
pub(super) fn del(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    let keys = &args[1..];
    let _guard = shared.locks.lock(keys.iter().map(|k| &k[..]));
    let mut removed = 0u64;
    for key in keys {
        removed += u64::from(shared.store.delete(key)?);
    }
    Ok(Reply::count(removed))
}

/// `EXISTS key [key ...]`: how many of the keys exist, repeats counted.
pub(super) fn exists(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    let mut present = 0u64;
    for key in &args[1..] {
        // The engine has no `contains`; a get reads the value too.
        present += u64::from(shared.store.get(key)?.is_some());
    }
    Ok(Reply::count(present))
}

/// Most value bytes one `MGET` reply may hold. The reply is built in memory,
/// and a few keys repeated many times could otherwise ask for terabytes.
pub(super) const MAX_MGET_REPLY_BYTES: usize = 256 * 1024 * 1024;

/// `MGET key [key ...]`: one bulk or nil per key.
pub(super) fn mget(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    let keys = &args[1..];
    let mut values = Vec::with_capacity(keys.len().min(1024));
    let mut total = 0usize;
    for key in keys {
        let value = shared.store.get(key)?;
        total += value.as_ref().map_or(0, Vec::len);
        if total > MAX_MGET_REPLY_BYTES {
            return Ok(Reply::err(format!(
                "MGET reply would exceed {MAX_MGET_REPLY_BYTES} bytes; ask for fewer keys"
            )));
        }
        values.push(optional_bulk(value));
    }
    Ok(Reply::Array(values))
}

/// `MSET key value [key value ...]`, applied as one atomic write batch.
pub(super) fn mset(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    let pairs = &args[1..];
    if !pairs.len().is_multiple_of(2) {
        return Ok(wrong_arity("mset"));
    }
    let mut batch = WriteBatch::new();
    for pair in pairs.chunks_exact(2) {
        batch.put(&pair[0][..], &pair[1][..]);
    }
    let _guard = shared.locks.lock(pairs.iter().step_by(2).map(|k| &k[..]));
    shared.store.write_batch(&batch)?;
    Ok(Reply::ok())
}

/// `DBSIZE`: the number of keys.
pub(super) fn dbsize(shared: &Shared, _args: &[Bytes]) -> HandlerResult {
    Ok(Reply::count(shared.store.len()?))
}

/// A bulk reply for a value, nil for none.
pub(super) fn optional_bulk(value: Option<Vec<u8>>) -> Reply {
    value.map_or(Reply::NullBulk, Reply::bulk)
}
