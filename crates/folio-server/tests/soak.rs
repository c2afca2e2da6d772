//! Soak: many clients on one server, each writing and reading back its own
//! keys for a while. No error, no wrong value, every client makes progress,
//! and afterwards the server answers and has let every connection go.
//!
//! - `FOLIO_SOAK_CLIENTS`: connections (default 1000, or fewer when 1000
//!   do not fit the soft open-file limit: each connection costs this process
//!   two descriptors, the client's and the server's). A larger count asked
//!   for explicitly that does not fit fails the test; raise `ulimit -n`.
//! - `FOLIO_SOAK_SECS`: seconds of load (default 2, for CI; the issue's run
//!   is `FOLIO_SOAK_SECS=30`).
//!
//! ```sh
//! FOLIO_SOAK_SECS=30 cargo test --release -p folio-server --test soak -- --nocapture
//! ```
//!
//! The store runs with `Durability::None`: with `Sync` every SET waits for
//! an fsync and this becomes a disk test.
//!
//! Last 30 s runs (2026-11-22, 2-vCPU AMD EPYC VM, release, server and
//! clients in this process on two runtime threads each; each op one SET or
//! GET): 1000 clients, 62.4K and 56.8K ops/s, 1614..1990 ops per client,
//! slowest SET+GET 160 ms (at 1fd00b6; 32.6K ops/s before ae1023c, when
//! every write left the runtime through block_in_place).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Client, TestServer, Value};
use folio::{Config, Durability, KvStore};
use folio_server::ServerConfig;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// Connections when `FOLIO_SOAK_CLIENTS` is not set (and they fit).
const DEFAULT_CLIENTS: usize = 1000;
/// Seconds of load when `FOLIO_SOAK_SECS` is not set.
const DEFAULT_SECS: u64 = 2;
/// Descriptors per connection in this process: the client's and the server's.
const FDS_PER_CLIENT: usize = 2;
/// Descriptors kept for the store, the runtimes and the test harness.
const FDS_RESERVED: usize = 128;
/// Keys each client cycles through.
const KEYS_PER_CLIENT: u64 = 16;
/// How long the server may take to notice that the clients have gone.
const DISCONNECT_DEADLINE: Duration = Duration::from_secs(10);

/// What one client did.
struct ClientStats {
    ops: u64,
    sets: u64,
    slowest: Duration,
}

#[test]
fn a_thousand_clients_set_and_get_their_own_keys() {
    let clients = client_count();
    let secs = env_number("FOLIO_SOAK_SECS").unwrap_or(DEFAULT_SECS);
    let dir = tempfile::tempdir().expect("temp dir");
    let config = ServerConfig {
        maxclients: clients + 16,
        ..ServerConfig::default()
    };
    let server = TestServer::with_config(open_unlogged(dir.path()), config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("client runtime");

    let connections = runtime.block_on(connect_all(server.addr, clients));
    let mut control = server.client();
    assert_eq!(connected_clients(&mut control), clients + 1);

    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let stats = runtime.block_on(run_all(connections, deadline));
    let elapsed = started.elapsed();
    report(&stats, clients, elapsed);

    for (id, s) in stats.iter().enumerate() {
        assert!(s.ops > 0, "client {id} did no operation");
    }
    let keys: u64 = stats.iter().map(|s| s.sets.min(KEYS_PER_CLIENT)).sum();
    assert_eq!(control.call(&[b"DBSIZE"]), Value::Integer(count(keys)));
    assert_eq!(control.call(&[b"PING"]), Value::Simple("PONG".into()));
    wait_for_connected(&mut control, 1);
    drop(runtime);
    server.stop().expect("clean shutdown");
}

/// `FOLIO_SOAK_CLIENTS`, or as many of the default as fit the descriptor
/// limit.
fn client_count() -> usize {
    let fit = open_file_limit().map_or(usize::MAX, |limit| {
        limit.saturating_sub(FDS_RESERVED) / FDS_PER_CLIENT
    });
    match env_number("FOLIO_SOAK_CLIENTS") {
        Some(asked) => {
            let asked = usize::try_from(asked).expect("FOLIO_SOAK_CLIENTS fits usize");
            assert!(
                asked <= fit,
                "FOLIO_SOAK_CLIENTS={asked} needs more descriptors than `ulimit -n` \
                 allows ({fit} clients fit); raise the limit"
            );
            asked.max(1)
        }
        None => DEFAULT_CLIENTS.min(fit).max(1),
    }
}

/// The soft limit on open files, from `/proc/self/limits` (Linux); `None`
/// where that file does not exist.
fn open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// A decimal environment variable, if set.
fn env_number(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    Some(
        text.parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a number")),
    )
}

/// The paged store at `dir`, without a WAL.
fn open_unlogged(dir: &std::path::Path) -> Arc<dyn KvStore> {
    let mut config = Config::default();
    config.durability = Durability::None;
    Arc::from(folio::open("paged", dir, &config).expect("open the store"))
}

/// Opens `n` connections and checks that each was accepted (a client over
/// `maxclients` would get an error instead of PONG).
async fn connect_all(addr: std::net::SocketAddr, n: usize) -> Vec<Conn> {
    let mut connections = Vec::with_capacity(n);
    for id in 0..n {
        let mut conn = Conn::connect(addr).await;
        let pong = conn.call(&[b"PING"]).await;
        assert_eq!(pong, Ok(Some(b"PONG".to_vec())), "client {id}");
        connections.push(conn);
    }
    connections
}

/// Runs every client until `deadline`; their stats in client order.
async fn run_all(connections: Vec<Conn>, deadline: Instant) -> Vec<ClientStats> {
    let tasks: Vec<_> = connections
        .into_iter()
        .enumerate()
        .map(|(id, conn)| tokio::spawn(set_and_get(id, conn, deadline)))
        .collect();
    let mut stats = Vec::with_capacity(tasks.len());
    for (id, task) in tasks.into_iter().enumerate() {
        match task.await.expect("client task") {
            Ok(s) => stats.push(s),
            Err(err) => panic!("client {id}: {err}"),
        }
    }
    stats
}

/// One client: SET a key, GET it back, until `deadline`. The connection
/// closes when this returns.
async fn set_and_get(id: usize, mut conn: Conn, deadline: Instant) -> Result<ClientStats, String> {
    let mut stats = ClientStats {
        ops: 0,
        sets: 0,
        slowest: Duration::ZERO,
    };
    while Instant::now() < deadline {
        let key = format!("soak:{id}:{}", stats.sets % KEYS_PER_CLIENT);
        let value = format!("{id}:{}:{}", stats.sets, "v".repeat(id % 64));
        let at = Instant::now();
        let set = conn
            .call(&[b"SET", key.as_bytes(), value.as_bytes()])
            .await?;
        if set.as_deref() != Some(b"OK") {
            return Err(format!("SET {key} answered {set:?}"));
        }
        let got = conn.call(&[b"GET", key.as_bytes()]).await?;
        if got.as_deref() != Some(value.as_bytes()) {
            return Err(format!("GET {key} gave {got:?}, not {value:?}"));
        }
        stats.slowest = stats.slowest.max(at.elapsed());
        stats.ops += 2;
        stats.sets += 1;
    }
    Ok(stats)
}

/// Prints the summary line.
fn report(stats: &[ClientStats], clients: usize, elapsed: Duration) {
    let total: u64 = stats.iter().map(|s| s.ops).sum();
    let fewest = stats.iter().map(|s| s.ops).min().unwrap_or(0);
    let most = stats.iter().map(|s| s.ops).max().unwrap_or(0);
    let slowest = stats.iter().map(|s| s.slowest).max().unwrap_or_default();
    let rate = total as f64 / elapsed.as_secs_f64();
    eprintln!(
        "soak: {clients} clients, {:.1} s, {total} ops ({rate:.0} ops/s), \
         per client {fewest}..{most} ops, slowest SET+GET {} ms",
        elapsed.as_secs_f64(),
        slowest.as_millis()
    );
}

/// `connected_clients` from `INFO clients`.
fn connected_clients(control: &mut Client) -> usize {
    let Value::Bulk(info) = control.call(&[b"INFO", b"clients"]) else {
        panic!("INFO is a bulk string");
    };
    let info = String::from_utf8(info).expect("INFO is text");
    info.lines()
        .find_map(|l| l.strip_prefix("connected_clients:"))
        .expect("connected_clients in INFO clients")
        .parse()
        .expect("a count")
}

/// Waits until the server counts `n` connections.
fn wait_for_connected(control: &mut Client, n: usize) {
    let deadline = Instant::now() + DISCONNECT_DEADLINE;
    loop {
        let now = connected_clients(control);
        if now == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{now} clients connected, not {n}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn count(n: u64) -> i64 {
    i64::try_from(n).expect("fits i64")
}

/// An async client that sends multibulk commands and reads the replies
/// this test expects: `+text`, `$bulk`, `$-1` (nil) and `-error` (an Err).
struct Conn {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    line: Vec<u8>,
}

impl Conn {
    async fn connect(addr: std::net::SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let (reader, writer) = stream.into_split();
        Self {
            reader: BufReader::new(reader),
            writer,
            line: Vec::new(),
        }
    }

    /// Sends a command; the simple or bulk reply's bytes, `None` for nil.
    async fn call(&mut self, args: &[&[u8]]) -> Result<Option<Vec<u8>>, String> {
        let wire = common::encode(args);
        self.writer
            .write_all(&wire)
            .await
            .map_err(|e| e.to_string())?;
        self.line.clear();
        self.reader
            .read_until(b'\n', &mut self.line)
            .await
            .map_err(|e| e.to_string())?;
        let line = self
            .line
            .strip_suffix(b"\r\n")
            .ok_or_else(|| format!("reply line {:?} lacks CRLF", self.line))?;
        match line.split_first() {
            Some((b'+', text)) => Ok(Some(text.to_vec())),
            Some((b'-', text)) => Err(String::from_utf8_lossy(text).into_owned()),
            Some((b'$', len)) if len == b"-1" => Ok(None),
            Some((b'$', len)) => {
                let len: usize = std::str::from_utf8(len)
                    .ok()
                    .and_then(|l| l.parse().ok())
                    .ok_or_else(|| format!("bulk length {len:?}"))?;
                let mut data = vec![0; len + 2];
                self.reader
                    .read_exact(&mut data)
                    .await
                    .map_err(|e| e.to_string())?;
                if !data.ends_with(b"\r\n") {
                    return Err("bulk data lacks CRLF".to_owned());
                }
                data.truncate(len);
                Ok(Some(data))
            }
            _ => Err(format!("unexpected reply {line:?}")),
        }
    }
}
