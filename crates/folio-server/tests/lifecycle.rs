//! Server lifecycle: persistence across a restart, maxclients, shutdown.

mod common;

use std::time::{Duration, Instant};

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{open_store, TestServer, Value};
use folio::{KvStore, Stats, WriteBatch};
use folio_server::ServerConfig;

#[test]
fn data_survives_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(open_store(dir.path()));
    let mut client = server.client();
    assert_eq!(client.call(&[b"SET", b"kept", b"\0value\r\n"]), Value::ok());
    assert_eq!(client.call(&[b"MSET", b"a", b"1", b"b", b"2"]), Value::ok());
    assert_eq!(client.call(&[b"DEL", b"a"]), Value::Integer(1));
    drop(client);
    let store = std::sync::Arc::clone(&server.store);
    server.stop().expect("clean shutdown");
    store.close().expect("close the store");
    drop(store);

    let server = TestServer::start(open_store(dir.path()));
    let mut client = server.client();
    assert_eq!(client.call(&[b"GET", b"kept"]), Value::bulk("\0value\r\n"));
    assert_eq!(
        client.call(&[b"MGET", b"a", b"b"]),
        Value::Array(vec![Value::Nil, Value::bulk("2")])
    );
    assert_eq!(client.call(&[b"DBSIZE"]), Value::Integer(2));
}

#[test]
fn clients_over_maxclients_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = ServerConfig {
        maxclients: 2,
        ..ServerConfig::default()
    };
    let server = TestServer::with_config(open_store(dir.path()), config);
    let mut first = server.client();
    let mut second = server.client();
    assert_eq!(first.call(&[b"PING"]), Value::Simple("PONG".into()));
    assert_eq!(second.call(&[b"PING"]), Value::Simple("PONG".into()));
    let mut third = server.client();
    assert_eq!(
        third.read(),
        Value::error("ERR max number of clients reached")
    );
    assert!(third.is_closed());
    drop(second);
    // The freed slot is taken back once the server sees the close.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut again = server.client();
        again.send(&[b"PING"]);
        match again.read() {
            Value::Simple(pong) => {
                assert_eq!(pong, "PONG");
                break;
            }
            refused => assert!(Instant::now() < deadline, "still refused: {refused:?}"),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(first.call(&[b"PING"]), Value::Simple("PONG".into()));
}

#[test]
fn shutdown_stops_accepting_and_closes_idle_clients() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(open_store(dir.path()));
    let addr = server.addr;
    let mut idle = server.client();
    assert_eq!(idle.call(&[b"SET", b"k", b"v"]), Value::ok());
    let started = Instant::now();
    server.stop().expect("clean shutdown");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "shutdown waited for an idle client"
    );
    assert!(idle.is_closed());
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "still accepting after shutdown"
    );
}

/// A store whose `put` takes a while, to catch a command in flight; it
/// counts the puts that have started.
struct SlowPuts(Arc<dyn KvStore>, Arc<AtomicUsize>);

impl KvStore for SlowPuts {
    fn engine_name(&self) -> &'static str {
        self.0.engine_name()
    }
    fn put(&self, key: &[u8], value: &[u8]) -> folio::Result<()> {
        self.1.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(300));
        self.0.put(key, value)
    }
    fn max_value_bytes(&self) -> usize {
        self.0.max_value_bytes()
    }
    fn get(&self, key: &[u8]) -> folio::Result<Option<Vec<u8>>> {
        self.0.get(key)
    }
    fn delete(&self, key: &[u8]) -> folio::Result<bool> {
        self.0.delete(key)
    }
    fn write_batch(&self, batch: &WriteBatch) -> folio::Result<()> {
        self.0.write_batch(batch)
    }
    fn flush(&self) -> folio::Result<()> {
        self.0.flush()
    }
    fn len(&self) -> folio::Result<u64> {
        self.0.len()
    }
    fn for_each_key(&self, visit: &mut dyn FnMut(&[u8]) -> ControlFlow<()>) -> folio::Result<()> {
        self.0.for_each_key(visit)
    }
    fn stats(&self) -> Stats {
        self.0.stats()
    }
    fn close(&self) -> folio::Result<()> {
        self.0.close()
    }
}

#[test]
fn shutdown_answers_the_command_in_flight() {
    let dir = tempfile::tempdir().expect("temp dir");
    let inner = open_store(dir.path());
    let started = Arc::new(AtomicUsize::new(0));
    let slow = SlowPuts(Arc::clone(&inner), Arc::clone(&started));
    let mut server = TestServer::start(Arc::new(slow));
    let mut client = server.client();
    assert_eq!(client.call(&[b"PING"]), Value::Simple("PONG".into()));
    client.send(&[b"SET", b"slow", b"v"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while started.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the SET never reached the store");
        std::thread::sleep(Duration::from_millis(5));
    }
    server.begin_shutdown();
    assert_eq!(client.read(), Value::ok());
    assert!(client.is_closed());
    server.stop().expect("clean shutdown");
    let again = TestServer::start(inner);
    assert_eq!(again.client().call(&[b"GET", b"slow"]), Value::bulk(b"v"));
}

/// A client that sent `SHUTDOWN` sees its connection close only when the
/// server hands it back and the caller drops it (after closing the stores),
/// as Redis closes it at exit: a script waiting for the close can then
/// reopen the data directory.
#[test]
fn shutdown_client_sees_the_close_after_the_server_stopped() {
    use std::io::{ErrorKind, Read, Write};

    let dir = tempfile::tempdir().expect("temp dir");
    let store = open_store(dir.path());
    let (runtime, listener) = common::runtime_and_listener();
    let addr = listener.local_addr().expect("address");
    let stores = folio_server::Stores::kv_only(Arc::clone(&store));
    let never = std::future::pending::<()>();
    let task = runtime.spawn(folio_server::serve(
        stores,
        listener,
        ServerConfig::default(),
        never,
    ));

    let mut client = std::net::TcpStream::connect(addr).expect("connect");
    client.write_all(b"SHUTDOWN\r\n").expect("send");
    let stopped = runtime
        .block_on(task)
        .expect("server task")
        .expect("serve stopped cleanly");
    assert_eq!(stopped.shutdown_clients(), 1);

    client
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut byte = [0u8; 1];
    let still_open = client.read(&mut byte).expect_err("no reply, no close yet");
    assert!(
        matches!(
            still_open.kind(),
            ErrorKind::WouldBlock | ErrorKind::TimedOut
        ),
        "{still_open}"
    );
    store.close().expect("close the store");
    drop(stopped);
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    assert_eq!(client.read(&mut byte).expect("EOF"), 0, "closed, no reply");
}
