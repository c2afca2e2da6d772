//! Command dispatch: name lookup, arity, and the table of commands.
//!
//! Names are matched case-insensitively. Error texts for unknown commands and
//! wrong arity are Redis 7's, byte for byte. Handlers return engine errors
//! with `?`; [`engine_error::engine_error`] turns them into replies, the one
//! place that does.

mod auth;
mod client;
mod engine_error;
mod expire;
mod glob;
mod info;
mod keys;
mod pages;
mod persistence;
mod scan;
mod server;
mod strings;

#[cfg(test)]
mod tests;

use bytes::Bytes;

use crate::resp::Reply;
use crate::shared::Shared;

pub use auth::Session;
pub use engine_error::engine_error;
use engine_error::page_error;

/// A handler's result: a reply, or an engine error to map.
type HandlerResult = Result<Reply, folio::Error>;

/// A command handler. `args[0]` is the command name; the arity is checked.
type Handler = fn(&Shared, &[Bytes]) -> HandlerResult;

/// One command of the table.
struct Spec {
    /// Lower-case name, as Redis reports it in errors.
    name: &'static str,
    /// Redis arity: `n > 0` means exactly `n` arguments (name included),
    /// `n < 0` means at least `-n`.
    arity: i32,
    handler: Handler,
}

/// Every command this server knows.
const COMMANDS: &[Spec] = &[
    // Answered by `dispatch` itself: they use the session.
    spec("auth", -2, server::quit),
    spec("hello", -1, server::quit),
    spec("client", -2, server::quit),
    spec("ping", -1, server::ping),
    spec("echo", 2, server::echo),
    spec("quit", -1, server::quit),
    spec("select", 2, server::select),
    spec("command", -1, server::command),
    spec("config", -2, server::config),
    spec("info", -1, info::info),
    spec("dbsize", 1, keys::dbsize),
    spec("get", 2, keys::get),
    spec("set", -3, keys::set),
    spec("del", -2, keys::del),
    spec("exists", -2, keys::exists),
    spec("mget", -2, keys::mget),
    spec("mset", -3, keys::mset),
    spec("setnx", 3, strings::setnx),
    spec("getset", 3, strings::getset),
    spec("getdel", 2, strings::getdel),
    spec("msetnx", -3, strings::msetnx),
    spec("strlen", 2, strings::strlen),
    spec("append", 3, strings::append),
    spec("incr", 2, strings::incr),
    spec("decr", 2, strings::decr),
    spec("incrby", 3, strings::incrby),
    spec("decrby", 3, strings::decrby),
    spec("type", 2, strings::type_of),
    // UNLINK frees memory in the background in Redis; here it is DEL.
    spec("unlink", -2, keys::del),
    spec("time", 1, server::time),
    spec("setex", 4, expire::setex),
    spec("psetex", 4, expire::psetex),
    spec("getex", -2, expire::getex),
    spec("expire", -3, expire::expire),
    spec("pexpire", -3, expire::pexpire),
    spec("expireat", -3, expire::expireat),
    spec("pexpireat", -3, expire::pexpireat),
    spec("ttl", 2, expire::ttl),
    spec("pttl", 2, expire::pttl),
    spec("expiretime", 2, expire::expiretime),
    spec("pexpiretime", 2, expire::pexpiretime),
    spec("persist", 2, expire::persist),
    spec("keys", 2, scan::keys),
    spec("scan", -2, scan::scan),
    spec("save", 1, persistence::save),
    spec("lastsave", 1, persistence::lastsave),
    spec("shutdown", -1, persistence::shutdown),
    spec("flushdb", -1, persistence::flushdb),
    spec("flushall", -1, persistence::flushdb),
    spec("page.put", 4, pages::put),
    spec("page.get", 3, pages::get),
    spec("page.versions", 2, pages::versions),
    spec("page.vacuum", -1, pages::vacuum),
    spec("node.heartbeat", 3, pages::heartbeat),
    spec("node.list", 1, pages::list),
    spec("node.horizon", 1, pages::horizon),
];

const fn spec(name: &'static str, arity: i32, handler: Handler) -> Spec {
    Spec {
        name,
        arity,
        handler,
    }
}

/// What the connection does after sending a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Read the next command.
    Continue,
    /// Close the connection once the reply is sent.
    Close,
    /// Close the connection at once, sending neither this reply nor those
    /// of the commands before it not yet written: Redis's answer to an HTTP
    /// request on its port, which it frees before writing to it.
    Drop,
    /// `SHUTDOWN` succeeded: send no reply, close, and stop the server.
    Shutdown,
}

/// Runs one command of the connection whose session is `session` and
/// returns its reply.
pub fn dispatch(shared: &Shared, session: &mut Session, args: &[Bytes]) -> (Reply, After) {
    let Some(name) = args.first() else {
        return (Reply::err("empty command"), After::Continue);
    };
    if is_http_probe(name) {
        tracing::warn!("possible cross-protocol attack (HTTP request on the RESP port); closing");
        return (Reply::NullBulk, After::Drop);
    }
    let Some(spec) = COMMANDS
        .iter()
        .find(|s| s.name.as_bytes().eq_ignore_ascii_case(name))
    else {
        return (unknown_command(args), After::Continue);
    };
    if !arity_ok(spec.arity, args.len()) {
        return (wrong_arity(spec.name), After::Continue);
    }
    // As in Redis, a bad subcommand is refused before authentication.
    let full_name = match full_name(spec.name, args) {
        Ok(full_name) => full_name,
        Err(refusal) => return (refusal, After::Continue),
    };
    if let Some(refusal) = auth::check(shared, session, spec.name) {
        return (refusal, After::Continue);
    }
    session.note_command(full_name);
    if matches!(spec.name, "client" | "info") {
        // They report the counts: bring them up to date first.
        session.publish_activity(shared);
    }
    match spec.name {
        "auth" => return (auth::auth(shared, session, args), After::Continue),
        "hello" => return (auth::hello(shared, session, args), After::Continue),
        "client" => return (client::client(shared, session, args), After::Continue),
        _ => {}
    }
    session.note_store_access(auth::StoreAccess {
        keys: uses_key_space(spec.name),
        pages: uses_page_store(spec.name),
    });
    let run = || (spec.handler)(shared, args).unwrap_or_else(|err| engine_error(&err));
    let reply = if may_block(shared, spec.name) {
        off_the_runtime(run)
    } else {
        run()
    };
    let after = match spec.name {
        "quit" => After::Close,
        "shutdown" if !reply.is_error() => After::Shutdown,
        _ => After::Continue,
    };
    (reply, after)
}

/// The name `CLIENT LIST` shows for a command: a container command with a
/// known subcommand is `container|sub`, as in Redis 7. An unknown
/// subcommand, or a known one with the wrong number of arguments, is the
/// error Redis gives for it (before it checks authentication).
fn full_name(name: &'static str, args: &[Bytes]) -> Result<&'static str, Reply> {
    /// (container, subcommand, full name, Redis's arity: exact when
    /// positive, at least its magnitude when negative).
    const SUBCOMMANDS: &[(&str, &str, &str, i32)] = &[
        ("client", "id", "client|id", 2),
        ("client", "info", "client|info", 2),
        ("client", "list", "client|list", -2),
        ("client", "setname", "client|setname", 3),
        ("client", "getname", "client|getname", 2),
        ("client", "setinfo", "client|setinfo", 4),
        ("client", "help", "client|help", 2),
        ("config", "get", "config|get", -3),
        ("command", "count", "command|count", 2),
        ("command", "docs", "command|docs", -2),
        ("command", "info", "command|info", -2),
    ];
    if !matches!(name, "client" | "config" | "command") {
        return Ok(name);
    }
    let Some(sub) = args.get(1) else {
        return Ok(name); // `COMMAND` alone (the others need a subcommand)
    };
    let known = SUBCOMMANDS
        .iter()
        .find(|(container, s, _, _)| *container == name && sub.eq_ignore_ascii_case(s.as_bytes()));
    match known {
        None => Err(unknown_subcommand(sub, &name.to_ascii_uppercase())),
        Some(&(_, _, full, arity)) if !arity_ok(arity, args.len()) => Err(wrong_arity(full)),
        Some(&(_, _, full, _)) => Ok(full),
    }
}

/// True when `command`'s reply depends on the key space: it must not be
/// sent before the writes it may have seen are acknowledged (`acks`).
/// `INFO` counts keys and engine writes.
fn uses_key_space(command: &str) -> bool {
    key_positions(command).0 > 0
        || matches!(
            command,
            "keys" | "scan" | "dbsize" | "flushdb" | "flushall" | "info"
        )
}

/// True when `command`'s reply depends on the page store's versions: it
/// waits for the page writes it may have seen, as key commands do. `INFO`
/// counts versions.
fn uses_page_store(command: &str) -> bool {
    matches!(
        command,
        "page.put" | "page.get" | "page.versions" | "page.vacuum" | "info"
    )
}

/// True when `command` may wait for the disk for milliseconds, during which
/// the runtime worker would serve no other connection (and no other write
/// could join the fsync): so it runs in `block_in_place`. That handoff has
/// a price (SET with `--durability none`, 50 clients: 30.7K/s with it,
/// 43.8K/s without; docs/BENCHMARKS.md), so writes pay it only when they
/// wait for an fsync — key and page writes never do with a store that
/// defers acknowledgements (the connection waits, see `acks`). Checkpoints,
/// vacuums and whole-key-space passes always may.
fn may_block(shared: &Shared, command: &str) -> bool {
    match command {
        // A checkpoint (SHUTDOWN SAVE too); many writes and a flush; a
        // pass over every key.
        "save" | "shutdown" | "flushdb" | "flushall" | "page.vacuum" | "scan" | "keys" => true,
        _ if !WRITES.contains(&command) => false,
        "page.put" => shared.page_writes_wait,
        _ => shared.key_writes_wait,
    }
}

/// Commands that write to a store.
const WRITES: &[&str] = &[
    "set",
    "del",
    "unlink",
    "mset",
    "msetnx",
    "setnx",
    "getset",
    "getdel",
    "append",
    "incr",
    "decr",
    "incrby",
    "decrby",
    "setex",
    "psetex",
    "getex",
    "expire",
    "pexpire",
    "expireat",
    "pexpireat",
    "persist",
    "flushdb",
    "flushall",
    "page.put",
    "page.vacuum",
];

/// Runs `f`, which may block, telling a multi-threaded tokio runtime first
/// so that it moves this worker's other tasks to another thread; outside
/// such a runtime (unit tests) just runs it.
pub(crate) fn off_the_runtime<T>(f: impl FnOnce() -> T) -> T {
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi_thread {
        tokio::task::block_in_place(f)
    } else {
        f()
    }
}

/// Number of commands in the table (`COMMAND COUNT`).
pub(crate) fn command_count() -> usize {
    COMMANDS.len()
}

/// Names of every command, for `COMMAND INFO` without arguments.
pub(crate) fn command_names() -> impl Iterator<Item = &'static str> {
    COMMANDS.iter().map(|s| s.name)
}

/// `COMMAND INFO`'s entry for `name`: `[name, arity, flags, first key,
/// last key, step]`, or nil (a null bulk, as Redis) for an unknown command.
pub(crate) fn command_info(name: &[u8]) -> Reply {
    let Some(spec) = COMMANDS
        .iter()
        .find(|s| s.name.as_bytes().eq_ignore_ascii_case(name))
    else {
        return Reply::NullBulk;
    };
    let (first, last, step) = key_positions(spec.name);
    let flags = command_flags(spec.name)
        .iter()
        .map(|&flag| Reply::Simple(flag.into()))
        .collect();
    Reply::Array(vec![
        Reply::bulk(spec.name.as_bytes().to_vec()),
        Reply::Integer(i64::from(spec.arity)),
        Reply::Array(flags),
        Reply::Integer(first),
        Reply::Integer(last),
        Reply::Integer(step),
    ])
}

/// A command's flags as Redis 7's `COMMAND INFO` gives them (containers
/// such as `CLIENT` and `CONFIG` have none of their own); the page and
/// node commands are flagged by the same rules.
fn command_flags(name: &str) -> &'static [&'static str] {
    const CONNECTION: &[&str] = &[
        "noscript",
        "loading",
        "stale",
        "fast",
        "no_auth",
        "allow_busy",
    ];
    match name {
        "get" | "mget" | "exists" | "type" | "strlen" | "ttl" | "pttl" | "expiretime"
        | "pexpiretime" | "dbsize" => &["readonly", "fast"],
        "keys" | "scan" | "page.get" | "page.versions" => &["readonly"],
        "setnx" | "getset" | "append" | "incr" | "decr" | "incrby" | "decrby" => {
            &["write", "denyoom", "fast"]
        }
        "set" | "setex" | "psetex" | "mset" | "msetnx" | "page.put" => &["write", "denyoom"],
        "getdel" | "getex" | "unlink" | "expire" | "pexpire" | "expireat" | "pexpireat"
        | "persist" => &["write", "fast"],
        "del" | "flushdb" | "flushall" | "page.vacuum" => &["write"],
        "auth" | "hello" | "quit" => CONNECTION,
        "ping" | "echo" | "node.heartbeat" | "node.list" | "node.horizon" => &["fast"],
        "select" | "time" | "lastsave" => &["loading", "stale", "fast"],
        "command" | "info" => &["loading", "stale"],
        "save" => &["admin", "noscript", "no_async_loading", "no_multi"],
        "shutdown" => &[
            "admin",
            "noscript",
            "loading",
            "stale",
            "no_multi",
            "allow_busy",
        ],
        _ => &[],
    }
}

/// Where a command's keys are: (first, last, step) as `COMMAND INFO` gives
/// them; (0, 0, 0) for a command without keys.
fn key_positions(name: &str) -> (i64, i64, i64) {
    match name {
        "del" | "unlink" | "exists" | "mget" => (1, -1, 1),
        "mset" | "msetnx" => (1, -1, 2),
        "get" | "set" | "setnx" | "getset" | "getdel" | "strlen" | "append" | "incr" | "decr"
        | "incrby" | "decrby" | "type" | "setex" | "psetex" | "getex" | "expire" | "pexpire"
        | "expireat" | "pexpireat" | "ttl" | "pttl" | "expiretime" | "pexpiretime" | "persist" => {
            (1, 1, 1)
        }
        _ => (0, 0, 0),
    }
}

/// Redis's arity rule.
fn arity_ok(arity: i32, argc: usize) -> bool {
    let wanted = usize::try_from(arity.unsigned_abs()).unwrap_or(usize::MAX);
    if arity >= 0 {
        argc == wanted
    } else {
        argc >= wanted
    }
}

/// `ERR wrong number of arguments for '<name>' command`; `name` is the
/// canonical lower-case name (`get`, `config|get`).
pub(crate) fn wrong_arity(name: &str) -> Reply {
    Reply::err(format!("wrong number of arguments for '{name}' command"))
}

/// Redis 7's reply to an unknown subcommand of `container`.
pub(crate) fn unknown_subcommand(sub: &[u8], container: &str) -> Reply {
    let shown = &sub[..sub.len().min(128)];
    let mut text = b"unknown subcommand '".to_vec();
    text.extend_from_slice(shown);
    text.extend_from_slice(format!("'. Try {container} HELP.").as_bytes());
    Reply::err(text)
}

/// `ERR value is not an integer or out of range`.
pub(crate) fn not_an_integer() -> Reply {
    Reply::err("value is not an integer or out of range")
}

/// `ERR syntax error`.
pub(crate) fn syntax_error() -> Reply {
    Reply::err("syntax error")
}

/// Redis 7's reply to an unknown command: the name and the first arguments,
/// each cut at a NUL byte (Redis formats C strings) and the list of arguments
/// at about 128 bytes.
fn unknown_command(args: &[Bytes]) -> Reply {
    let mut text = b"unknown command '".to_vec();
    text.extend_from_slice(c_string(&args[0], 128));
    text.extend_from_slice(b"', with args beginning with: ");
    let mut listed: Vec<u8> = Vec::new();
    for arg in &args[1..] {
        if listed.len() >= 128 {
            break;
        }
        let room = 128 - listed.len();
        listed.push(b'\'');
        listed.extend_from_slice(c_string(arg, room));
        listed.extend_from_slice(b"' ");
    }
    text.extend_from_slice(&listed);
    Reply::err(text)
}

/// `bytes` as C's `%.*s` prints it: up to the first NUL, at most `max` bytes.
fn c_string(bytes: &[u8], max: usize) -> &[u8] {
    let end = bytes
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(bytes.len())
        .min(max);
    &bytes[..end]
}

/// Redis closes connections whose first word is `POST` or `Host:`: an HTTP
/// request sent to the RESP port by a browser (cross-protocol scripting).
fn is_http_probe(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"post") || name.eq_ignore_ascii_case(b"host:")
}
