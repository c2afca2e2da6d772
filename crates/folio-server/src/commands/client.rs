//! `CLIENT ID | INFO | LIST | SETNAME | GETNAME | SETINFO | HELP`, as
//! Redis 7 answers them.

use bytes::Bytes;

use super::{unknown_subcommand, wrong_arity, Session};
use crate::resp::{parse_i64, Reply};
use crate::shared::Shared;

/// `CLIENT <subcommand> ...`; needs the session, so `dispatch` calls it.
pub(super) fn client(shared: &Shared, session: &mut Session, args: &[Bytes]) -> Reply {
    let sub = args[1].to_ascii_lowercase();
    let argc = args.len();
    let me = session.client();
    match (sub.as_slice(), argc) {
        (b"id", 2) => Reply::count(me.id),
        (b"info", 2) => {
            let mut line = me.list_line();
            line.push(b'\n');
            Reply::Text(line.into())
        }
        (b"list", _) => list(shared, &args[2..]),
        (b"getname", 2) => {
            let name = me.names().name;
            if name.is_empty() {
                Reply::NullBulk
            } else {
                Reply::bulk(name)
            }
        }
        (b"setname", 3) => match check_name(&args[2], "Client names") {
            Ok(()) => {
                me.update_names(|n| n.name = args[2].to_vec());
                Reply::ok()
            }
            Err(reply) => reply,
        },
        (b"setinfo", 4) => setinfo(session, &args[2], &args[3]),
        (b"help", 2) => help(),
        (b"id" | b"info" | b"getname" | b"setname" | b"setinfo" | b"help", _) => {
            wrong_arity(&format!("client|{}", String::from_utf8_lossy(&sub)))
        }
        _ => unknown_subcommand(&args[1], "CLIENT"),
    }
}

/// Most bytes one `CLIENT LIST` reply may hold (it is built in memory).
const MAX_CLIENT_LIST_BYTES: usize = 64 * 1024 * 1024;

/// `CLIENT LIST [TYPE normal] [ID id ...]`. With `ID`, the clients come
/// in the order of the ids given, once per mention, as in Redis; ids are
/// integers as Redis parses them (a negative one finds no client).
fn list(shared: &Shared, options: &[Bytes]) -> Reply {
    let clients = shared.clients.list();
    let chosen: Vec<_> = match options {
        [] => clients.iter().collect(),
        [kind, value] if kind.eq_ignore_ascii_case(b"type") => {
            let known = [&b"normal"[..], b"master", b"replica", b"slave", b"pubsub"];
            if !known.iter().any(|k| value.eq_ignore_ascii_case(k)) {
                let mut text = b"Unknown client type '".to_vec();
                text.extend_from_slice(value);
                text.push(b'\'');
                return Reply::err(text);
            }
            let normal = value.eq_ignore_ascii_case(b"normal");
            clients.iter().filter(|_| normal).collect()
        }
        [kind, values @ ..] if kind.eq_ignore_ascii_case(b"id") && !values.is_empty() => {
            let Some(ids) = values
                .iter()
                .map(|v| parse_i64(v))
                .collect::<Option<Vec<_>>>()
            else {
                return Reply::err("Invalid client ID");
            };
            let by_id: std::collections::HashMap<i64, _> = clients
                .iter()
                .filter_map(|c| Some((i64::try_from(c.id).ok()?, c)))
                .collect();
            ids.iter().filter_map(|id| by_id.get(id).copied()).collect()
        }
        _ => return super::syntax_error(),
    };
    let mut text = Vec::new();
    for client in chosen {
        text.extend_from_slice(&client.list_line());
        text.push(b'\n');
        // An id named a million times is listed a million times, as in
        // Redis: gigabytes of reply for a few megabytes of request.
        if text.len() > MAX_CLIENT_LIST_BYTES {
            return Reply::err(format!(
                "CLIENT LIST reply would exceed {MAX_CLIENT_LIST_BYTES} bytes; name fewer ids"
            ));
        }
    }
    Reply::Text(text.into())
}

/// `CLIENT SETINFO LIB-NAME|LIB-VER value`.
fn setinfo(session: &Session, attribute: &[u8], value: &Bytes) -> Reply {
    let what = match attribute.to_ascii_lowercase().as_slice() {
        b"lib-name" => "lib-name",
        b"lib-ver" => "lib-ver",
        _ => {
            let mut text = b"Unrecognized option '".to_vec();
            text.extend_from_slice(attribute);
            text.push(b'\'');
            return Reply::err(text);
        }
    };
    // Redis names the attribute as the client typed it.
    if let Err(reply) = check_name(value, &String::from_utf8_lossy(attribute)) {
        return reply;
    }
    session.client().update_names(|n| match what {
        "lib-name" => n.lib_name = value.to_vec(),
        _ => n.lib_ver = value.to_vec(),
    });
    Reply::ok()
}

/// Most bytes of a client name or library field.
const MAX_NAME_BYTES: usize = 1024;

/// Redis's rule for names: printable ASCII without spaces (they would
/// break `CLIENT LIST` lines).
pub(super) fn check_name(name: &[u8], what: &str) -> Result<(), Reply> {
    if name.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        return Err(Reply::err(format!(
            "{what} cannot contain spaces, newlines or special characters."
        )));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(Reply::err(format!(
            "{what}: {} bytes is over the limit of {MAX_NAME_BYTES}",
            name.len()
        )));
    }
    Ok(())
}

fn help() -> Reply {
    let lines = [
        "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GETNAME",
        "    Return the name of the current connection.",
        "ID",
        "    Return the ID of the current connection.",
        "INFO",
        "    Return information about the current client connection.",
        "LIST [TYPE <normal|master|replica|pubsub>] [ID <id> [<id> ...]]",
        "    Return information about client connections.",
        "SETINFO <option> <value>",
        "    Set client meta attr. Options are: LIB-NAME, LIB-VER.",
        "SETNAME <name>",
        "    Assign the name <name> to the current connection.",
        "HELP",
        "    Print this help.",
    ];
    Reply::Array(lines.iter().map(|l| Reply::Simple((*l).into())).collect())
}
