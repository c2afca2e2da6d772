//! HELLO (RESP2/RESP3 switching, AUTH and SETNAME in one go) and CLIENT
//! ID/INFO/LIST/SETNAME/GETNAME/SETINFO, on the wire: replies and error
//! texts as Redis 7 gives them.

mod common;

use common::{open_store, Client, TestServer, Value};
use folio_server::ServerConfig;

fn err(text: &str) -> Value {
    Value::error(text)
}

/// The value of `field` in a HELLO map reply.
fn field(reply: &Value, name: &str) -> Value {
    let pairs = match reply {
        Value::Map(pairs) => pairs.clone(),
        Value::Array(flat) => flat
            .chunks(2)
            .map(|kv| (kv[0].clone(), kv[1].clone()))
            .collect(),
        other => panic!("not a map: {other:?}"),
    };
    pairs
        .into_iter()
        .find(|(k, _)| *k == Value::bulk(name))
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no field {name} in {reply:?}"))
}

#[test]
fn hello_switches_between_resp2_and_resp3() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(open_store(dir.path()));
    let mut c = server.client();
    let hello = c.call(&[b"HELLO"]);
    assert!(matches!(hello, Value::Array(_)), "RESP2 maps are arrays");
    assert_eq!(field(&hello, "proto"), Value::Integer(2));
    assert_eq!(field(&hello, "server"), Value::bulk("redis"));
    assert_eq!(c.call(&[b"GET", b"missing"]), Value::Nil);

    let hello = c.call(&[b"HELLO", b"3"]);
    assert!(matches!(hello, Value::Map(_)), "{hello:?}");
    assert_eq!(field(&hello, "proto"), Value::Integer(3));
    assert_eq!(field(&hello, "mode"), Value::bulk("standalone"));
    assert_eq!(field(&hello, "role"), Value::bulk("master"));
    assert_eq!(field(&hello, "modules"), Value::Array(vec![]));
    let Value::Integer(id) = field(&hello, "id") else {
        panic!("id")
    };
    assert_eq!(c.call(&[b"CLIENT", b"ID"]), Value::Integer(id));
    assert_eq!(c.call(&[b"GET", b"missing"]), Value::Null, "RESP3 null");
    assert_eq!(
        c.call(&[b"MGET", b"missing"]),
        Value::Array(vec![Value::Null])
    );
    let config = c.call(&[b"CONFIG", b"GET", b"maxclients"]);
    assert_eq!(
        config,
        Value::Map(vec![(Value::bulk("maxclients"), Value::bulk("10000"))])
    );
    assert_eq!(c.call(&[b"SET", b"k", b"v"]), Value::ok());
    assert_eq!(c.call(&[b"GET", b"k"]), Value::bulk("v"));
    // Text for people is a verbatim string, as Redis sends it.
    for command in [
        &[&b"INFO"[..], b"server"][..],
        &[b"CLIENT", b"INFO"],
        &[b"CLIENT", b"LIST"],
    ] {
        let reply = c.call(command);
        assert!(
            matches!(&reply, Value::Verbatim(format, text) if format == "txt" && !text.is_empty()),
            "{reply:?}"
        );
    }

    let hello = c.call(&[b"HELLO", b"2"]);
    assert!(matches!(hello, Value::Array(_)));
    assert_eq!(c.call(&[b"GET", b"missing"]), Value::Nil);

    assert_eq!(
        c.call(&[b"HELLO", b"4"]),
        err("NOPROTO unsupported protocol version")
    );
    assert_eq!(
        c.call(&[b"HELLO", b"1"]),
        err("NOPROTO unsupported protocol version")
    );
    assert_eq!(
        c.call(&[b"HELLO", b"three"]),
        err("ERR Protocol version is not an integer or out of range")
    );
    assert_eq!(
        c.call(&[b"HELLO", b"3", b"BOGUS"]),
        err("ERR Syntax error in HELLO option 'BOGUS'")
    );
    assert_eq!(
        c.call(&[b"HELLO", b"3", b"AUTH", b"default"]),
        err("ERR Syntax error in HELLO option 'AUTH'")
    );
    let hello = c.call(&[b"HELLO", b"2", b"SETNAME", b"named"]);
    assert_eq!(field(&hello, "proto"), Value::Integer(2));
    assert_eq!(c.call(&[b"CLIENT", b"GETNAME"]), Value::bulk("named"));
}

#[test]
fn hello_authenticates_with_requirepass() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        requirepass: Some("s3cret".into()),
        ..ServerConfig::default()
    };
    let server = TestServer::with_config(open_store(dir.path()), config);
    let mut c = server.client();
    assert_eq!(
        c.call(&[b"HELLO", b"3"]),
        err("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
    );
    assert_eq!(
        c.call(&[b"HELLO", b"3", b"AUTH", b"default", b"wrong"]),
        err("WRONGPASS invalid username-password pair or user is disabled.")
    );
    assert_eq!(
        c.call(&[b"GET", b"k"]),
        err("NOAUTH Authentication required.")
    );
    let hello = c.call(&[
        b"HELLO", b"3", b"AUTH", b"default", b"s3cret", b"SETNAME", b"app",
    ]);
    assert_eq!(field(&hello, "proto"), Value::Integer(3));
    assert_eq!(c.call(&[b"GET", b"k"]), Value::Null);
    assert_eq!(c.call(&[b"CLIENT", b"GETNAME"]), Value::bulk("app"));
}

fn text(value: Value) -> String {
    match value {
        Value::Bulk(bytes) => String::from_utf8(bytes).expect("utf-8"),
        other => panic!("not a bulk: {other:?}"),
    }
}

#[test]
fn client_subcommands() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(open_store(dir.path()));
    let mut a = server.client();
    let mut b = server.client();
    let Value::Integer(id_a) = a.call(&[b"CLIENT", b"ID"]) else {
        panic!("id")
    };
    let Value::Integer(id_b) = b.call(&[b"CLIENT", b"ID"]) else {
        panic!("id")
    };
    assert_ne!(id_a, id_b);
    assert_eq!(a.call(&[b"CLIENT", b"GETNAME"]), Value::Nil);
    assert_eq!(a.call(&[b"CLIENT", b"SETNAME", b"alpha"]), Value::ok());
    assert_eq!(a.call(&[b"CLIENT", b"GETNAME"]), Value::bulk("alpha"));
    assert_eq!(
        a.call(&[b"CLIENT", b"SETNAME", b"has space"]),
        err("ERR Client names cannot contain spaces, newlines or special characters.")
    );
    assert_eq!(
        a.call(&[b"CLIENT", b"SETINFO", b"LIB-NAME", b"folio-test"]),
        Value::ok()
    );
    assert_eq!(
        a.call(&[b"CLIENT", b"SETINFO", b"lib-ver", b"1.2.3"]),
        Value::ok()
    );
    assert_eq!(
        a.call(&[b"CLIENT", b"SETINFO", b"color", b"red"]),
        err("ERR Unrecognized option 'color'")
    );
    assert_eq!(
        a.call(&[b"CLIENT", b"SETINFO", b"lib-name", b"a b"]),
        err("ERR lib-name cannot contain spaces, newlines or special characters.")
    );
    assert_eq!(
        a.call(&[b"CLIENT", b"SETINFO", b"LIB-Name", b"a b"]),
        err("ERR LIB-Name cannot contain spaces, newlines or special characters.")
    );

    let info = text(a.call(&[b"CLIENT", b"INFO"]));
    assert!(
        info.starts_with(&format!("id={id_a} addr=127.0.0.1:")),
        "{info}"
    );
    assert!(info.contains(" name=alpha "), "{info}");
    assert!(info.contains(" cmd=client|info "), "{info}");
    assert!(
        info.contains(" resp=2 lib-name=folio-test lib-ver=1.2.3"),
        "{info}"
    );
    assert!(info.ends_with('\n'));

    let list = text(b.call(&[b"CLIENT", b"LIST"]));
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    let (low, high) = (id_a.min(id_b), id_a.max(id_b));
    assert!(lines[0].starts_with(&format!("id={low} ")), "listed by id");
    assert!(lines[1].starts_with(&format!("id={high} ")), "listed by id");
    let only_b = text(a.call(&[b"CLIENT", b"LIST", b"ID", id_b.to_string().as_bytes()]));
    assert_eq!(only_b.lines().count(), 1);
    assert!(only_b.starts_with(&format!("id={id_b} ")));
    assert_eq!(
        text(a.call(&[b"CLIENT", b"LIST", b"TYPE", b"normal"]))
            .lines()
            .count(),
        2
    );
    assert_eq!(text(a.call(&[b"CLIENT", b"LIST", b"TYPE", b"pubsub"])), "");
    assert_eq!(
        a.call(&[b"CLIENT", b"LIST", b"TYPE", b"odd"]),
        err("ERR Unknown client type 'odd'")
    );
    assert_eq!(
        a.call(&[b"CLIENT", b"LIST", b"ID", b"x"]),
        err("ERR Invalid client ID")
    );
    // In the order given, once per mention; Redis's integers only.
    let (a_text, b_text) = (id_a.to_string(), id_b.to_string());
    let listed = text(a.call(&[
        b"CLIENT",
        b"LIST",
        b"ID",
        b_text.as_bytes(),
        b"-1",
        a_text.as_bytes(),
        b_text.as_bytes(),
    ]));
    let ids: Vec<&str> = listed
        .lines()
        .map(|line| line.split(' ').next().unwrap_or(""))
        .collect();
    let expected = [&b_text, &a_text, &b_text].map(|id| format!("id={id}"));
    assert_eq!(ids, expected, "{listed}");
    // An id named 300,000 times: each line listed each time, as in Redis,
    // up to the reply's limit.
    let mut many: Vec<&[u8]> = vec![b"CLIENT", b"LIST", b"ID"];
    many.extend(std::iter::repeat_n(a_text.as_bytes(), 300_000));
    assert_eq!(
        a.call(&many),
        err("ERR CLIENT LIST reply would exceed 67108864 bytes; name fewer ids")
    );
    for bad in [&b"+1"[..], b"01", b"1 "] {
        assert_eq!(
            a.call(&[b"CLIENT", b"LIST", b"ID", bad]),
            err("ERR Invalid client ID")
        );
    }
    drop(b);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while text(a.call(&[b"CLIENT", b"LIST"])).lines().count() != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "a closed client stays listed"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }

    assert_eq!(
        a.call(&[b"CLIENT", b"KILL", b"x"]),
        err("ERR unknown subcommand 'KILL'. Try CLIENT HELP.")
    );
    assert_eq!(
        a.call(&[b"CLIENT", b"ID", b"extra"]),
        err("ERR wrong number of arguments for 'client|id' command")
    );
    assert_eq!(
        a.call(&[b"CLIENT"]),
        err("ERR wrong number of arguments for 'client' command")
    );
    let Value::Array(help) = a.call(&[b"CLIENT", b"HELP"]) else {
        panic!("help")
    };
    assert!(help.len() > 4);
}

#[test]
fn a_new_client_starts_in_resp2() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(open_store(dir.path()));
    let mut first = server.client();
    first.call(&[b"HELLO", b"3"]);
    let mut second: Client = server.client();
    assert_eq!(second.call(&[b"GET", b"none"]), Value::Nil);
}
