//! `folio serve` taking requests at the protocol's limits: an `MSET` of
//! more pairs than the engine's default batch limit is one batch, as Redis
//! takes it.

mod common;

use std::io::{BufRead, BufReader, Write};

use common::{call, connect, folio, free_port, scratch, shut_down};

#[test]
fn an_mset_of_150000_pairs_is_taken_whole() {
    const PAIRS: usize = 150_000;
    let dir = scratch("mset");
    let data = dir.join("data");
    let port = free_port();
    let mut child = folio(&[
        "--dir",
        data.to_str().expect("UTF-8 path"),
        "--port",
        &port.to_string(),
    ])
    .spawn()
    .expect("start folio");
    let mut stream = connect(port, &mut child);
    let mut request = format!("*{}\r\n$4\r\nMSET\r\n", 1 + 2 * PAIRS).into_bytes();
    for i in 0..PAIRS {
        let key = format!("key:{i}");
        request.extend_from_slice(format!("${}\r\n{key}\r\n$1\r\nv\r\n", key.len()).as_bytes());
    }
    stream.write_all(&request).expect("send");
    let mut reply = String::new();
    BufReader::new(stream.try_clone().expect("clone"))
        .read_line(&mut reply)
        .expect("reply");
    assert_eq!(reply, "+OK\r\n");
    assert_eq!(call(&mut stream, "DBSIZE"), format!(":{PAIRS}\r\n"));
    shut_down(stream, child, &data);
}
