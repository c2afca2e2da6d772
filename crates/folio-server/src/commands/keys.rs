//! Key commands: GET, SET, DEL, EXISTS, MGET, MSET, DBSIZE.
//!
//! Every write locks the stripes of its keys first (see `keyspace`), so the
//! read-then-write of `SET ... NX|XX|GET|KEEPTTL` is atomic against other
//! writes. `MSET` is one atomic write batch. `MGET` and `EXISTS` of several
//! keys hold their stripes shared, so a multi-key `DEL`, `MSET` or
//! `FLUSHDB` is wholly before or after them. Single-key reads take no
//! lock.
//! An `MGET` reply holds at most [`MAX_MGET_REPLY_BYTES`] of values.

use std::collections::HashMap;

use bytes::Bytes;

use super::expire::{store_with_deadline, ExpiryKind};
use super::{syntax_error, wrong_arity, HandlerResult};
use crate::keylock::KeyGuard;
use crate::keyspace::{unix_now_ms, Stored};
use crate::resp::Reply;
use crate::shared::Shared;

/// `GET key`.
pub(super) fn get(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    Ok(optional_value(shared.keys.get_now(&args[1])?))
}

/// What `SET` does to the key's expiry.
#[derive(Default)]
enum SetExpiry<'a> {
    /// Remove it.
    #[default]
    Clear,
    /// `KEEPTTL`: keep the one the key has.
    Keep,
    /// `EX`, `PX`, `EXAT` or `PXAT` with its argument.
    Set(ExpiryKind, &'a Bytes),
}

/// Options of `SET`.
#[derive(Default)]
struct SetOptions<'a> {
    /// Only set if the key is absent.
    nx: bool,
    /// Only set if the key is present.
    xx: bool,
    /// Reply with the previous value.
    get: bool,
    expiry: SetExpiry<'a>,
}

impl<'a> SetOptions<'a> {
    /// Parses the options after `SET key value` as Redis 7 does: `NX` and
    /// `XX` exclude each other, `KEEPTTL` and the expiry options too, an
    /// expiry option takes the next argument (repeating the same one is
    /// allowed, the last wins); anything else is a syntax error.
    fn parse(options: &'a [Bytes]) -> Result<Self, Reply> {
        let mut parsed = SetOptions::default();
        let mut i = 0;
        while i < options.len() {
            let word = options[i].to_ascii_lowercase();
            match (word.as_slice(), &parsed.expiry) {
                (b"nx", _) if !parsed.xx => parsed.nx = true,
                (b"xx", _) if !parsed.nx => parsed.xx = true,
                (b"get", _) => parsed.get = true,
                (b"keepttl", SetExpiry::Clear | SetExpiry::Keep) => parsed.expiry = SetExpiry::Keep,
                _ => {
                    let kind = ExpiryKind::parse(&word).ok_or_else(syntax_error)?;
                    let arg = options.get(i + 1).ok_or_else(syntax_error)?;
                    match parsed.expiry {
                        SetExpiry::Set(previous, _) if previous != kind => {
                            return Err(syntax_error())
                        }
                        SetExpiry::Keep => return Err(syntax_error()),
                        _ => parsed.expiry = SetExpiry::Set(kind, arg),
                    }
                    i += 1;
                }
            }
            i += 1;
        }
        Ok(parsed)
    }
}

/// `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT t|PXAT t|KEEPTTL]`.
pub(super) fn set(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    let (key, value) = (&args[1][..], &args[2][..]);
    let options = match SetOptions::parse(&args[3..]) {
        Ok(options) => options,
        Err(reply) => return Ok(reply),
    };
    // The clock is read once the key is ours: a relative expiry counts from
    // when the command runs, not from before a wait for the lock.
    let _guard = shared.keys.lock([key]);
    let now_ms = unix_now_ms();
    let new_deadline = match options.expiry {
        SetExpiry::Set(kind, arg) => match kind.deadline(arg, now_ms, "set") {
            Ok(deadline) => Some(deadline),
            Err(reply) => return Ok(reply),
        },
        SetExpiry::Clear | SetExpiry::Keep => None,
    };
    let reads_old = options.nx || options.xx || options.get;
    if !reads_old && !matches!(options.expiry, SetExpiry::Keep) {
        store_with_deadline(shared, key, value, new_deadline, now_ms)?;
        return Ok(Reply::ok());
    }
    let old = shared.keys.get(key, now_ms)?;
    let write = !((options.nx && old.is_some()) || (options.xx && old.is_none()));
    if write {
        match options.expiry {
            // The old deadline has not passed (`old` is live): keep it as is,
            // even within its last millisecond.
            SetExpiry::Keep => {
                let deadline = old.as_ref().and_then(|o| o.deadline_ms);
                shared.keys.put(key, value, deadline)?;
            }
            _ => store_with_deadline(shared, key, value, new_deadline, now_ms)?,
        }
    }
    Ok(match (options.get, write) {
        (true, _) => optional_value(old),
        (false, true) => Reply::ok(),
        (false, false) => Reply::NullBulk,
    })
}

/// `DEL key [key ...]`: the number of keys removed.
pub(super) fn del(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    let keys = &args[1..];
    let _guard = shared.keys.lock(keys.iter().map(|k| &k[..]));
    let now_ms = unix_now_ms();
    let mut removed = 0u64;
    for key in keys {
        removed += u64::from(shared.keys.delete(key, now_ms)?);
    }
    Ok(Reply::count(removed))
}

/// `EXISTS key [key ...]`: how many of the keys exist, repeats counted.
/// Each distinct key is read once (a read copies the value: a key named a
/// million times must not be read a million times), all of them under
/// shared holds of their stripes, so a multi-key write is wholly before or
/// after.
pub(super) fn exists(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    let keys = &args[1..];
    let _guard = multi_key_read(shared, keys);
    let now_ms = unix_now_ms();
    if let [key] = keys {
        return Ok(Reply::count(u64::from(shared.keys.contains(key, now_ms)?)));
    }
    let mut times: HashMap<&[u8], u64> = HashMap::new();
    for key in keys {
        *times.entry(&key[..]).or_default() += 1;
    }
    let mut present = 0u64;
    for (key, times) in times {
        if shared.keys.contains(key, now_ms)? {
            present += times;
        }
    }
    Ok(Reply::count(present))
}

/// Shared holds of the stripes of `keys` when there are several: a read
/// of one key needs none (each engine read is atomic).
fn multi_key_read<'a>(shared: &'a Shared, keys: &[Bytes]) -> Option<KeyGuard<'a>> {
    (keys.len() > 1).then(|| shared.keys.lock_shared(keys.iter().map(|k| &k[..])))
}

/// Most value bytes one `MGET` reply may hold. The reply is built in memory,
/// and a few keys repeated many times could otherwise ask for terabytes.
pub(super) const MAX_MGET_REPLY_BYTES: usize = 256 * 1024 * 1024;

/// `MGET key [key ...]`: one bulk or nil per key, all read under shared
/// holds of their stripes (an `MSET` is wholly before or after).
pub(super) fn mget(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    let keys = &args[1..];
    let _guard = multi_key_read(shared, keys);
    let now_ms = unix_now_ms();
    let mut values = Vec::with_capacity(keys.len().min(1024));
    let mut total = 0usize;
    for key in keys {
        let value = shared.keys.get(key, now_ms)?;
        total += value.as_ref().map_or(0, |v| v.value.len());
        if total > MAX_MGET_REPLY_BYTES {
            return Ok(Reply::err(format!(
                "MGET reply would exceed {MAX_MGET_REPLY_BYTES} bytes; ask for fewer keys"
            )));
        }
        values.push(optional_value(value));
    }
    Ok(Reply::Array(values))
}

/// `MSET key value [key value ...]`, applied as one atomic write batch; the
/// keys lose any expiry.
pub(super) fn mset(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    let pairs = &args[1..];
    if !pairs.len().is_multiple_of(2) {
        return Ok(wrong_arity("mset"));
    }
    let _guard = shared.keys.lock(pairs.iter().step_by(2).map(|k| &k[..]));
    shared.keys.put_pairs(pairs)?;
    Ok(Reply::ok())
}

/// `DBSIZE`: the number of keys, expired ones not counted.
pub(super) fn dbsize(shared: &Shared, _args: &[Bytes]) -> HandlerResult {
    Ok(Reply::count(shared.keys.len(unix_now_ms())?))
}

/// A bulk reply for a value, nil for none.
pub(super) fn optional_value(value: Option<Stored>) -> Reply {
    value.map_or(Reply::NullBulk, |v| Reply::Bulk(v.value))
}
