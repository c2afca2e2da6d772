//! Connection and server commands: PING, ECHO, QUIT, SELECT, COMMAND, CONFIG.

use bytes::Bytes;

use super::glob::glob_match;
use super::{
    command_count, command_info, command_names, not_an_integer, unknown_subcommand, wrong_arity,
    HandlerResult,
};
use crate::resp::{parse_i64, Reply};
use crate::shared::Shared;

/// `PING [message]`.
pub(super) fn ping(_shared: &Shared, args: &[Bytes]) -> HandlerResult {
    Ok(match args {
        [_] => Reply::Simple("PONG".into()),
        [_, message] => Reply::Bulk(message.clone()),
        _ => wrong_arity("ping"),
    })
}

/// `TIME`: the server's clock as `[seconds, microseconds]` since the Unix
/// epoch, both as bulk strings.
pub(super) fn time(_shared: &Shared, _args: &[Bytes]) -> HandlerResult {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Ok(Reply::Array(vec![
        Reply::bulk(now.as_secs().to_string().into_bytes()),
        Reply::bulk(now.subsec_micros().to_string().into_bytes()),
    ]))
}

/// `ECHO message`.
pub(super) fn echo(_shared: &Shared, args: &[Bytes]) -> HandlerResult {
    Ok(Reply::Bulk(args[1].clone()))
}

/// `QUIT`: `+OK`, then the connection closes (see `dispatch`).
pub(super) fn quit(_shared: &Shared, _args: &[Bytes]) -> HandlerResult {
    Ok(Reply::ok())
}

/// `SELECT index`: only database 0 exists.
pub(super) fn select(_shared: &Shared, args: &[Bytes]) -> HandlerResult {
    Ok(match parse_i64(&args[1]) {
        None => not_an_integer(),
        Some(0) => Reply::ok(),
        Some(n) if i32::try_from(n).is_err() => {
            Reply::err("value is out of range, value must between -2147483648 and 2147483647")
        }
        Some(_) => Reply::err("DB index is out of range"),
    })
}

/// Most names one `COMMAND INFO` may ask about: each answer is a few
/// hundred bytes built in memory, and a request of a million names would
/// make it hundreds of megabytes.
const MAX_COMMAND_INFO_NAMES: usize = 10_000;

/// `COMMAND`, `COMMAND COUNT`, `COMMAND DOCS [name ...]`, `COMMAND INFO
/// [name ...]`: enough for `redis-cli` and client libraries (names, arity,
/// read or write, key positions); `DOCS` describes nothing.
pub(super) fn command(_shared: &Shared, args: &[Bytes]) -> HandlerResult {
    let Some(sub) = args.get(1) else {
        return Ok(all_command_info());
    };
    Ok(match sub.to_ascii_lowercase().as_slice() {
        b"count" if args.len() == 2 => Reply::count(command_count()),
        b"count" => wrong_arity("command|count"),
        b"docs" => Reply::Map(Vec::new()),
        b"info" if args.len() == 2 => all_command_info(),
        b"info" if args.len() - 2 > MAX_COMMAND_INFO_NAMES => Reply::err(format!(
            "COMMAND INFO names {} commands; the limit is {MAX_COMMAND_INFO_NAMES}",
            args.len() - 2
        )),
        b"info" => Reply::Array(args[2..].iter().map(|n| command_info(n)).collect()),
        _ => unknown_subcommand(sub, "COMMAND"),
    })
}

/// Every command's `COMMAND INFO` entry (`COMMAND`, `COMMAND INFO`).
fn all_command_info() -> Reply {
    Reply::Array(
        command_names()
            .map(|name| command_info(name.as_bytes()))
            .collect(),
    )
}

/// `CONFIG GET pattern [pattern ...]`: the few parameters tools ask for.
pub(super) fn config(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    let sub = &args[1];
    if !sub.eq_ignore_ascii_case(b"get") {
        return Ok(unknown_subcommand(sub, "CONFIG"));
    }
    if args.len() < 3 {
        return Ok(wrong_arity("config|get"));
    }
    let mut pairs = Vec::new();
    for (name, value) in config_parameters(shared) {
        if args[2..]
            .iter()
            .any(|pattern| glob_match(pattern, name.as_bytes()))
        {
            pairs.push((
                Reply::bulk(name.as_bytes().to_vec()),
                Reply::bulk(value.into_bytes()),
            ));
        }
    }
    // A map in RESP3; in RESP2 the flat array of names and values.
    Ok(Reply::Map(pairs))
}

/// The parameters `CONFIG GET` reports, with their values.
fn config_parameters(shared: &Shared) -> [(&'static str, String); 6] {
    [
        ("bind", shared.config.bind.clone()),
        ("port", shared.local_addr.port().to_string()),
        ("maxclients", shared.config.maxclients.to_string()),
        ("databases", "1".to_owned()),
        // Folio persists every write itself; there are no RDB/AOF settings.
        ("save", String::new()),
        ("appendonly", "no".to_owned()),
    ]
}
