//! Test harness: a real server on 127.0.0.1:0 over a paged store in a temp
//! directory, and a blocking raw-RESP client.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use folio::{Config, KvStore, PageOptions, PageStore};
use folio_server::{serve, ServerConfig, ServerError, Stores};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long a client waits for a reply before the test fails.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens the paged store at `dir`.
pub fn open_store(dir: &Path) -> Arc<dyn KvStore> {
    Arc::from(folio::open("paged", dir, &Config::default()).expect("open the store"))
}

/// Opens a page store over the paged store at `dir`, with no background
/// thread (tests drive vacuum themselves).
pub fn open_pages(dir: &Path) -> Arc<PageStore> {
    let mut options = PageOptions::default();
    options.background = false;
    Arc::new(PageStore::open(open_store(dir), options).expect("open the page store"))
}

/// A two-worker runtime and a listener on a free loopback port, for a
/// server to run on.
pub fn runtime_and_listener() -> (Runtime, TcpListener) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("build a runtime");
    let listener = runtime
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("bind 127.0.0.1:0");
    (runtime, listener)
}

/// A server running on its own runtime.
pub struct TestServer {
    pub addr: SocketAddr,
    pub store: Arc<dyn KvStore>,
    pub pages: Option<Arc<PageStore>>,
    runtime: Runtime,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServerError>>>,
}

impl TestServer {
    /// Starts a server with default settings over `store`.
    pub fn start(store: Arc<dyn KvStore>) -> Self {
        Self::with_config(store, ServerConfig::default())
    }

    /// Starts a server with `config` (its bind and port are ignored).
    pub fn with_config(store: Arc<dyn KvStore>, config: ServerConfig) -> Self {
        Self::with_stores(Stores::kv_only(store), config)
    }

    /// Starts a server over `stores` with `config`.
    pub fn with_stores(stores: Stores, config: ServerConfig) -> Self {
        let (runtime, listener) = runtime_and_listener();
        let addr = listener.local_addr().expect("local address");
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stopped.await;
        };
        // The SHUTDOWN clients' connections close when `serve` returns
        // (`folio_server::run` holds them until the stores are closed).
        let served = serve(stores.clone(), listener, config, shutdown);
        let task = runtime.spawn(async move { served.await.map(drop) });
        Self {
            addr,
            store: stores.kv,
            pages: stores.pages,
            runtime,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// A new client connection.
    pub fn client(&self) -> Client {
        Client::connect(self.addr)
    }

    /// Triggers shutdown without waiting for it.
    pub fn begin_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Shuts down and returns what `serve` returned.
    pub fn stop(mut self) -> Result<(), ServerError> {
        self.begin_shutdown();
        let task = self.task.take().expect("server task");
        self.runtime.block_on(task).expect("server task finished")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.begin_shutdown();
    }
}

/// A reply as a test sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Vec<u8>),
    Nil,
    Array(Vec<Value>),
    NilArray,
    /// RESP3 `_`.
    Null,
    /// RESP3 `%`.
    Map(Vec<(Value, Value)>),
    /// RESP3 `=`: the format (`txt`) and the text.
    Verbatim(String, Vec<u8>),
}

impl Value {
    pub fn bulk(bytes: impl AsRef<[u8]>) -> Self {
        Value::Bulk(bytes.as_ref().to_vec())
    }

    pub fn ok() -> Self {
        Value::Simple("OK".into())
    }

    pub fn error(text: &str) -> Self {
        Value::Error(text.into())
    }
}

/// A blocking client that writes raw bytes and reads RESP replies.
pub struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(READ_TIMEOUT))
            .expect("set timeout");
        let writer = stream.try_clone().expect("clone the stream");
        Self {
            reader: BufReader::new(stream),
            writer,
        }
    }

    /// Sends raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("write");
    }

    /// Sends raw bytes; false when the server has closed the connection.
    pub fn try_send_raw(&mut self, bytes: &[u8]) -> bool {
        self.writer.write_all(bytes).is_ok()
    }

    /// Sends one command as a multibulk array.
    pub fn send(&mut self, args: &[&[u8]]) {
        self.send_raw(&encode(args));
    }

    /// Sends a command and reads its reply.
    pub fn call(&mut self, args: &[&[u8]]) -> Value {
        self.send(args);
        self.read()
    }

    /// Reads one reply.
    pub fn read(&mut self) -> Value {
        let line = self.line();
        let (kind, rest) = line.split_at(1);
        let text = || String::from_utf8(rest.to_vec()).expect("text reply");
        let number = || text().parse::<i64>().expect("number");
        match kind[0] {
            b'+' => Value::Simple(text()),
            b'-' => Value::Error(text()),
            b':' => Value::Integer(number()),
            b'$' if number() < 0 => Value::Nil,
            b'$' => Value::Bulk(self.data(number())),
            b'=' => {
                let mut data = self.data(number());
                let text = data.split_off(4);
                assert_eq!(data.pop(), Some(b':'), "verbatim format ends in ':'");
                Value::Verbatim(String::from_utf8(data).expect("format"), text)
            }
            b'*' if number() < 0 => Value::NilArray,
            b'*' => Value::Array((0..number()).map(|_| self.read()).collect()),
            b'_' => Value::Null,
            b'%' => Value::Map((0..number()).map(|_| (self.read(), self.read())).collect()),
            other => panic!("bad reply type byte {other:?}"),
        }
    }

    /// The `len` bytes of a bulk or verbatim string and their CRLF.
    fn data(&mut self, len: i64) -> Vec<u8> {
        let len = usize::try_from(len).expect("length");
        let mut data = vec![0; len + 2];
        self.reader.read_exact(&mut data).expect("bulk data");
        assert_eq!(&data[len..], b"\r\n");
        data.truncate(len);
        data
    }

    /// True when the server has closed the connection (EOF or reset).
    pub fn is_closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        match self.reader.read(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(err) => err.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }

    fn line(&mut self) -> Vec<u8> {
        let mut line = Vec::new();
        self.reader
            .read_until(b'\n', &mut line)
            .expect("read a reply line");
        assert!(line.ends_with(b"\r\n"), "reply line {line:?} lacks CRLF");
        line.truncate(line.len() - 2);
        line
    }
}

/// The multibulk wire form of a command.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}
