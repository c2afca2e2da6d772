//! Helpers of the tests that run `folio serve` as a process.

#![allow(dead_code)] // each test binary uses some of them

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the server may take to start or stop.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// A fresh directory under the target's scratch space.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("config-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the scratch directory");
    dir
}

/// A port nothing listens on (just now).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// `folio serve` with `args`, its environment cleared of Folio's variables.
pub fn folio(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_folio"));
    command.arg("serve").args(args);
    isolate(command)
}

/// As [`folio`], run by `sh` after the shell command `setup` (such as
/// `ulimit -n 100`).
pub fn folio_after(setup: &str, args: &[&str]) -> Command {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("{setup} && exec \"$0\" serve \"$@\""))
        .arg(env!("CARGO_BIN_EXE_folio"))
        .args(args);
    isolate(command)
}

fn isolate(mut command: Command) -> Command {
    command
        .env_remove("FOLIO_LOG")
        .env_remove("FOLIO_PASSWORD")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// Connects to the server on `port` once it listens.
pub fn connect(port: u16, child: &mut Child) -> TcpStream {
    let started = Instant::now();
    loop {
        if let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) {
            stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
            return stream;
        }
        if let Some(status) = child.try_wait().expect("poll the server") {
            panic!("the server exited with {status}");
        }
        assert!(started.elapsed() < DEADLINE, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends an inline command and reads one reply line.
pub fn call(stream: &mut TcpStream, command: &str) -> String {
    stream
        .write_all(format!("{command}\r\n").as_bytes())
        .expect("send");
    let mut line = String::new();
    BufReader::new(stream.try_clone().expect("clone"))
        .read_line(&mut line)
        .expect("reply");
    line
}

/// Stops the server with SHUTDOWN and returns what it logged. As with
/// Redis, SHUTDOWN gets no reply, and its connection closes only once the
/// stores are closed: the stores in `data` open at once after the close.
pub fn shut_down(mut stream: TcpStream, mut child: Child, data: &Path) -> String {
    stream.write_all(b"SHUTDOWN NOSAVE\r\n").expect("send");
    let mut reply = Vec::new();
    stream
        .read_to_end(&mut reply)
        .expect("read until the close");
    assert!(reply.is_empty(), "SHUTDOWN got {reply:?}");
    for store in [data.to_path_buf(), data.join("pages")] {
        let reopened = folio::open("paged", &store, &folio::Config::default())
            .unwrap_or_else(|e| panic!("{} at the close: {e}", store.display()));
        reopened.close().expect("close the reopened store");
    }
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll the server") {
            break status;
        }
        if started.elapsed() > DEADLINE {
            child.kill().expect("kill the server");
            panic!("the server did not stop");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut log = String::new();
    let mut stderr = child.stderr.take().expect("stderr");
    stderr.read_to_string(&mut log).expect("read the log");
    assert!(status.success(), "exit {status}; log:\n{log}");
    log
}
