//! More string commands: SETNX, GETSET, GETDEL, MSETNX, STRLEN, APPEND,
//! INCR, DECR, INCRBY, DECRBY, TYPE, UNLINK.
//!
//! Each read-modify-write holds the stripes of its keys (`keyspace`), so
//! `INCR` from many clients at once loses no increment and `MSETNX` sets
//! all of its keys or none. As in Redis, `APPEND` and `INCR` keep a key's
//! expiry and `GETSET` and `MSETNX` clear it. Replies and error texts are
//! Redis 7's.

use bytes::Bytes;

use super::{keys, not_an_integer, wrong_arity, HandlerResult};
use crate::keyspace::unix_now_ms;
use crate::resp::{parse_i64, Reply};
use crate::shared::Shared;

/// `SETNX key value`: 1 when the key was set, 0 when it existed.
pub(super) fn setnx(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    let _guard = shared.keys.lock([&args[1][..]]);
    if shared.keys.contains(&args[1], unix_now_ms())? {
        return Ok(Reply::Integer(0));
    }
    shared.keys.put(&args[1], &args[2], None)?;
    Ok(Reply::Integer(1))
}

/// `GETSET key value`: the old value (or nil), and the new one is set.
pub(super) fn getset(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    let _guard = shared.keys.lock([&args[1][..]]);
    let old = shared.keys.get(&args[1], unix_now_ms())?;
    shared.keys.put(&args[1], &args[2], None)?;
    Ok(keys::optional_value(old))
}

/// `GETDEL key`: the value (or nil), and the key is removed.
pub(super) fn getdel(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    let _guard = shared.keys.lock([&args[1][..]]);
    let now_ms = unix_now_ms();
    let old = shared.keys.get(&args[1], now_ms)?;
    if old.is_some() {
        shared.keys.delete(&args[1], now_ms)?;
    }
    Ok(keys::optional_value(old))
}

/// `MSETNX key value [key value ...]`: 1 when every key was absent and all
/// are now set (one atomic batch), 0 when any existed (nothing is set).
pub(super) fn msetnx(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    let pairs = &args[1..];
    if !pairs.len().is_multiple_of(2) {
        return Ok(wrong_arity("msetnx"));
    }
    let _guard = shared.keys.lock(pairs.iter().step_by(2).map(|k| &k[..]));
    let now_ms = unix_now_ms();
    for key in pairs.iter().step_by(2) {
        if shared.keys.contains(key, now_ms)? {
            return Ok(Reply::Integer(0));
        }
    }
    shared.keys.put_pairs(pairs)?;
    Ok(Reply::Integer(1))
}

/// `STRLEN key`: the value's length, 0 when absent.
pub(super) fn strlen(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    let len = shared
        .keys
        .get(&args[1], unix_now_ms())?
        .map_or(0, |v| v.value.len());
    Ok(Reply::count(len))
}

/// `APPEND key value`: the length after appending (a missing key is empty).
pub(super) fn append(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    let _guard = shared.keys.lock([&args[1][..]]);
    let (mut value, deadline) = match shared.keys.get(&args[1], unix_now_ms())? {
        Some(old) => (old.value.to_vec(), old.deadline_ms),
        None => (Vec::new(), None),
    };
    value.extend_from_slice(&args[2]);
    shared.keys.put(&args[1], &value, deadline)?;
    Ok(Reply::count(value.len()))
}

/// `INCR key`.
pub(super) fn incr(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    add(shared, &args[1], 1)
}

/// `DECR key`.
pub(super) fn decr(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    add(shared, &args[1], -1)
}

/// `INCRBY key increment`.
pub(super) fn incrby(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    match parse_i64(&args[2]) {
        Some(by) => add(shared, &args[1], by),
        None => Ok(not_an_integer()),
    }
}

/// `DECRBY key decrement`.
pub(super) fn decrby(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    match parse_i64(&args[2]) {
        // Negating i64::MIN overflows; Redis refuses it the same way.
        Some(i64::MIN) => Ok(Reply::err("decrement would overflow")),
        Some(by) => add(shared, &args[1], -by),
        None => Ok(not_an_integer()),
    }
}

/// Adds `by` to the integer at `key` (a missing key is 0), atomically.
fn add(shared: &Shared, key: &[u8], by: i64) -> HandlerResult {
    let _guard = shared.keys.lock([key]);
    let (current, deadline) = match shared.keys.get(key, unix_now_ms())? {
        None => (0, None),
        Some(old) => match parse_i64(&old.value) {
            Some(n) => (n, old.deadline_ms),
            None => return Ok(not_an_integer()),
        },
    };
    let Some(next) = current.checked_add(by) else {
        return Ok(Reply::err("increment or decrement would overflow"));
    };
    shared
        .keys
        .put(key, next.to_string().as_bytes(), deadline)?;
    Ok(Reply::Integer(next))
}

/// `TYPE key`: `string` or `none` (strings are the only type).
pub(super) fn type_of(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    let name = if shared.keys.contains(&args[1], unix_now_ms())? {
        "string"
    } else {
        "none"
    };
    Ok(Reply::Simple(name.into()))
}
