//! The server driven by a real client library, redis-rs, over RESP2 and
//! RESP3: string commands, expiry, SCAN, pipelining, AUTH, CLIENT SETINFO
//! (which redis-rs sends on connect) and the page and node commands.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{open_pages, open_store, TestServer};
use folio_server::{ServerConfig, Stores};
use redis::{Commands, Value};

fn url(server: &TestServer, extra: &str) -> String {
    format!("redis://{}/{extra}", server.addr)
}

fn connect(url: &str) -> redis::Connection {
    let client = redis::Client::open(url).expect("client");
    client
        .get_connection_with_timeout(Duration::from_secs(10))
        .expect("connect")
}

#[test]
fn string_commands_expiry_and_scan_in_resp2_and_resp3() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(open_store(dir.path()));
    for extra in ["", "?protocol=resp3"] {
        let mut con = connect(&url(&server, extra));
        let _: () = con.set("greeting", "hello").unwrap();
        let got: String = con.get("greeting").unwrap();
        assert_eq!(got, "hello");
        let missing: Option<String> = con.get("missing").unwrap();
        assert_eq!(missing, None);
        let binary = vec![0u8, 255, 13, 10, 0];
        let _: () = con.set(&binary[..], &binary[..]).unwrap();
        let back: Vec<u8> = con.get(&binary[..]).unwrap();
        assert_eq!(back, binary);
        let n: i64 = con.incr("counter", 5).unwrap();
        assert!(n % 5 == 0);
        let _: () = con.set_ex("short", "v", 100).unwrap();
        let ttl: i64 = con.ttl("short").unwrap();
        assert_eq!(ttl, 100);
        let set: bool = con.expire("greeting", 50).unwrap();
        assert!(set);
        let persisted: bool = con.persist("greeting").unwrap();
        assert!(persisted);
        let values: Vec<Option<String>> = con.mget(&["greeting", "missing"]).unwrap();
        assert_eq!(values, vec![Some("hello".to_owned()), None]);
        let exists: i64 = con.exists(&["greeting", "short", "missing"]).unwrap();
        assert_eq!(exists, 2);
        let scanned: BTreeSet<Vec<u8>> = con
            .scan::<Vec<u8>>()
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let keys: Vec<Vec<u8>> = con.keys("*").unwrap();
        assert_eq!(scanned, keys.into_iter().collect::<BTreeSet<_>>());
        assert_eq!(scanned.len(), 4);
        let dbsize: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
        assert_eq!(dbsize, 4);
        let removed: i64 = con
            .del(&["greeting", "short", "counter", "missing"])
            .unwrap();
        assert_eq!(removed, 3);
        let _: i64 = con.del(&binary[..]).unwrap();
    }
}

#[test]
fn resp3_replies_keep_their_types() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(open_store(dir.path()));
    let mut con = connect(&url(&server, "?protocol=resp3"));
    let nil: Value = redis::cmd("GET").arg("nothing").query(&mut con).unwrap();
    assert_eq!(nil, Value::Nil);
    let config: Value = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxclients")
        .query(&mut con)
        .unwrap();
    assert!(
        matches!(config, Value::Map(ref pairs) if pairs.len() == 1),
        "{config:?}"
    );
    // redis-rs names itself with CLIENT SETINFO when it connects.
    let info: String = redis::cmd("CLIENT").arg("INFO").query(&mut con).unwrap();
    assert!(info.contains("resp=3"), "{info}");
    assert!(info.contains("lib-name=redis-rs"), "{info}");
}

#[test]
fn pipelines_of_thousands() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(open_store(dir.path()));
    let mut con = connect(&url(&server, ""));
    let mut pipe = redis::pipe();
    for i in 0..2000 {
        pipe.set(format!("k{i}"), i).ignore();
    }
    for i in 0..2000 {
        pipe.get(format!("k{i}"));
    }
    let values: Vec<i64> = pipe.query(&mut con).unwrap();
    assert_eq!(values, (0..2000).collect::<Vec<i64>>());
}

#[test]
fn auth_through_the_url() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        requirepass: Some("pw".into()),
        ..ServerConfig::default()
    };
    let server = TestServer::with_config(open_store(dir.path()), config);
    for extra in ["", "?protocol=resp3"] {
        let good = format!("redis://:pw@{}/{extra}", server.addr);
        let mut con = connect(&good);
        let _: () = con.set("k", "v").unwrap();
        let bad = format!("redis://:nope@{}/{extra}", server.addr);
        let refused = redis::Client::open(bad.as_str())
            .unwrap()
            .get_connection_with_timeout(Duration::from_secs(10));
        assert!(refused.is_err(), "a wrong password connects");
    }
    let mut anonymous = connect(&url(&server, ""));
    let denied: redis::RedisResult<Option<String>> = anonymous.get("k");
    let err = denied.expect_err("NOAUTH");
    assert_eq!(err.code(), Some("NOAUTH"), "{err}");
}

#[test]
fn page_and_node_commands() {
    let dir = tempfile::tempdir().unwrap();
    let stores = Stores::with_pages(
        open_store(&dir.path().join("kv")),
        open_pages(&dir.path().join("pages")),
    );
    let server = TestServer::with_stores(stores, ServerConfig::default());
    let mut con = connect(&url(&server, "?protocol=resp3"));
    let page_id = b"rel7\x00blk42".to_vec();
    let image: Vec<u8> = (0..8192u32).map(|i| (i % 251) as u8).collect();
    for lsn in [10u64, 20, 30] {
        let mut version = image.clone();
        version[0] = u8::try_from(lsn).unwrap();
        let ok: String = redis::cmd("PAGE.PUT")
            .arg(&page_id[..])
            .arg(lsn)
            .arg(version)
            .query(&mut con)
            .unwrap();
        assert_eq!(ok, "OK");
    }
    let (found, got): (u64, Vec<u8>) = redis::cmd("PAGE.GET")
        .arg(&page_id[..])
        .arg(25)
        .query(&mut con)
        .unwrap();
    assert_eq!(found, 20);
    assert_eq!(got[0], 20);
    assert_eq!(&got[1..], &image[1..]);
    let none: Value = redis::cmd("PAGE.GET")
        .arg(&page_id[..])
        .arg(5)
        .query(&mut con)
        .unwrap();
    assert_eq!(none, Value::Nil);
    let versions: Vec<u64> = redis::cmd("PAGE.VERSIONS")
        .arg(&page_id[..])
        .query(&mut con)
        .unwrap();
    assert_eq!(versions, vec![10, 20, 30]);
    let removed: i64 = redis::cmd("PAGE.VACUUM").arg(25).query(&mut con).unwrap();
    assert_eq!(removed, 1);
    let vacuumed: redis::RedisResult<Value> = redis::cmd("PAGE.GET")
        .arg(&page_id[..])
        .arg(15)
        .query(&mut con);
    assert_eq!(vacuumed.expect_err("vacuumed").code(), Some("VACUUMED"));
    let ok: String = redis::cmd("NODE.HEARTBEAT")
        .arg("compute-1")
        .arg(30)
        .query(&mut con)
        .unwrap();
    assert_eq!(ok, "OK");
    let nodes: Vec<(String, u64, String)> = redis::cmd("NODE.LIST").query(&mut con).unwrap();
    assert_eq!(
        nodes,
        vec![("compute-1".to_owned(), 30, "alive".to_owned())]
    );
}
