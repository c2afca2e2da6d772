//! `run`: serves until SIGTERM, then closes the store. Alone in its test
//! binary because it signals its own process.

mod common;

use std::time::{Duration, Instant};

use common::{open_store, Client, Value};
use folio_server::ServerConfig;

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
        ..ServerConfig::default()
    };
    let store = open_store(dir.path());
    let server = std::thread::spawn(move || folio_server::run(store, config));

    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut client = Client::connect(addr);
    assert_eq!(client.call(&[b"SET", b"durable", b"yes"]), Value::ok());

    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    server.join().expect("server thread").expect("clean run");
    assert!(client.is_closed());

    let reopened = open_store(dir.path());
    assert_eq!(
        reopened.get(b"durable").expect("get"),
        Some(b"yes".to_vec())
    );
    reopened.close().expect("close");
}
