//! SETNX, GETSET, GETDEL, MSETNX, STRLEN, APPEND, INCR/DECR/INCRBY/DECRBY,
//! TYPE, UNLINK, TIME: replies and error texts as Redis 7 gives them.

mod common;

use common::{open_store, TestServer, Value};

fn int(n: i64) -> Value {
    Value::Integer(n)
}

#[test]
fn conditional_and_swapping_writes() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(open_store(dir.path()));
    let mut c = server.client();
    assert_eq!(c.call(&[b"SETNX", b"k", b"1"]), int(1));
    assert_eq!(c.call(&[b"SETNX", b"k", b"2"]), int(0));
    assert_eq!(c.call(&[b"GETSET", b"k", b"3"]), Value::bulk(b"1"));
    assert_eq!(c.call(&[b"GETSET", b"new", b"x"]), Value::Nil);
    assert_eq!(c.call(&[b"GETDEL", b"k"]), Value::bulk(b"3"));
    assert_eq!(c.call(&[b"GETDEL", b"k"]), Value::Nil);
    assert_eq!(c.call(&[b"EXISTS", b"k"]), int(0));
    assert_eq!(c.call(&[b"MSETNX", b"a", b"1", b"b", b"2"]), int(1));
    assert_eq!(c.call(&[b"MSETNX", b"b", b"9", b"c", b"9"]), int(0));
    assert_eq!(
        c.call(&[b"GET", b"c"]),
        Value::Nil,
        "MSETNX sets none when one exists"
    );
    assert_eq!(
        c.call(&[b"MSETNX", b"a", b"1", b"b"]),
        Value::error("ERR wrong number of arguments for 'msetnx' command")
    );
    assert_eq!(c.call(&[b"UNLINK", b"a", b"b", b"zzz"]), int(2));
    assert_eq!(c.call(&[b"TYPE", b"new"]), Value::Simple("string".into()));
    assert_eq!(c.call(&[b"TYPE", b"zzz"]), Value::Simple("none".into()));
}

#[test]
fn append_and_strlen_are_binary_safe() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(open_store(dir.path()));
    let mut c = server.client();
    assert_eq!(c.call(&[b"STRLEN", b"s"]), int(0));
    assert_eq!(c.call(&[b"APPEND", b"s", b"ab\x00"]), int(3));
    assert_eq!(c.call(&[b"APPEND", b"s", b"\r\n"]), int(5));
    assert_eq!(c.call(&[b"GET", b"s"]), Value::bulk(b"ab\x00\r\n"));
    assert_eq!(c.call(&[b"STRLEN", b"s"]), int(5));
}

#[test]
fn counters() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(open_store(dir.path()));
    let mut c = server.client();
    assert_eq!(c.call(&[b"INCR", b"n"]), int(1));
    assert_eq!(c.call(&[b"INCRBY", b"n", b"41"]), int(42));
    assert_eq!(c.call(&[b"DECR", b"n"]), int(41));
    assert_eq!(c.call(&[b"DECRBY", b"n", b"-9"]), int(50));
    assert_eq!(c.call(&[b"GET", b"n"]), Value::bulk(b"50"));
    let not_int = Value::error("ERR value is not an integer or out of range");
    assert_eq!(c.call(&[b"INCRBY", b"n", b"1.5"]), not_int);
    assert_eq!(c.call(&[b"INCRBY", b"n", b" 1"]), not_int);
    assert_eq!(c.call(&[b"SET", b"text", b"abc"]), Value::ok());
    assert_eq!(c.call(&[b"INCR", b"text"]), not_int);
    assert_eq!(
        c.call(&[b"SET", b"max", i64::MAX.to_string().as_bytes()]),
        Value::ok()
    );
    assert_eq!(
        c.call(&[b"INCR", b"max"]),
        Value::error("ERR increment or decrement would overflow")
    );
    assert_eq!(
        c.call(&[b"GET", b"max"]),
        Value::bulk(i64::MAX.to_string().as_bytes())
    );
    assert_eq!(
        c.call(&[b"DECRBY", b"n", i64::MIN.to_string().as_bytes()]),
        Value::error("ERR decrement would overflow")
    );
}

/// INCR from several clients at once loses no increment.
#[test]
fn concurrent_increments_are_atomic() {
    const CLIENTS: usize = 4;
    const EACH: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(open_store(dir.path()));
    std::thread::scope(|s| {
        for _ in 0..CLIENTS {
            let mut c = server.client();
            s.spawn(move || {
                for _ in 0..EACH {
                    assert!(matches!(c.call(&[b"INCR", b"shared"]), Value::Integer(_)));
                }
            });
        }
    });
    let total = (CLIENTS * EACH).to_string();
    assert_eq!(
        server.client().call(&[b"GET", b"shared"]),
        Value::bulk(total.as_bytes())
    );
}

/// MGET and EXISTS never see an MSET, a multi-key DEL or an MSETNX half
/// done: Redis's "clients never see some keys updated and others not".
#[test]
fn multi_key_reads_see_multi_key_writes_whole() {
    const ROUNDS: usize = 1500;
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(open_store(dir.path()));
    // Keys far apart: with 64 stripes, most pairs fall on two.
    let keys: [&[u8]; 4] = [b"alpha", b"beta", b"gamma", b"delta"];
    let mut writer = server.client();
    let mut reader = server.client();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..ROUNDS {
                let v = i.to_string();
                let mut mset: Vec<&[u8]> = vec![b"MSET"];
                for key in keys {
                    mset.extend([key, v.as_bytes()]);
                }
                assert_eq!(writer.call(&mset), Value::ok());
                if i % 3 == 0 {
                    let mut del: Vec<&[u8]> = vec![b"DEL"];
                    del.extend(keys);
                    assert_eq!(writer.call(&del), int(4));
                    let mut msetnx: Vec<&[u8]> = vec![b"MSETNX"];
                    for key in keys {
                        msetnx.extend([key, v.as_bytes()]);
                    }
                    assert_eq!(writer.call(&msetnx), int(1));
                }
            }
            done.store(true, std::sync::atomic::Ordering::Release);
        });
        while !done.load(std::sync::atomic::Ordering::Acquire) {
            let mut mget: Vec<&[u8]> = vec![b"MGET"];
            mget.extend(keys);
            let Value::Array(values) = reader.call(&mget) else {
                panic!("MGET answers an array");
            };
            assert!(
                values.windows(2).all(|w| w[0] == w[1]),
                "MGET saw a multi-key write half done: {values:?}"
            );
            let mut exists: Vec<&[u8]> = vec![b"EXISTS"];
            exists.extend(keys);
            let Value::Integer(n) = reader.call(&exists) else {
                panic!("EXISTS answers an integer");
            };
            assert!(n == 0 || n == 4, "EXISTS saw {n} of 4 keys");
        }
    });
}

/// EXISTS counts a key named many times once per naming, reading it once.
#[test]
fn exists_counts_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(open_store(dir.path()));
    let mut c = server.client();
    assert_eq!(c.call(&[b"SET", b"k", b"v"]), Value::ok());
    assert_eq!(
        c.call(&[b"EXISTS", b"k", b"nope", b"k", b"k", b"nope"]),
        int(3)
    );
    assert_eq!(c.call(&[b"EXISTS", b"k"]), int(1));
    assert_eq!(c.call(&[b"EXISTS", b"nope"]), int(0));
}

#[test]
fn time_is_the_unix_clock() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(open_store(dir.path()));
    let Value::Array(parts) = server.client().call(&[b"TIME"]) else {
        panic!("TIME is an array");
    };
    let [Value::Bulk(secs), Value::Bulk(micros)] = &parts[..] else {
        panic!("TIME is two bulk strings: {parts:?}");
    };
    let secs: u64 = std::str::from_utf8(secs).unwrap().parse().unwrap();
    let micros: u64 = std::str::from_utf8(micros).unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(secs.abs_diff(now) <= 5 && micros < 1_000_000);
}
