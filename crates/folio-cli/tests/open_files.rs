//! `folio serve` under a low open-file limit: `maxclients` is lowered to
//! fit it, so the clients past it are told `-ERR max number of clients
//! reached` instead of waiting unanswered in the listen backlog.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Child;

use common::{call, connect, folio_after, free_port, scratch, shut_down};

/// The open-file limit, soft and hard, the server runs under.
const LIMIT: u64 = 160;

/// The server, killed if the test fails before it is shut down (a failed
/// assertion must not leave it running).
struct KillOnDrop(Option<Child>);

impl KillOnDrop {
    fn get(&mut self) -> &mut Child {
        self.0.as_mut().expect("still held")
    }

    fn take(mut self) -> Child {
        self.0.take().expect("still held")
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `CONFIG GET maxclients`'s number.
fn maxclients(stream: &mut TcpStream) -> u64 {
    stream
        .write_all(b"CONFIG GET maxclients\r\n")
        .expect("send");
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut lines = Vec::new();
    for _ in 0..5 {
        let mut line = String::new();
        reader.read_line(&mut line).expect("reply line");
        lines.push(line.trim_end().to_owned());
    }
    assert_eq!(lines[..3], ["*2", "$10", "maxclients"]);
    lines[4].parse().expect("a number")
}

#[cfg(unix)]
#[test]
fn maxclients_is_fitted_to_a_low_open_file_limit() {
    let dir = scratch("open-files");
    let data = dir.join("data");
    let port = free_port().to_string();
    let data_arg = data.to_str().expect("UTF-8 path");
    let mut child = folio_after(
        &format!("ulimit -n {LIMIT}"),
        &["--dir", data_arg, "--port", &port, "--durability", "none"],
    )
    .spawn()
    .map(|child| KillOnDrop(Some(child)))
    .expect("start folio");
    let port: u16 = port.parse().expect("port");
    let mut first = connect(port, child.get());
    let fitted = maxclients(&mut first);
    assert!(
        (1..LIMIT - folio_server::RESERVED_FDS).contains(&fitted),
        "maxclients {fitted} under a limit of {LIMIT}"
    );

    let mut served = vec![];
    for _ in 1..fitted {
        let mut client = connect(port, child.get());
        assert_eq!(call(&mut client, "PING"), "+PONG\r\n");
        served.push(client);
    }
    for _ in 0..3 {
        let mut refused = connect(port, child.get());
        let mut reply = String::new();
        refused
            .read_to_string(&mut reply)
            .expect("read until the close");
        assert_eq!(reply, "-ERR max number of clients reached\r\n");
    }
    drop(served);
    let log = shut_down(first, child.take(), &data);
    assert!(log.contains("maxclients reduced"), "{log}");
}
