//! Expiry over the real server: SET's expiry options, SETEX, PSETEX, GETEX,
//! EXPIRE and its kin, TTL, PERSIST; keys that expire while the server
//! runs and across a restart; SCAN and KEYS. Replies and error texts as
//! Redis 7 gives them.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{open_store, Client, TestServer, Value};
use folio_server::ServerConfig;

fn int(n: i64) -> Value {
    Value::Integer(n)
}

fn err(text: &str) -> Value {
    Value::error(text)
}

fn integer(value: Value) -> i64 {
    match value {
        Value::Integer(n) => n,
        other => panic!("expected an integer, got {other:?}"),
    }
}

/// TTL of `key` is `set_secs`, give or take the two seconds a loaded
/// machine may take between the write and the check (TTL rounds to the
/// nearest second, so an exact check failed past half a second).
fn assert_ttl(c: &mut Client, key: &[u8], set_secs: i64, what: &str) {
    let ttl = integer(c.call(&[b"TTL", key]));
    assert!(
        (set_secs - 2..=set_secs).contains(&ttl),
        "TTL {ttl}, set to {set_secs} s: {what}"
    );
}

/// Polls `check` for up to 5 s.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn set_expiry_options_and_their_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(open_store(dir.path()));
    let mut c = server.client();
    assert_eq!(c.call(&[b"SET", b"k", b"v", b"EX", b"100"]), Value::ok());
    assert_ttl(&mut c, b"k", 100, "");
    let pttl = integer(c.call(&[b"PTTL", b"k"]));
    assert!((95_000..=100_000).contains(&pttl), "{pttl}");
    assert_eq!(c.call(&[b"SET", b"k", b"v2", b"KEEPTTL"]), Value::ok());
    assert_ttl(&mut c, b"k", 100, "KEEPTTL keeps it");
    assert_eq!(c.call(&[b"SET", b"k", b"v3"]), Value::ok());
    assert_eq!(c.call(&[b"TTL", b"k"]), int(-1), "a plain SET clears it");
    assert_eq!(
        c.call(&[b"SET", b"k", b"v", b"ex", b"10", b"ex", b"20"]),
        Value::ok()
    );
    assert_ttl(&mut c, b"k", 20, "a repeated option: the last wins");
    assert_eq!(
        c.call(&[b"SET", b"k", b"v", b"PX", b"5000", b"GET"]),
        Value::bulk(b"v")
    );
    assert_ttl(&mut c, b"k", 5, "");
    assert_eq!(
        c.call(&[b"SET", b"k", b"v", b"PXAT", b"4102444800000"]),
        Value::ok()
    );
    assert_eq!(c.call(&[b"PEXPIRETIME", b"k"]), int(4_102_444_800_000));
    assert_eq!(
        c.call(&[b"SET", b"k", b"v", b"EXAT", b"4102444800"]),
        Value::ok()
    );
    assert_eq!(c.call(&[b"EXPIRETIME", b"k"]), int(4_102_444_800));
    assert_eq!(c.call(&[b"SET", b"k", b"gone", b"EXAT", b"1"]), Value::ok());
    assert_eq!(
        c.call(&[b"GET", b"k"]),
        Value::Nil,
        "a deadline in the past deletes"
    );
    assert_eq!(
        c.call(&[b"SET", b"n", b"v", b"NX", b"EX", b"10"]),
        Value::ok()
    );
    assert_eq!(
        c.call(&[b"SET", b"n", b"w", b"NX", b"EX", b"10"]),
        Value::Nil
    );

    let invalid = err("ERR invalid expire time in 'set' command");
    assert_eq!(c.call(&[b"SET", b"k", b"v", b"EX", b"0"]), invalid);
    assert_eq!(c.call(&[b"SET", b"k", b"v", b"PX", b"-5"]), invalid);
    assert_eq!(
        c.call(&[b"SET", b"k", b"v", b"EX", b"9223372036854775807"]),
        invalid
    );
    assert_eq!(
        c.call(&[b"SET", b"k", b"v", b"PX", b"9223372036854775807"]),
        invalid
    );
    assert_eq!(
        c.call(&[b"SET", b"k", b"v", b"EX", b"ten"]),
        err("ERR value is not an integer or out of range")
    );
    let syntax = err("ERR syntax error");
    assert_eq!(c.call(&[b"SET", b"k", b"v", b"EX"]), syntax);
    assert_eq!(
        c.call(&[b"SET", b"k", b"v", b"EX", b"1", b"PX", b"1"]),
        syntax
    );
    assert_eq!(
        c.call(&[b"SET", b"k", b"v", b"EX", b"1", b"KEEPTTL"]),
        syntax
    );
    assert_eq!(
        c.call(&[b"SET", b"k", b"v", b"KEEPTTL", b"PX", b"1"]),
        syntax
    );
}

#[test]
fn setex_psetex_getex_persist() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(open_store(dir.path()));
    let mut c = server.client();
    assert_eq!(c.call(&[b"SETEX", b"s", b"100", b"v"]), Value::ok());
    assert_ttl(&mut c, b"s", 100, "");
    assert_eq!(c.call(&[b"PSETEX", b"p", b"100000", b"w"]), Value::ok());
    assert_ttl(&mut c, b"p", 100, "");
    assert_eq!(
        c.call(&[b"SETEX", b"s", b"0", b"v"]),
        err("ERR invalid expire time in 'setex' command")
    );
    assert_eq!(
        c.call(&[b"PSETEX", b"s", b"-1", b"v"]),
        err("ERR invalid expire time in 'psetex' command")
    );
    assert_eq!(
        c.call(&[b"SETEX", b"s", b"x", b"v"]),
        err("ERR value is not an integer or out of range")
    );

    assert_eq!(c.call(&[b"GETEX", b"s"]), Value::bulk(b"v"));
    assert_eq!(
        c.call(&[b"TTL", b"s"]),
        int(100),
        "plain GETEX changes nothing"
    );
    assert_eq!(c.call(&[b"GETEX", b"s", b"PERSIST"]), Value::bulk(b"v"));
    assert_eq!(c.call(&[b"TTL", b"s"]), int(-1));
    assert_eq!(c.call(&[b"GETEX", b"s", b"EX", b"50"]), Value::bulk(b"v"));
    assert_ttl(&mut c, b"s", 50, "");
    assert_eq!(c.call(&[b"GETEX", b"s", b"PXAT", b"1"]), Value::bulk(b"v"));
    assert_eq!(
        c.call(&[b"EXISTS", b"s"]),
        int(0),
        "a past deadline deletes"
    );
    assert_eq!(c.call(&[b"GETEX", b"missing", b"EX", b"10"]), Value::Nil);
    // Redis looks the key up before it checks the expiry.
    assert_eq!(c.call(&[b"GETEX", b"missing", b"EX", b"0"]), Value::Nil);
    assert_eq!(c.call(&[b"GETEX", b"missing", b"PX", b"soon"]), Value::Nil);
    let syntax = err("ERR syntax error");
    assert_eq!(c.call(&[b"GETEX", b"p", b"EX", b"10", b"PERSIST"]), syntax);
    assert_eq!(c.call(&[b"GETEX", b"p", b"KEEPTTL"]), syntax);
    assert_eq!(c.call(&[b"GETEX", b"p", b"EX"]), syntax);
    assert_eq!(
        c.call(&[b"GETEX", b"p", b"EX", b"0"]),
        err("ERR invalid expire time in 'getex' command")
    );

    assert_eq!(c.call(&[b"PERSIST", b"p"]), int(1));
    assert_eq!(c.call(&[b"PERSIST", b"p"]), int(0));
    assert_eq!(c.call(&[b"PERSIST", b"missing"]), int(0));
    assert_eq!(c.call(&[b"TTL", b"missing"]), int(-2));
    assert_eq!(c.call(&[b"PTTL", b"p"]), int(-1));
    assert_eq!(c.call(&[b"EXPIRETIME", b"p"]), int(-1));
    assert_eq!(c.call(&[b"PEXPIRETIME", b"missing"]), int(-2));
}

#[test]
fn expire_conditions_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(open_store(dir.path()));
    let mut c = server.client();
    assert_eq!(c.call(&[b"EXPIRE", b"missing", b"10"]), int(0));
    assert_eq!(c.call(&[b"SET", b"a", b"1"]), Value::ok());
    assert_eq!(
        c.call(&[b"EXPIRE", b"a", b"10", b"XX"]),
        int(0),
        "XX: no expiry yet"
    );
    assert_eq!(
        c.call(&[b"EXPIRE", b"a", b"10", b"GT"]),
        int(0),
        "none counts as infinite"
    );
    assert_eq!(c.call(&[b"EXPIRE", b"a", b"100", b"NX"]), int(1));
    assert_eq!(c.call(&[b"EXPIRE", b"a", b"200", b"NX"]), int(0));
    assert_eq!(c.call(&[b"EXPIRE", b"a", b"50", b"GT"]), int(0));
    assert_eq!(c.call(&[b"EXPIRE", b"a", b"200", b"GT"]), int(1));
    assert_ttl(&mut c, b"a", 200, "");
    assert_eq!(c.call(&[b"EXPIRE", b"a", b"300", b"LT"]), int(0));
    assert_eq!(c.call(&[b"PEXPIRE", b"a", b"30000", b"lt"]), int(1));
    assert_ttl(&mut c, b"a", 30, "");
    assert_eq!(c.call(&[b"EXPIREAT", b"a", b"4102444800"]), int(1));
    assert_eq!(c.call(&[b"EXPIRETIME", b"a"]), int(4_102_444_800));
    assert_eq!(c.call(&[b"PEXPIREAT", b"a", b"4102444800123"]), int(1));
    assert_eq!(c.call(&[b"PEXPIRETIME", b"a"]), int(4_102_444_800_123));

    assert_eq!(
        c.call(&[b"EXPIRE", b"a", b"10", b"NX", b"XX"]),
        err("ERR NX and XX, GT or LT options at the same time are not compatible")
    );
    assert_eq!(
        c.call(&[b"EXPIRE", b"a", b"10", b"GT", b"LT"]),
        err("ERR GT and LT options at the same time are not compatible")
    );
    assert_eq!(
        c.call(&[b"EXPIRE", b"a", b"10", b"soon"]),
        err("ERR Unsupported option soon")
    );
    assert_eq!(
        c.call(&[b"EXPIRE", b"a", b"ten"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        c.call(&[b"EXPIRE", b"a", b"9223372036854775807"]),
        err("ERR invalid expire time in 'expire' command")
    );
    assert_eq!(
        c.call(&[b"PEXPIRE", b"a", b"9223372036854775807"]),
        err("ERR invalid expire time in 'pexpire' command")
    );
    assert_eq!(
        c.call(&[b"EXPIRE", b"a"]),
        err("ERR wrong number of arguments for 'expire' command")
    );
    assert_eq!(
        c.call(&[b"EXPIRE", b"a", b"-1"]),
        int(1),
        "a past deadline deletes"
    );
    assert_eq!(c.call(&[b"EXISTS", b"a"]), int(0));
}

#[test]
fn writes_keep_or_clear_the_expiry_as_redis_does() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(open_store(dir.path()));
    let mut c = server.client();
    for key in [&b"n"[..], b"s", b"g", b"m"] {
        assert_eq!(c.call(&[b"SET", key, b"1", b"EX", b"100"]), Value::ok());
    }
    assert_eq!(c.call(&[b"INCRBY", b"n", b"5"]), int(6));
    assert_ttl(&mut c, b"n", 100, "INCR keeps it");
    assert_eq!(c.call(&[b"APPEND", b"s", b"23"]), int(3));
    assert_ttl(&mut c, b"s", 100, "APPEND keeps it");
    assert_eq!(c.call(&[b"GETSET", b"g", b"2"]), Value::bulk(b"1"));
    assert_eq!(c.call(&[b"TTL", b"g"]), int(-1), "GETSET clears it");
    assert_eq!(c.call(&[b"MSET", b"m", b"2"]), Value::ok());
    assert_eq!(c.call(&[b"TTL", b"m"]), int(-1), "MSET clears it");
}

/// With no sweep in time, expired keys still in the engine are hidden by
/// the deadline index alone: DBSIZE, KEYS, SCAN and EXISTS skip them.
#[test]
fn expired_keys_are_hidden_before_the_sweep_comes() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        expiry_sweep_interval: Duration::from_secs(3600),
        ..ServerConfig::default()
    };
    let server = TestServer::with_config(open_store(dir.path()), config);
    let mut c = server.client();
    assert_eq!(c.call(&[b"SET", b"stays", b"1"]), Value::ok());
    for i in 0..50 {
        let key = format!("short:{i}");
        let reply = c.call(&[b"SET", key.as_bytes(), b"v", b"PX", b"100"]);
        assert_eq!(reply, Value::ok());
    }
    // The first round ran at the start, before the keys expired.
    std::thread::sleep(Duration::from_millis(250));
    assert_eq!(server.store.len().unwrap(), 51, "nothing swept yet");
    assert_eq!(c.call(&[b"DBSIZE"]), int(1));
    assert_eq!(c.call(&[b"EXISTS", b"short:7", b"stays"]), int(1));
    assert_eq!(
        c.call(&[b"KEYS", b"*"]),
        Value::Array(vec![Value::bulk(b"stays")])
    );
    assert_eq!(scan_all(&mut c, &[]), BTreeSet::from([b"stays".to_vec()]));
    assert_eq!(
        scan_all(&mut c, &[b"MATCH", b"short:*"]),
        BTreeSet::new(),
        "nor with a pattern"
    );
    assert_eq!(server.store.len().unwrap(), 51, "still not swept");
}

#[test]
fn expired_keys_vanish_from_every_command_and_are_swept() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(open_store(dir.path()));
    let mut c = server.client();
    assert_eq!(c.call(&[b"SET", b"stays", b"1"]), Value::ok());
    for i in 0..200 {
        let key = format!("short:{i}");
        assert_eq!(
            c.call(&[b"SET", key.as_bytes(), b"v", b"PX", b"150"]),
            Value::ok()
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(c.call(&[b"GET", b"short:7"]), Value::Nil);
    assert_eq!(c.call(&[b"EXISTS", b"short:7", b"stays"]), int(1));
    assert_eq!(c.call(&[b"DBSIZE"]), int(1));
    assert_eq!(
        c.call(&[b"KEYS", b"*"]),
        Value::Array(vec![Value::bulk(b"stays")])
    );
    assert_eq!(scan_all(&mut c, &[]), BTreeSet::from([b"stays".to_vec()]));
    assert_eq!(c.call(&[b"TTL", b"short:7"]), int(-2));
    assert_eq!(
        c.call(&[b"SETNX", b"short:8", b"new"]),
        int(1),
        "an expired key is absent"
    );
    // The sweep deletes them from the engine too.
    let store = Arc::clone(&server.store);
    eventually("the sweep deletes expired keys", || {
        store.len().unwrap() == 2
    });
    // The sweep updates its in-memory index after the engine's write.
    eventually("INFO keyspace shows the two keys", || {
        c.call(&[b"INFO", b"keyspace"])
            == Value::bulk("# Keyspace\r\ndb0:keys=2,expires=0,avg_ttl=0\r\n")
    });
    // Each expired key counted once: by the sweep, or (short:8, unless the
    // sweep came first) by SETNX. The sweep counts after its write, so the
    // count may trail the engine by a moment.
    eventually("every expired key is counted once", || {
        let Value::Bulk(stats) = c.call(&[b"INFO", b"stats"]) else {
            panic!("INFO answers a bulk string");
        };
        String::from_utf8_lossy(&stats).contains("\r\nexpired_keys:200\r\n")
    });
}

#[test]
fn expiry_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(open_store(dir.path()));
    let mut c = server.client();
    assert_eq!(
        c.call(&[b"SET", b"long", b"v", b"EX", b"1000"]),
        Value::ok()
    );
    assert_eq!(
        c.call(&[b"SET", b"short", b"v", b"PX", b"200"]),
        Value::ok()
    );
    assert_eq!(c.call(&[b"SET", b"plain", b"v"]), Value::ok());
    let store = Arc::clone(&server.store);
    server.stop().expect("stop");
    store.close().expect("close");
    std::thread::sleep(Duration::from_millis(300));

    let server = TestServer::start(open_store(dir.path()));
    let mut c = server.client();
    let ttl = integer(c.call(&[b"TTL", b"long"]));
    assert!((990..=1000).contains(&ttl), "{ttl}");
    assert_eq!(c.call(&[b"TTL", b"plain"]), int(-1));
    assert_eq!(
        c.call(&[b"GET", b"short"]),
        Value::Nil,
        "expired while down"
    );
    assert_eq!(c.call(&[b"DBSIZE"]), int(2));
    let info = c.call(&[b"INFO", b"keyspace"]);
    let Value::Bulk(info) = info else {
        panic!("{info:?}")
    };
    let info = String::from_utf8(info).unwrap();
    assert!(info.contains("db0:keys=2,expires=1,avg_ttl="), "{info}");
    let store = Arc::clone(&server.store);
    eventually("the sweep deletes what expired while down", || {
        store.len().unwrap() == 2
    });
}

/// Every key of a full SCAN iteration with `options`, each checked to come
/// once.
fn scan_all(c: &mut Client, options: &[&[u8]]) -> BTreeSet<Vec<u8>> {
    let (mut cursor, mut seen) = (b"0".to_vec(), BTreeSet::new());
    loop {
        let mut args: Vec<&[u8]> = vec![b"SCAN", &cursor];
        args.extend_from_slice(options);
        let Value::Array(reply) = c.call(&args) else {
            panic!("SCAN reply")
        };
        let [Value::Bulk(next), Value::Array(keys)] = &reply[..] else {
            panic!("SCAN reply {reply:?}")
        };
        for key in keys {
            let Value::Bulk(key) = key else {
                panic!("{key:?}")
            };
            assert!(seen.insert(key.clone()), "a key came twice");
        }
        if next == b"0" {
            return seen;
        }
        let position: u64 = std::str::from_utf8(next).unwrap().parse().unwrap();
        assert!(
            i64::try_from(position).is_ok(),
            "cursor {position} is over i64::MAX"
        );
        cursor = next.clone();
    }
}

#[test]
fn scan_and_keys() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(open_store(dir.path()));
    let mut c = server.client();
    let mut all = BTreeSet::new();
    for i in 0..300 {
        let key = format!("user:{i}");
        assert_eq!(c.call(&[b"SET", key.as_bytes(), b"v"]), Value::ok());
        all.insert(key.into_bytes());
    }
    assert_eq!(c.call(&[b"SET", b"other", b"v"]), Value::ok());
    let mut with_other = all.clone();
    with_other.insert(b"other".to_vec());
    assert_eq!(scan_all(&mut c, &[]), with_other);
    assert_eq!(scan_all(&mut c, &[b"COUNT", b"7"]), with_other);
    assert_eq!(
        scan_all(&mut c, &[b"MATCH", b"user:*", b"COUNT", b"1000"]),
        all
    );
    assert_eq!(scan_all(&mut c, &[b"TYPE", b"string"]), with_other);
    assert!(scan_all(&mut c, &[b"TYPE", b"list"]).is_empty());
    let tens: BTreeSet<Vec<u8>> = (1..10).map(|i| format!("user:{i}0").into_bytes()).collect();
    assert_eq!(scan_all(&mut c, &[b"MATCH", b"user:[1-9]0"]), tens);

    let Value::Array(keys) = c.call(&[b"KEYS", b"user:2?"]) else {
        panic!("KEYS")
    };
    let keys: BTreeSet<Vec<u8>> = keys
        .into_iter()
        .map(|k| match k {
            Value::Bulk(k) => k,
            other => panic!("{other:?}"),
        })
        .collect();
    let expected: BTreeSet<Vec<u8>> = (20..30).map(|i| format!("user:{i}").into_bytes()).collect();
    assert_eq!(keys, expected);
    assert_eq!(c.call(&[b"KEYS", b"nothing*"]), Value::Array(vec![]));

    for bad in [
        &b"abc"[..],
        b" 1",
        b"1 ",
        b"1.5",
        b"-",
        b"18446744073709551616",
    ] {
        assert_eq!(c.call(&[b"SCAN", bad]), err("ERR invalid cursor"));
    }
    // As Redis's strtoul: the empty cursor is 0, and -1 wraps past the end.
    assert_eq!(c.call(&[b"SCAN", b""]), c.call(&[b"SCAN", b"0"]));
    assert_eq!(
        c.call(&[b"SCAN", b"-1"]),
        Value::Array(vec![Value::bulk("0"), Value::Array(vec![])])
    );
    assert_eq!(
        c.call(&[b"SCAN", b"0", b"COUNT", b"0"]),
        err("ERR syntax error")
    );
    assert_eq!(
        c.call(&[b"SCAN", b"0", b"COUNT", b"x"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(c.call(&[b"SCAN", b"0", b"MATCH"]), err("ERR syntax error"));
    assert_eq!(
        c.call(&[b"SCAN", b"0", b"BOGUS", b"1"]),
        err("ERR syntax error")
    );
}

/// A value at the limit takes an expiry, as in Redis: the limit (the
/// engine's less the largest header) is the same with a deadline or
/// without, and a value over it is refused either way, naming it.
#[test]
fn a_value_at_the_limit_takes_an_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(open_store(dir.path()));
    let mut c = server.client();
    let limit = folio::Config::default().max_value_bytes - 9;
    let big = vec![b'x'; limit];
    assert_eq!(c.call(&[b"SET", b"big", &big]), Value::ok());
    assert_eq!(c.call(&[b"EXPIRE", b"big", b"100"]), int(1));
    let ttl = integer(c.call(&[b"TTL", b"big"]));
    assert!((90..=100).contains(&ttl), "TTL {ttl}");
    assert_eq!(
        c.call(&[b"STRLEN", b"big"]),
        int(i64::try_from(limit).unwrap())
    );
    let refused = format!(
        "ERR value is {} bytes; the limit is {limit} bytes (config max_value_bytes)",
        limit + 1
    );
    assert_eq!(c.call(&[b"APPEND", b"big", b"y"]), err(&refused));
    assert_eq!(
        c.call(&[b"SET", b"plain", &[&big[..], b"y"].concat()]),
        err(&refused)
    );
}
