//! SAVE, LASTSAVE, FLUSHDB, FLUSHALL and SHUTDOWN.

mod common;

use std::time::{Duration, Instant};

use common::{open_pages, open_store, TestServer, Value};
use folio::PageLsn;
use folio_server::{ServerConfig, Stores};

fn now() -> i64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    i64::try_from(secs).unwrap()
}

#[test]
fn save_checkpoints_and_lastsave_says_when() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(open_store(dir.path()));
    let mut c = server.client();
    assert_eq!(c.call(&[b"SET", b"k", b"v"]), Value::ok());
    let checkpoints_before = server.store.stats().checkpoints;
    assert_eq!(c.call(&[b"SAVE"]), Value::ok());
    assert_eq!(server.store.stats().checkpoints, checkpoints_before + 1);
    let Value::Integer(at) = c.call(&[b"LASTSAVE"]) else {
        panic!("LASTSAVE is an integer");
    };
    assert!(at.abs_diff(now()) <= 5, "LASTSAVE {at}");
}

#[test]
fn flushdb_removes_every_key_and_no_page() {
    let dir = tempfile::tempdir().unwrap();
    let stores = Stores::with_pages(
        open_store(&dir.path().join("kv")),
        open_pages(&dir.path().join("pages")),
    );
    let server = TestServer::with_stores(stores, ServerConfig::default());
    let mut c = server.client();
    for i in 0..2_500u32 {
        c.send(&[b"SET", format!("key:{i}").as_bytes(), b"v"]);
    }
    for _ in 0..2_500 {
        assert_eq!(c.read(), Value::ok());
    }
    assert_eq!(c.call(&[b"PAGE.PUT", b"blk", b"1", b"img"]), Value::ok());
    assert_eq!(c.call(&[b"DBSIZE"]), Value::Integer(2_500));
    assert_eq!(c.call(&[b"FLUSHDB"]), Value::ok());
    assert_eq!(c.call(&[b"DBSIZE"]), Value::Integer(0));
    assert_eq!(c.call(&[b"SET", b"again", b"v"]), Value::ok());
    assert_eq!(c.call(&[b"FLUSHALL", b"SYNC"]), Value::ok());
    assert_eq!(c.call(&[b"DBSIZE"]), Value::Integer(0));
    assert_eq!(
        c.call(&[b"FLUSHDB", b"LATER"]),
        Value::error("ERR syntax error")
    );
    let page = server
        .pages
        .as_ref()
        .unwrap()
        .get_page(b"blk", PageLsn(1))
        .unwrap();
    assert_eq!(
        page,
        Some((PageLsn(1), b"img".to_vec())),
        "page versions are not keys"
    );
}

#[test]
fn shutdown_stops_the_server_without_a_reply() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(open_store(dir.path()));
    let mut c = server.client();
    assert_eq!(
        c.call(&[b"SHUTDOWN", b"MAYBE"]),
        Value::error("ERR syntax error")
    );
    assert_eq!(
        c.call(&[b"SHUTDOWN", b"SAVE", b"NOSAVE"]),
        Value::error("ERR syntax error")
    );
    assert_eq!(
        c.call(&[b"SHUTDOWN", b"ABORT"]),
        Value::error("ERR No shutdown in progress.")
    );
    assert_eq!(
        c.call(&[b"SHUTDOWN", b"ABORT", b"NOW"]),
        Value::error("ERR syntax error")
    );
    assert_eq!(c.call(&[b"SET", b"k", b"v"]), Value::ok(), "still serving");
    c.send(&[b"SHUTDOWN", b"SAVE"]);
    assert!(c.is_closed(), "closed with no reply");
    let addr = server.addr;
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_ok() {
        assert!(
            Instant::now() < deadline,
            "the server still accepts connections"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    server.stop().expect("serve returned cleanly");
}
