//! Commands over a real connection to a real paged store.

mod common;

use common::{encode, open_store, TestServer, Value};

fn server() -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    (TestServer::start(open_store(dir.path())), dir)
}

#[test]
fn ping_echo_and_inline_commands() {
    let (server, _dir) = server();
    let mut client = server.client();
    assert_eq!(client.call(&[b"PING"]), Value::Simple("PONG".into()));
    assert_eq!(client.call(&[b"ping", b"hi"]), Value::bulk("hi"));
    assert_eq!(client.call(&[b"ECHO", b"a\r\nb"]), Value::bulk("a\r\nb"));
    client.send_raw(b"PING\r\n");
    assert_eq!(client.read(), Value::Simple("PONG".into()));
    client.send_raw(b"set inline \"a b\"\r\nget inline\n");
    assert_eq!(client.read(), Value::ok());
    assert_eq!(client.read(), Value::bulk("a b"));
}

#[test]
fn set_get_binary_values() {
    let (server, _dir) = server();
    let mut client = server.client();
    let key: &[u8] = b"k\r\n\0ey";
    let value: Vec<u8> = (0..=255u8).chain(b"\r\n\0\r\n".iter().copied()).collect();
    assert_eq!(client.call(&[b"SET", key, &value]), Value::ok());
    assert_eq!(client.call(&[b"GET", key]), Value::bulk(&value));
    assert_eq!(client.call(&[b"GET", b"missing"]), Value::Nil);
    assert_eq!(client.call(&[b"SET", b"empty", b""]), Value::ok());
    assert_eq!(client.call(&[b"GET", b"empty"]), Value::bulk(""));
    let big = vec![7u8; 200_000];
    assert_eq!(client.call(&[b"set", b"big", &big]), Value::ok());
    assert_eq!(client.call(&[b"get", b"big"]), Value::bulk(&big));
}

#[test]
fn del_and_exists_count() {
    let (server, _dir) = server();
    let mut client = server.client();
    client.call(&[b"SET", b"a", b"1"]);
    client.call(&[b"SET", b"b", b"2"]);
    assert_eq!(
        client.call(&[b"EXISTS", b"a", b"b", b"c", b"a"]),
        Value::Integer(3)
    );
    assert_eq!(client.call(&[b"DEL", b"a", b"c", b"a"]), Value::Integer(1));
    assert_eq!(client.call(&[b"EXISTS", b"a"]), Value::Integer(0));
    assert_eq!(client.call(&[b"DBSIZE"]), Value::Integer(1));
}

#[test]
fn mset_and_mget() {
    let (server, _dir) = server();
    let mut client = server.client();
    assert_eq!(
        client.call(&[b"MSET", b"x", b"1", b"y", b"\0\r\n", b"x", b"3"]),
        Value::ok()
    );
    assert_eq!(
        client.call(&[b"MGET", b"x", b"nope", b"y"]),
        Value::Array(vec![Value::bulk("3"), Value::Nil, Value::bulk("\0\r\n")])
    );
    assert_eq!(
        client.call(&[b"MSET", b"x", b"1", b"y"]),
        Value::error("ERR wrong number of arguments for 'mset' command")
    );
}

#[test]
fn hundred_pipelined_commands_in_one_write() {
    let (server, _dir) = server();
    let mut client = server.client();
    let mut wire = Vec::new();
    for i in 0..100 {
        let key = format!("key:{i}");
        if i % 2 == 0 {
            wire.extend(encode(&[b"SET", key.as_bytes(), i.to_string().as_bytes()]));
        } else {
            wire.extend(encode(&[b"GET", format!("key:{}", i - 1).as_bytes()]));
        }
    }
    client.send_raw(&wire);
    for i in 0..100 {
        let expected = if i % 2 == 0 {
            Value::ok()
        } else {
            Value::bulk((i - 1).to_string())
        };
        assert_eq!(client.read(), expected, "reply {i}");
    }
    assert_eq!(client.call(&[b"DBSIZE"]), Value::Integer(50));
}

#[test]
fn unknown_command_and_wrong_arity_texts() {
    let (server, _dir) = server();
    let mut client = server.client();
    assert_eq!(
        client.call(&[b"foo", b"a", b"b"]),
        Value::error("ERR unknown command 'foo', with args beginning with: 'a' 'b' ")
    );
    assert_eq!(
        client.call(&[b"get"]),
        Value::error("ERR wrong number of arguments for 'get' command")
    );
    assert_eq!(
        client.call(&[b"SET", b"k"]),
        Value::error("ERR wrong number of arguments for 'set' command")
    );
    // A bare `$-5` line is an inline command in Redis, not a frame.
    client.send_raw(b"$-5\r\n");
    assert_eq!(
        client.read(),
        Value::error("ERR unknown command '$-5', with args beginning with: ")
    );
    assert_eq!(client.call(&[b"PING"]), Value::Simple("PONG".into()));
}

#[test]
fn key_over_the_limit_names_it() {
    let (server, _dir) = server();
    let mut client = server.client();
    let key = vec![b'k'; 4097];
    let Value::Error(text) = client.call(&[b"SET", &key, b"v"]) else {
        panic!("a key over 4 KiB must be refused");
    };
    assert!(text.starts_with("ERR ") && text.contains("4096"), "{text}");
    assert_eq!(client.call(&[b"PING"]), Value::Simple("PONG".into()));
    assert_eq!(client.call(&[b"SET", &key[..4096], b"v"]), Value::ok());
    // Such a key cannot exist: reads and deletes find it absent, as Redis
    // would, and a DEL of it with other keys deletes those and says so.
    assert_eq!(client.call(&[b"GET", &key]), Value::Nil);
    assert_eq!(client.call(&[b"EXISTS", &key]), Value::Integer(0));
    assert_eq!(client.call(&[b"TTL", &key]), Value::Integer(-2));
    assert_eq!(client.call(&[b"EXPIRE", &key, b"10"]), Value::Integer(0));
    assert_eq!(client.call(&[b"GETDEL", &key]), Value::Nil);
    assert_eq!(
        client.call(&[b"MGET", &key[..4096], &key]),
        Value::Array(vec![Value::bulk("v"), Value::Nil])
    );
    assert_eq!(client.call(&[b"SET", b"other", b"v"]), Value::ok());
    assert_eq!(
        client.call(&[b"DEL", b"other", &key, &key[..4096]]),
        Value::Integer(2)
    );
    // Writes that would create it name the limit and change nothing.
    for write in [
        &[&b"INCR"[..], &key][..],
        &[b"SETNX", &key, b"v"],
        &[b"MSET", b"a", b"1", &key, b"v"],
    ] {
        let Value::Error(text) = client.call(write) else {
            panic!("a write of a key over 4 KiB must be refused");
        };
        assert!(text.contains("max_key_bytes"), "{text}");
    }
    assert_eq!(client.call(&[b"EXISTS", b"a"]), Value::Integer(0));
}

#[test]
fn redis_cli_and_benchmark_startup_commands() {
    let (server, _dir) = server();
    let mut client = server.client();
    assert_eq!(client.call(&[b"COMMAND", b"DOCS"]), Value::Array(vec![]));
    assert!(matches!(client.call(&[b"COMMAND", b"COUNT"]), Value::Integer(n) if n > 10));
    assert_eq!(
        client.call(&[b"CONFIG", b"GET", b"save"]),
        Value::Array(vec![Value::bulk("save"), Value::bulk("")])
    );
    assert_eq!(
        client.call(&[b"CONFIG", b"GET", b"appendonly"]),
        Value::Array(vec![Value::bulk("appendonly"), Value::bulk("no")])
    );
    assert_eq!(client.call(&[b"SELECT", b"0"]), Value::ok());
    assert_eq!(
        client.call(&[b"SELECT", b"3"]),
        Value::error("ERR DB index is out of range")
    );
    let Value::Bulk(info) = client.call(&[b"INFO"]) else {
        panic!("INFO must answer a bulk string");
    };
    let info = String::from_utf8(info).expect("INFO is text");
    assert!(
        info.starts_with("# Server\r\nredis_version:7.2.0\r\n"),
        "{info}"
    );
    assert!(
        info.contains("folio_engine:paged\r\n") && info.contains("# Folio\r\n"),
        "{info}"
    );
    assert!(info.contains("connected_clients:1\r\n"), "{info}");
    for section in [
        "# Memory\r\n",
        "# Persistence\r\n",
        "# Stats\r\n",
        "# Keyspace\r\n",
    ] {
        assert!(info.contains(section), "{section} missing: {info}");
    }
    assert!(info.contains("total_connections_received:1\r\n"), "{info}");
    assert!(info.contains("\r\nused_memory_rss:"), "{info}");
    for field in [
        "cache_hits",
        "segments",
        "free_slots",
        "wal_lsn",
        "wal_fsyncs",
        "wal_rotations_unprepared",
        "checkpoints",
    ] {
        assert!(
            info.contains(&format!("\r\n{field}:")),
            "{field} missing: {info}"
        );
    }
    let Value::Bulk(stats) = client.call(&[b"INFO", b"stats"]) else {
        panic!("INFO stats");
    };
    let stats = String::from_utf8(stats).unwrap();
    assert!(
        stats.starts_with("# Stats\r\n") && !stats.contains("# Server"),
        "{stats}"
    );
    assert!(stats.contains("expired_keys:0\r\n"), "{stats}");
}

#[test]
fn command_info_describes_arity_flags_and_keys() {
    let (server, _dir) = server();
    let mut client = server.client();
    let int = Value::Integer;
    let flags =
        |names: &[&str]| Value::Array(names.iter().map(|&n| Value::Simple(n.into())).collect());
    assert_eq!(
        client.call(&[b"COMMAND", b"INFO", b"get", b"MSET", b"nosuch", b"ping"]),
        Value::Array(vec![
            Value::Array(vec![
                Value::bulk("get"),
                int(2),
                flags(&["readonly", "fast"]),
                int(1),
                int(1),
                int(1),
            ]),
            Value::Array(vec![
                Value::bulk("mset"),
                int(-3),
                flags(&["write", "denyoom"]),
                int(1),
                int(-1),
                int(2),
            ]),
            Value::Nil,
            Value::Array(vec![
                Value::bulk("ping"),
                int(-1),
                Value::Array(vec![Value::Simple("fast".into())]),
                int(0),
                int(0),
                int(0),
            ]),
        ])
    );
    let Value::Integer(count) = client.call(&[b"COMMAND", b"COUNT"]) else {
        panic!("count")
    };
    let mut many: Vec<&[u8]> = vec![b"COMMAND", b"INFO"];
    many.extend(std::iter::repeat_n(&b"get"[..], 10_001));
    assert_eq!(
        client.call(&many),
        Value::error("ERR COMMAND INFO names 10001 commands; the limit is 10000")
    );
    let Value::Array(all) = client.call(&[b"COMMAND", b"INFO"]) else {
        panic!("info")
    };
    assert_eq!(all.len() as i64, count);
    // Plain `COMMAND` is the same table (cluster-aware clients ask for it).
    assert_eq!(client.call(&[b"COMMAND"]), Value::Array(all));
}

#[test]
fn quit_replies_then_closes() {
    let (server, _dir) = server();
    let mut client = server.client();
    assert_eq!(client.call(&[b"QUIT"]), Value::ok());
    assert!(client.is_closed());
}
