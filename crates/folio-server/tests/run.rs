//! `run`: serves until SIGTERM, then closes the store. Alone in its test
//! binary because it signals its own process.

mod common;

use std::time::{Duration, Instant};

use common::{open_pages, open_store, Client, TestServer, Value};
use folio::PageLsn;
use folio_server::{ServerConfig, Stores};

#[cfg(unix)]
#[test]
fn run_serves_until_sigterm_then_closes_the_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let config = ServerConfig {
        port,
        // One connection thread: durable writes still leave it (block_in_place).
        threads: 1,
        ..ServerConfig::default()
    };
    let stores = Stores::with_pages(
        open_store(&dir.path().join("kv")),
        open_pages(&dir.path().join("pages")),
    );
    let server = std::thread::spawn(move || folio_server::run(stores, config));

    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut client = Client::connect(addr);
    assert_eq!(client.call(&[b"SET", b"durable", b"yes"]), Value::ok());
    assert_eq!(
        client.call(&[b"PAGE.PUT", b"blk", b"7", b"image"]),
        Value::ok()
    );

    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    server.join().expect("server thread").expect("clean run");
    assert!(client.is_closed());

    let reopened = TestServer::start(open_store(&dir.path().join("kv")));
    assert_eq!(
        reopened.client().call(&[b"GET", b"durable"]),
        Value::bulk(b"yes")
    );
    let store = std::sync::Arc::clone(&reopened.store);
    reopened.stop().expect("stop");
    store.close().expect("close");
    let pages = open_pages(&dir.path().join("pages"));
    assert_eq!(
        pages.get_page(b"blk", PageLsn(9)).expect("get_page"),
        Some((PageLsn(7), b"image".to_vec()))
    );
    pages.close().expect("close");
}
