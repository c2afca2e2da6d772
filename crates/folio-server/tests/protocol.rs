//! Malformed requests: each gets Redis's protocol error and a closed
//! connection, while other clients keep working.

mod common;

use common::{open_store, TestServer, Value};
use folio_server::ServerConfig;

#[test]
fn malformed_frames_close_only_their_connection() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(open_store(dir.path()));
    let mut bystander = server.client();
    assert_eq!(bystander.call(&[b"SET", b"k", b"v"]), Value::ok());
    // The malformed-frame cases of Redis's tests/unit/protocol.tcl, and a
    // few more.
    let cases: [(&[u8], &str); 11] = [
        (
            b"*3000000000\r\n",
            "ERR Protocol error: invalid multibulk length",
        ),
        (b"*1\r\n$-5\r\n", "ERR Protocol error: invalid bulk length"),
        (
            b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$-10\r\n",
            "ERR Protocol error: invalid bulk length",
        ),
        (
            b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$2000000000\r\n",
            "ERR Protocol error: invalid bulk length",
        ),
        (
            b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$blabla\r\n",
            "ERR Protocol error: invalid bulk length",
        ),
        (
            b"*1\r\nfoo\r\n",
            "ERR Protocol error: expected '$', got 'f'",
        ),
        (b"*1\r\n$abc\r\n", "ERR Protocol error: invalid bulk length"),
        (
            b"*1\r\n:12\r\n",
            "ERR Protocol error: expected '$', got ':'",
        ),
        (
            b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n",
            "ERR Protocol error: expected '$', got 'f'",
        ),
        (
            b"*1\r\n$4\r\nPINGxx",
            "ERR Protocol error: bulk data not terminated by CRLF",
        ),
        (
            b"SET k \"unterminated\r\n",
            "ERR Protocol error: unbalanced quotes in request",
        ),
    ];
    for (frame, expected) in cases {
        let mut client = server.client();
        assert_eq!(client.call(&[b"PING"]), Value::Simple("PONG".into()));
        client.send_raw(frame);
        assert_eq!(
            client.read(),
            Value::error(expected),
            "{:?}",
            String::from_utf8_lossy(frame)
        );
        assert!(client.is_closed(), "connection left open after {frame:?}");
        assert_eq!(bystander.call(&[b"GET", b"k"]), Value::bulk("v"));
    }
}

/// protocol.tcl's "Protocol desync regression test": a frame start followed
/// by an endless stream of bytes with no line end must get a protocol error
/// and a close, not an ever-growing buffer.
#[test]
fn desync_streams_are_cut_off() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(open_store(dir.path()));
    // Only `*` starts a multibulk request: the others are inline lines.
    let cases = [
        (&b"\x00"[..], "ERR Protocol error: too big inline request"),
        (b"*\x00", "ERR Protocol error: too big mbulk count string"),
        (b"$\x00", "ERR Protocol error: too big inline request"),
    ];
    for (start, expected) in cases {
        let mut client = server.client();
        client.send_raw(start);
        let mut sent = 0usize;
        let mut refused = false;
        // Tcl's test sends the word "payload" until the write fails.
        while sent < 4 * 1024 * 1024 {
            if !client.try_send_raw(&b"payload".repeat(1024)) {
                refused = true;
                break;
            }
            sent += 7 * 1024;
        }
        let reply = client.read();
        let Value::Error(text) = reply else {
            panic!("{start:?}: expected a protocol error, got {reply:?}");
        };
        assert_eq!(text, expected, "{start:?}");
        assert!(refused || client.is_closed(), "{start:?}: left open");
    }
}

#[test]
fn empty_and_negative_multibulk_are_ignored() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(open_store(dir.path()));
    let mut client = server.client();
    client.send_raw(b"\r\n*0\r\n*-10\r\n");
    assert_eq!(client.call(&[b"PING"]), Value::Simple("PONG".into()));
}

#[test]
fn overlong_inline_request_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(open_store(dir.path()));
    let mut client = server.client();
    client.send_raw(&vec![b'a'; 70 * 1024]);
    assert_eq!(
        client.read(),
        Value::error("ERR Protocol error: too big inline request")
    );
    assert!(client.is_closed());
}

#[test]
fn query_buffer_limit_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = ServerConfig {
        max_query_buffer_bytes: 64 * 1024,
        ..ServerConfig::default()
    };
    let server = TestServer::with_config(open_store(dir.path()), config);
    let mut client = server.client();
    // Announced but not sent: refused without waiting for (or reserving) it.
    client.send_raw(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1000000\r\n");
    assert_eq!(
        client.read(),
        Value::error("ERR Protocol error: request exceeds the query buffer limit of 65536 bytes")
    );
    assert!(client.is_closed());
    let mut other = server.client();
    assert_eq!(other.call(&[b"SET", b"k", &[1u8; 60_000]]), Value::ok());
}

/// An HTTP request sent to the port (a browser tricked into cross-protocol
/// scripting) is closed without a byte of reply, as Redis closes it: not
/// even the reply to the request line before the `Host:` header.
#[test]
fn http_requests_are_closed_without_a_reply() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(open_store(dir.path()));
    let mut bystander = server.client();
    for request in [
        &b"POST / HTTP/1.1\r\nHost: localhost\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    ] {
        let mut client = server.client();
        client.send_raw(request);
        assert!(
            client.is_closed(),
            "{:?} got a reply or stayed open",
            String::from_utf8_lossy(request)
        );
        assert_eq!(bystander.call(&[b"PING"]), Value::Simple("PONG".into()));
    }
}
