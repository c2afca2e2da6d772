//! `folio serve --config FILE`, run as a process: the file's settings are
//! used, a flag overrides one, the file's log level filters the log, and a
//! bad file stops the server before it opens anything.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the server may take to start or stop.
const DEADLINE: Duration = Duration::from_secs(30);

/// A fresh directory under the target's scratch space.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("config-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the scratch directory");
    dir
}

/// A port nothing listens on (just now).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// `folio serve` with `args`, its environment cleared of Folio's variables.
fn folio(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_folio"));
    command
        .arg("serve")
        .args(args)
        .env_remove("FOLIO_LOG")
        .env_remove("FOLIO_PASSWORD")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// Connects to the server on `port` once it listens.
fn connect(port: u16, child: &mut Child) -> TcpStream {
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
fn call(stream: &mut TcpStream, command: &str) -> String {
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
fn shut_down(mut stream: TcpStream, mut child: Child, data: &Path) -> String {
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

/// Writes a config file for a store in `dir/data` on `port`, logging at
/// `level`.
fn write_config(dir: &Path, port: u16, level: &str) -> PathBuf {
    let path = dir.join("folio.toml");
    let text = format!(
        "dir = {:?}\nport = {port}\ndurability = \"none\"\nlog_level = {level:?}\n",
        dir.join("data").display().to_string()
    );
    std::fs::write(&path, text).expect("write the config file");
    path
}

#[test]
fn serves_with_the_file_settings_under_the_flags() {
    let dir = scratch("serve");
    let (file_port, flag_port) = (free_port(), free_port());
    let config = write_config(&dir, file_port, "warn");
    let config = config.to_str().expect("UTF-8 path");

    // The flag's port wins; the file's directory and log level apply.
    let flag_port_text = flag_port.to_string();
    let mut child = folio(&["--config", config, "--port", &flag_port_text])
        .spawn()
        .expect("start folio");
    let mut stream = connect(flag_port, &mut child);
    assert_eq!(call(&mut stream, "PING"), "+PONG\r\n");
    assert!(TcpStream::connect(("127.0.0.1", file_port)).is_err());
    let log = shut_down(stream, child, &dir.join("data"));
    assert!(dir.join("data").join("pages").is_dir(), "the file's dir");
    assert!(!log.contains("store open"), "info lines at warn:\n{log}");

    // The log level flag wins over the file's; the file's port applies.
    let mut child = folio(&["--config", config, "--log-level", "info"])
        .spawn()
        .expect("start folio");
    let stream = connect(file_port, &mut child);
    let log = shut_down(stream, child, &dir.join("data"));
    assert!(log.contains("store open"), "no info line at info:\n{log}");
}

#[test]
fn a_bad_file_stops_the_server_before_it_opens_a_store() {
    let dir = scratch("bad");
    let data = dir.join("data");
    let data_arg = data.to_str().expect("UTF-8 path");
    let cases = [
        (
            "unknown.toml",
            "port = 7000\nmax_clients = 5\n",
            "unknown field `max_clients`",
        ),
        ("type.toml", "\nport = \"high\"\n", "line 2, key `port`"),
        (
            "range.toml",
            "liveness_interval_ms = 10\n",
            "liveness_interval_ms",
        ),
    ];
    for (name, text, expected) in cases {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write the config file");
        let path_arg = path.to_str().expect("UTF-8 path");
        let output = folio(&["--config", path_arg, "--dir", data_arg])
            .output()
            .expect("run folio");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{name}");
        assert!(stderr.contains(expected), "{name}: {stderr}");
        assert!(stderr.contains(name), "{name} names the file: {stderr}");
    }
    let missing = dir.join("missing.toml");
    let missing_arg = missing.to_str().expect("UTF-8 path");
    let output = folio(&["--config", missing_arg, "--dir", data_arg])
        .output()
        .expect("run folio");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(missing_arg), "{stderr}");
    assert!(!data.exists(), "a store was opened");
}
