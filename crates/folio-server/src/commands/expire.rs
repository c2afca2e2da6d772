//! Expiry commands: SETEX, PSETEX, GETEX, EXPIRE, PEXPIRE, EXPIREAT,
//! PEXPIREAT, TTL, PTTL, EXPIRETIME, PEXPIRETIME, PERSIST; and the parsing
//! of `EX`/`PX`/`EXAT`/`PXAT` that `SET` shares.
//!
//! A deadline is Unix time in milliseconds, stored with the value (see
//! `keyspace`), so changing a key's expiry rewrites its value. Semantics and
//! error texts are Redis 7's: a deadline already passed deletes the key; a
//! key lives through its deadline's millisecond.

use bytes::Bytes;

use super::{keys, not_an_integer, syntax_error, HandlerResult};
use crate::keyspace::{unix_now_ms, Stored};
use crate::resp::{parse_i64, Reply};
use crate::shared::Shared;

/// How an expiry argument is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ExpiryKind {
    /// Seconds from now.
    Ex,
    /// Milliseconds from now.
    Px,
    /// Unix time in seconds.
    ExAt,
    /// Unix time in milliseconds.
    PxAt,
}

impl ExpiryKind {
    /// The kind named by an option word (any case).
    pub(super) fn parse(word: &[u8]) -> Option<Self> {
        match word.to_ascii_lowercase().as_slice() {
            b"ex" => Some(Self::Ex),
            b"px" => Some(Self::Px),
            b"exat" => Some(Self::ExAt),
            b"pxat" => Some(Self::PxAt),
            _ => None,
        }
    }

    /// The deadline `arg` gives at `now_ms`, or Redis's error reply:
    /// `value is not an integer or out of range` for a non-integer,
    /// `invalid expire time in '<command>' command` for one that is not
    /// positive or overflows.
    pub(super) fn deadline(self, arg: &[u8], now_ms: u64, command: &str) -> Result<u64, Reply> {
        let invalid = || Reply::err(format!("invalid expire time in '{command}' command"));
        let n = parse_i64(arg).ok_or_else(not_an_integer)?;
        if n <= 0 {
            return Err(invalid());
        }
        let ms = match self {
            Self::Ex | Self::ExAt => n.checked_mul(1000).ok_or_else(invalid)?,
            Self::Px | Self::PxAt => n,
        };
        let at = match self {
            Self::Ex | Self::Px => ms.checked_add(now_i64(now_ms)).ok_or_else(invalid)?,
            Self::ExAt | Self::PxAt => ms,
        };
        u64::try_from(at).map_err(|_| invalid())
    }
}

fn now_i64(now_ms: u64) -> i64 {
    i64::try_from(now_ms).unwrap_or(i64::MAX)
}

/// Writes `value` with `deadline_ms` under the caller's lock, or deletes the
/// key when the deadline is not after now (Redis's `checkAlreadyExpired`).
pub(super) fn store_with_deadline(
    shared: &Shared,
    key: &[u8],
    value: &[u8],
    deadline_ms: Option<u64>,
    now_ms: u64,
) -> Result<(), folio::Error> {
    if deadline_ms.is_some_and(|d| d <= now_ms) {
        shared.keys.delete(key, now_ms)?;
    } else {
        shared.keys.put(key, value, deadline_ms)?;
    }
    Ok(())
}

/// `SETEX key seconds value`.
pub(super) fn setex(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    set_with(shared, args, ExpiryKind::Ex, "setex")
}

/// `PSETEX key milliseconds value`.
pub(super) fn psetex(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    set_with(shared, args, ExpiryKind::Px, "psetex")
}

fn set_with(shared: &Shared, args: &[Bytes], kind: ExpiryKind, name: &str) -> HandlerResult {
    // The clock is read once the key is ours (see `keys::set`).
    let _guard = shared.keys.lock([&args[1][..]]);
    let deadline = match kind.deadline(&args[2], unix_now_ms(), name) {
        Ok(deadline) => deadline,
        Err(reply) => return Ok(reply),
    };
    shared.keys.put(&args[1], &args[3], Some(deadline))?;
    Ok(Reply::ok())
}

/// What `GETEX` does to the expiry.
enum GetExChange<'a> {
    Nothing,
    Persist,
    /// The option and its argument, turned into a deadline only once the
    /// key is found (Redis answers nil for a missing key before checking).
    At(ExpiryKind, &'a Bytes),
}

/// `GETEX key [EX s | PX ms | EXAT t | PXAT t | PERSIST]`.
pub(super) fn getex(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    let change = match parse_getex(&args[2..]) {
        Ok(change) => change,
        Err(reply) => return Ok(reply),
    };
    let key = &args[1][..];
    if matches!(change, GetExChange::Nothing) {
        return Ok(keys::optional_value(shared.keys.get_now(key)?));
    }
    let _guard = shared.keys.lock([key]);
    let now_ms = unix_now_ms();
    let Some(stored) = shared.keys.get(key, now_ms)? else {
        return Ok(Reply::NullBulk);
    };
    match change {
        GetExChange::At(kind, arg) => {
            let deadline = match kind.deadline(arg, now_ms, "getex") {
                Ok(deadline) => deadline,
                Err(reply) => return Ok(reply),
            };
            store_with_deadline(shared, key, &stored.value, Some(deadline), now_ms)?;
        }
        GetExChange::Persist if stored.deadline_ms.is_some() => {
            shared.keys.put(key, &stored.value, None)?;
        }
        GetExChange::Persist | GetExChange::Nothing => {}
    }
    Ok(Reply::Bulk(stored.value))
}

fn parse_getex(options: &[Bytes]) -> Result<GetExChange<'_>, Reply> {
    let mut expiry: Option<(ExpiryKind, &Bytes)> = None;
    let mut persist = false;
    let mut i = 0;
    while i < options.len() {
        let word = &options[i];
        if word.eq_ignore_ascii_case(b"persist") && expiry.is_none() {
            persist = true;
        } else if let (Some(kind), Some(arg)) = (ExpiryKind::parse(word), options.get(i + 1)) {
            if persist || expiry.is_some_and(|(k, _)| k != kind) {
                return Err(syntax_error());
            }
            expiry = Some((kind, arg));
            i += 1;
        } else {
            return Err(syntax_error());
        }
        i += 1;
    }
    Ok(match expiry {
        Some((kind, arg)) => GetExChange::At(kind, arg),
        None if persist => GetExChange::Persist,
        None => GetExChange::Nothing,
    })
}

/// Conditions of `EXPIRE` and its kin (Redis 7).
#[derive(Default)]
struct ExpireFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

impl ExpireFlags {
    fn parse(options: &[Bytes]) -> Result<Self, Reply> {
        let mut flags = Self::default();
        for option in options {
            match option.to_ascii_lowercase().as_slice() {
                b"nx" => flags.nx = true,
                b"xx" => flags.xx = true,
                b"gt" => flags.gt = true,
                b"lt" => flags.lt = true,
                _ => {
                    let mut text = b"Unsupported option ".to_vec();
                    text.extend_from_slice(option);
                    return Err(Reply::err(text));
                }
            }
        }
        if flags.nx && (flags.xx || flags.gt || flags.lt) {
            return Err(Reply::err(
                "NX and XX, GT or LT options at the same time are not compatible",
            ));
        }
        if flags.gt && flags.lt {
            return Err(Reply::err(
                "GT and LT options at the same time are not compatible",
            ));
        }
        Ok(flags)
    }

    /// True when the new deadline `at` may replace `current` (`None`: the
    /// key has no expiry, which `GT` and `LT` treat as infinite).
    fn allow(&self, current: Option<u64>, at: i64) -> bool {
        let current = current.map(now_i64);
        !((self.nx && current.is_some())
            || (self.xx && current.is_none())
            || (self.gt && current.is_none_or(|c| at <= c))
            || (self.lt && current.is_some_and(|c| at >= c)))
    }
}

/// `EXPIRE key seconds [NX|XX|GT|LT]`.
pub(super) fn expire(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    expire_generic(shared, args, 1000, true, "expire")
}

/// `PEXPIRE key milliseconds [NX|XX|GT|LT]`.
pub(super) fn pexpire(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    expire_generic(shared, args, 1, true, "pexpire")
}

/// `EXPIREAT key unix-seconds [NX|XX|GT|LT]`.
pub(super) fn expireat(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    expire_generic(shared, args, 1000, false, "expireat")
}

/// `PEXPIREAT key unix-milliseconds [NX|XX|GT|LT]`.
pub(super) fn pexpireat(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    expire_generic(shared, args, 1, false, "pexpireat")
}

/// Redis's `expireGenericCommand`: 1 when the expiry was set (or the key
/// deleted, for a deadline already past), 0 when the key is absent or a
/// condition refused it.
fn expire_generic(
    shared: &Shared,
    args: &[Bytes],
    unit_ms: i64,
    relative: bool,
    name: &str,
) -> HandlerResult {
    let flags = match ExpireFlags::parse(&args[3..]) {
        Ok(flags) => flags,
        Err(reply) => return Ok(reply),
    };
    let Some(n) = parse_i64(&args[2]) else {
        return Ok(not_an_integer());
    };
    let key = &args[1][..];
    // The clock is read once the key is ours (see `keys::set`).
    let _guard = shared.keys.lock([key]);
    let now_ms = unix_now_ms();
    let base = if relative { now_i64(now_ms) } else { 0 };
    let Some(at) = n.checked_mul(unit_ms).and_then(|ms| ms.checked_add(base)) else {
        return Ok(Reply::err(format!(
            "invalid expire time in '{name}' command"
        )));
    };
    let Some(stored) = shared.keys.get(key, now_ms)? else {
        return Ok(Reply::Integer(0));
    };
    if !flags.allow(stored.deadline_ms, at) {
        return Ok(Reply::Integer(0));
    }
    // Redis's checkAlreadyExpired: a deadline at or before now deletes.
    match u64::try_from(at) {
        Ok(at) if at > now_ms => shared.keys.put(key, &stored.value, Some(at))?,
        _ => {
            shared.keys.delete(key, now_ms)?;
        }
    }
    Ok(Reply::Integer(1))
}

/// `TTL key`: seconds left (rounded), -1 without expiry, -2 when absent.
pub(super) fn ttl(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    time_left(shared, &args[1], |left_ms, _| {
        left_ms.saturating_add(500) / 1000
    })
}

/// `PTTL key`: milliseconds left, -1 without expiry, -2 when absent.
pub(super) fn pttl(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    time_left(shared, &args[1], |left_ms, _| left_ms)
}

/// `EXPIRETIME key`: the deadline in Unix seconds, -1, or -2.
pub(super) fn expiretime(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    time_left(shared, &args[1], |_, at_ms| {
        at_ms.saturating_add(500) / 1000
    })
}

/// `PEXPIRETIME key`: the deadline in Unix milliseconds, -1, or -2.
pub(super) fn pexpiretime(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    time_left(shared, &args[1], |_, at_ms| at_ms)
}

/// Redis's `ttlGenericCommand`; `reply` gets the time left and the
/// deadline, both in ms.
fn time_left(shared: &Shared, key: &[u8], reply: impl Fn(u64, u64) -> u64) -> HandlerResult {
    let now_ms = unix_now_ms();
    Ok(Reply::Integer(match shared.keys.get(key, now_ms)? {
        None => -2,
        Some(Stored {
            deadline_ms: None, ..
        }) => -1,
        Some(Stored {
            deadline_ms: Some(at),
            ..
        }) => now_i64(reply(at.saturating_sub(now_ms), at)),
    }))
}

/// `PERSIST key`: 1 when an expiry was removed, else 0.
pub(super) fn persist(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    let key = &args[1][..];
    let _guard = shared.keys.lock([key]);
    match shared.keys.get(key, unix_now_ms())? {
        Some(stored) if stored.deadline_ms.is_some() => {
            shared.keys.put(key, &stored.value, None)?;
            Ok(Reply::Integer(1))
        }
        _ => Ok(Reply::Integer(0)),
    }
}
