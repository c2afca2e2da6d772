//! The server driven by `redis-cli`, the reference client. In CI (the `CI`
//! environment variable set) a missing redis-cli fails the test; elsewhere
//! the test says it is skipped.

mod common;

use std::process::Command;

use common::{open_pages, open_store, TestServer};
use folio_server::{ServerConfig, Stores};

/// Runs `redis-cli -p <port> args...` and returns its output, or `None`
/// when redis-cli is not installed outside CI.
fn redis_cli(server: &TestServer, args: &[&str]) -> Option<String> {
    let port = server.addr.port().to_string();
    let output = match Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port])
        .args(args)
        .output()
    {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            assert!(
                std::env::var_os("CI").is_none(),
                "redis-cli is missing: .ci/run installs redis-tools"
            );
            eprintln!("redis-cli not installed: skipped");
            return None;
        }
        Err(e) => panic!("cannot run redis-cli: {e}"),
    };
    assert!(
        output.status.success(),
        "redis-cli {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8(output.stdout).expect("utf-8 output"))
}

#[test]
fn redis_cli_speaks_to_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let stores = Stores::with_pages(
        open_store(&dir.path().join("kv")),
        open_pages(&dir.path().join("pages")),
    );
    let server = TestServer::with_stores(stores, ServerConfig::default());
    let Some(pong) = redis_cli(&server, &["ping"]) else {
        return;
    };
    assert_eq!(pong, "PONG\n");
    let cases: &[(&[&str], &str)] = &[
        (&["set", "greeting", "hello"], "OK\n"),
        (&["get", "greeting"], "hello\n"),
        (&["exists", "greeting", "nope"], "1\n"),
        (&["mset", "a", "1", "b", "2"], "OK\n"),
        (&["mget", "a", "b", "missing"], "1\n2\n\n"),
        (&["del", "a", "b"], "2\n"),
        (&["dbsize"], "1\n"),
        (&["set", "session", "abc", "EX", "100"], "OK\n"),
        (&["persist", "session"], "1\n"),
        (&["ttl", "session"], "-1\n"),
        (&["expire", "session", "100", "GT"], "0\n"),
        (&["keys", "s*"], "session\n"),
        (&["scan", "0", "match", "gre*"], "0\ngreeting\n"),
        (&["del", "session"], "1\n"),
        (&["-3", "get", "missing"], "\n"),
        (&["-3", "config", "get", "databases"], "databases 1\n"), // a RESP3 map
        (&["client", "setname", "cli"], "OK\n"),
        (&["page.put", "blk7", "100", "image-at-100"], "OK\n"),
        (&["page.put", "blk7", "200", "image-at-200"], "OK\n"),
        (&["page.get", "blk7", "150"], "100\nimage-at-100\n"),
        (&["page.get", "blk7", "99"], "\n"),
        (&["page.versions", "blk7"], "100\n200\n"),
        (&["page.vacuum", "200"], "1\n"),
        (&["page.get", "blk7", "150"], "VACUUMED version vacuumed: no version of the page at LSN 150 is kept (vacuum horizon 200)\n\n"),
        (&["node.heartbeat", "compute-1", "250"], "OK\n"),
        (&["node.list"], "compute-1\n250\nalive\n"),
        (&["node.horizon"], "\n"),
        (&["set", &"k".repeat(5000), "v"], "ERR key is 5000 bytes; the limit is 4096 bytes (config max_key_bytes)\n\n"),
        (&["get", &"k".repeat(5000)], "\n"),
        (&["nosuchcommand", "x"], "ERR unknown command 'nosuchcommand', with args beginning with: 'x' \n\n"),
    ];
    // (In raw output, redis-cli ends an error reply with an empty line.)
    for (args, expected) in cases {
        let got = redis_cli(&server, args).expect("redis-cli ran before");
        assert_eq!(
            got,
            *expected,
            "redis-cli {}",
            args.join(" ").chars().take(80).collect::<String>()
        );
    }
}
