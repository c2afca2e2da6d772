//! `folio serve --config FILE`, run as a process: the file's settings are
//! used, a flag overrides one, the file's log level filters the log, and a
//! bad file stops the server before it opens anything.

mod common;

use std::net::TcpStream;
use std::path::{Path, PathBuf};

use common::{call, connect, folio, free_port, scratch, shut_down};

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
        (
            "level.toml",
            "log_level = \"warning\"\n",
            "invalid log_level (",
        ),
        ("cache.toml", "cache_mib = 200000\n", "invalid cache_mib ("),
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
