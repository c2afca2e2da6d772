//! `--requirepass` and `AUTH`, with Redis 7's replies.

mod common;

use common::{open_store, TestServer, Value};
use folio_server::ServerConfig;

fn server_with_password(dir: &std::path::Path) -> TestServer {
    let config = ServerConfig {
        requirepass: Some("s3cret".into()),
        ..ServerConfig::default()
    };
    TestServer::with_config(open_store(dir), config)
}

#[test]
fn commands_need_auth_when_a_password_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_password(dir.path());
    let mut c = server.client();
    let noauth = Value::error("NOAUTH Authentication required.");
    assert_eq!(c.call(&[b"GET", b"k"]), noauth);
    assert_eq!(c.call(&[b"PING"]), noauth);
    // Unknown commands and wrong arity are answered first, as Redis 7 does.
    assert!(matches!(c.call(&[b"NOPE"]), Value::Error(e) if e.starts_with("ERR unknown command")));
    // So are unknown subcommands and a subcommand's wrong arity.
    assert_eq!(
        c.call(&[b"CLIENT", b"FOO"]),
        Value::error("ERR unknown subcommand 'FOO'. Try CLIENT HELP.")
    );
    assert_eq!(
        c.call(&[b"CONFIG", b"GET"]),
        Value::error("ERR wrong number of arguments for 'config|get' command")
    );
    assert_eq!(
        c.call(&[b"CLIENT", b"SETNAME"]),
        Value::error("ERR wrong number of arguments for 'client|setname' command")
    );
    assert_eq!(c.call(&[b"CLIENT", b"ID"]), noauth);
    assert_eq!(c.call(&[b"COMMAND", b"COUNT"]), noauth);
    let wrongpass = Value::error("WRONGPASS invalid username-password pair or user is disabled.");
    assert_eq!(c.call(&[b"AUTH", b"guess"]), wrongpass);
    assert_eq!(c.call(&[b"AUTH", b"admin", b"s3cret"]), wrongpass);
    assert_eq!(c.call(&[b"GET", b"k"]), noauth);
    assert_eq!(
        c.call(&[b"AUTH", b"a", b"b", b"c"]),
        Value::error("ERR syntax error")
    );
    assert_eq!(c.call(&[b"AUTH", b"s3cret"]), Value::ok());
    assert_eq!(c.call(&[b"SET", b"k", b"v"]), Value::ok());
    assert_eq!(c.call(&[b"GET", b"k"]), Value::bulk(b"v"));

    // Each connection authenticates on its own; the username form works.
    let mut other = server.client();
    assert_eq!(other.call(&[b"GET", b"k"]), noauth);
    assert_eq!(other.call(&[b"AUTH", b"default", b"s3cret"]), Value::ok());
    assert_eq!(other.call(&[b"GET", b"k"]), Value::bulk(b"v"));
    // A failed AUTH leaves the session as it was, as in Redis.
    assert_eq!(other.call(&[b"AUTH", b"wrong"]), wrongpass);
    assert_eq!(other.call(&[b"GET", b"k"]), Value::bulk(b"v"));
    assert_eq!(other.call(&[b"QUIT"]), Value::ok());
}

#[test]
fn unauthenticated_clients_get_small_request_limits() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_password(dir.path());
    // Over 10 arguments, or a bulk over 16384 bytes, before AUTH: Redis's
    // protocol errors, and the connection is closed before the bytes come.
    let cases: [(&[u8], &str); 2] = [
        (
            b"*11\r\n",
            "ERR Protocol error: unauthenticated multibulk length",
        ),
        (
            b"*2\r\n$4\r\nAUTH\r\n$16385\r\n",
            "ERR Protocol error: unauthenticated bulk length",
        ),
    ];
    for (frame, text) in cases {
        let mut c = server.client();
        c.send_raw(frame);
        assert_eq!(c.read(), Value::error(text));
        assert!(c.is_closed());
    }
    // Within the limits, and after AUTH in the same pipeline, anything goes.
    let mut c = server.client();
    let big = vec![b'v'; 100_000];
    let many: Vec<&[u8]> = std::iter::once(&b"MSET"[..])
        .chain(std::iter::repeat_n(&b"k"[..], 24))
        .collect();
    c.send(&[b"AUTH", b"s3cret"]);
    c.send(&[b"SET", b"big", &big]);
    c.send(&many);
    assert_eq!(c.read(), Value::ok());
    assert_eq!(c.read(), Value::ok());
    assert_eq!(c.read(), Value::ok());
    assert_eq!(c.call(&[b"STRLEN", b"big"]), Value::Integer(100_000));
}

#[test]
fn auth_without_a_password_configured() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(open_store(dir.path()));
    let mut c = server.client();
    assert_eq!(
        c.call(&[b"AUTH", b"pw"]),
        Value::error(
            "ERR AUTH <password> called without any password configured for the default user. \
             Are you sure your configuration is correct?"
        )
    );
    assert_eq!(c.call(&[b"AUTH", b"default", b"anything"]), Value::ok());
    assert_eq!(c.call(&[b"PING"]), Value::Simple("PONG".into()));
}

#[test]
fn an_empty_password_is_refused_at_start() {
    let config = ServerConfig {
        requirepass: Some(String::new()),
        ..ServerConfig::default()
    };
    let err = config.validate().unwrap_err();
    assert!(err.to_string().contains("requirepass"), "{err}");
    assert!(!format!("{config:?}").contains("s3cret"));
    let secret = ServerConfig {
        requirepass: Some("s3cret".into()),
        ..ServerConfig::default()
    };
    assert!(
        !format!("{secret:?}").contains("s3cret"),
        "Debug must not print the password"
    );
}
