//! `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]` and
//! `KEYS pattern`. Neither ever lists an expired key.
//!
//! `SCAN`'s cursor is a position in a hash space (see `keyspace::scan`): a
//! key present for a whole iteration is returned exactly once, and `COUNT`
//! is a lower bound (a call returns at least a 64th of the keys, so that an
//! iteration costs at most 64 passes over them). `MATCH` and `TYPE` filter
//! a page after it is chosen, so a page may come back empty with a nonzero
//! cursor, as in Redis.

use std::ops::ControlFlow;

use bytes::Bytes;

use super::glob::key_match;
use super::keys::MAX_MGET_REPLY_BYTES;
use super::{not_an_integer, syntax_error, HandlerResult};
use crate::keyspace::{unix_now_ms, KEY_OVERHEAD_BYTES};
use crate::resp::{parse_i64, Reply};
use crate::shared::Shared;

/// Redis's default `COUNT`.
const DEFAULT_COUNT: usize = 10;

/// `KEYS pattern`: every live key matching the pattern. The reply is built in
/// memory, so it is refused past [`MAX_MGET_REPLY_BYTES`] (each key counted
/// with its reply's overhead).
pub(super) fn keys(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    let pattern = &args[1][..];
    let (mut found, mut bytes, mut too_big) = (Vec::new(), 0usize, false);
    shared.keys.for_each_live_key(unix_now_ms(), &mut |key| {
        if !key_match(pattern, key) {
            return ControlFlow::Continue(());
        }
        bytes += key.len() + KEY_OVERHEAD_BYTES;
        if bytes > MAX_MGET_REPLY_BYTES {
            too_big = true;
            return ControlFlow::Break(());
        }
        found.push(Reply::bulk(key.to_vec()));
        ControlFlow::Continue(())
    })?;
    if too_big {
        return Ok(Reply::err(format!(
            "KEYS reply would exceed {MAX_MGET_REPLY_BYTES} bytes; use SCAN"
        )));
    }
    Ok(Reply::Array(found))
}

/// Options of `SCAN`.
struct ScanOptions<'a> {
    pattern: Option<&'a [u8]>,
    count: usize,
    /// `TYPE`: only `string` keys exist, so another type matches nothing.
    only_strings: bool,
}

impl<'a> ScanOptions<'a> {
    fn parse(options: &'a [Bytes]) -> Result<Self, Reply> {
        let mut parsed = ScanOptions {
            pattern: None,
            count: DEFAULT_COUNT,
            only_strings: true,
        };
        for pair in options.chunks(2) {
            let [name, value] = pair else {
                return Err(syntax_error());
            };
            match name.to_ascii_lowercase().as_slice() {
                b"match" => parsed.pattern = Some(&value[..]),
                b"count" => {
                    let count = parse_i64(value).ok_or_else(not_an_integer)?;
                    if count < 1 {
                        return Err(syntax_error());
                    }
                    parsed.count = usize::try_from(count).unwrap_or(usize::MAX);
                }
                b"type" => parsed.only_strings = value.eq_ignore_ascii_case(b"string"),
                _ => return Err(syntax_error()),
            }
        }
        Ok(parsed)
    }
}

/// A cursor as Redis reads one (`strtoul`): an optional sign and decimal
/// digits, where the empty string is 0 and `-n` wraps around (`-1` is
/// 2^64 - 1, past every position: an empty last page).
fn parse_cursor(text: &[u8]) -> Option<u64> {
    if text.is_empty() {
        return Some(0);
    }
    let (negative, digits) = match text[0] {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(if negative { n.wrapping_neg() } else { n })
}

/// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`: the next cursor
/// (a bulk string; "0" when done) and a page of keys.
pub(super) fn scan(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    let Some(cursor) = parse_cursor(&args[1]) else {
        return Ok(Reply::err("invalid cursor"));
    };
    let options = match ScanOptions::parse(&args[2..]) {
        Ok(options) => options,
        Err(reply) => return Ok(reply),
    };
    let page = shared.keys.scan(cursor, options.count, unix_now_ms())?;
    let keys = page
        .keys
        .into_iter()
        .filter(|key| options.only_strings && options.pattern.is_none_or(|p| key_match(p, key)))
        .map(Reply::bulk)
        .collect();
    Ok(Reply::Array(vec![
        Reply::bulk(page.next_cursor.to_string()),
        Reply::Array(keys),
    ]))
}
