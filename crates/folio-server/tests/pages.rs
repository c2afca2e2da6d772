//! Page and node commands over a real connection.

mod common;

use common::{open_pages, open_store, Client, TestServer, Value};
use folio_server::{ServerConfig, Stores};

fn server(dir: &std::path::Path) -> TestServer {
    let stores = Stores::with_pages(open_store(&dir.join("kv")), open_pages(&dir.join("pages")));
    TestServer::with_stores(stores, ServerConfig::default())
}

fn pair(lsn: i64, image: &[u8]) -> Value {
    Value::Array(vec![Value::Integer(lsn), Value::bulk(image)])
}

/// The text of `INFO pages`.
fn info_pages(c: &mut Client) -> String {
    match c.call(&[b"INFO", b"pages"]) {
        Value::Bulk(info) => String::from_utf8(info).expect("INFO is text"),
        other => panic!("INFO: {other:?}"),
    }
}

fn is_error_starting(value: &Value, prefix: &str) -> bool {
    matches!(value, Value::Error(text) if text.starts_with(prefix))
}

#[test]
fn get_page_at_an_lsn_returns_the_newest_version_at_or_below_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let mut c = server.client();
    let image_100 = vec![1u8; 8192];
    let image_150 = vec![2u8; 8192];
    // Page ids are binary safe.
    let id: &[u8] = b"rel\x00\r\n7";
    assert_eq!(c.call(&[b"PAGE.PUT", id, b"100", &image_100]), Value::ok());
    assert_eq!(c.call(&[b"page.put", id, b"150", &image_150]), Value::ok());
    assert_eq!(
        c.call(&[b"PAGE.PUT", id, b"150", &image_150]),
        Value::ok(),
        "same bytes: a no-op"
    );
    assert_eq!(c.call(&[b"PAGE.GET", id, b"99"]), Value::Nil);
    assert_eq!(c.call(&[b"PAGE.GET", id, b"100"]), pair(100, &image_100));
    assert_eq!(c.call(&[b"PAGE.GET", id, b"149"]), pair(100, &image_100));
    assert_eq!(
        c.call(&[b"PAGE.GET", id, b"18446744073709551615"]),
        pair(150, &image_150)
    );
    assert_eq!(
        c.call(&[b"PAGE.VERSIONS", id]),
        Value::Array(vec![Value::Integer(100), Value::Integer(150)])
    );
    assert_eq!(
        c.call(&[b"PAGE.VERSIONS", b"nothing"]),
        Value::Array(vec![])
    );
    assert_eq!(c.call(&[b"PAGE.GET", b"nothing", b"5"]), Value::Nil);
}

#[test]
fn vacuumed_versions_get_a_vacuumed_error() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let mut c = server.client();
    for lsn in [b"10", b"20", b"30"] {
        assert_eq!(c.call(&[b"PAGE.PUT", b"p", lsn, lsn]), Value::ok());
    }
    // No live horizon yet: vacuum without a horizon removes nothing.
    assert_eq!(c.call(&[b"PAGE.VACUUM"]), Value::Integer(0));
    assert_eq!(c.call(&[b"PAGE.VACUUM", b"25"]), Value::Integer(1));
    let vacuumed = c.call(&[b"PAGE.GET", b"p", b"15"]);
    assert!(is_error_starting(&vacuumed, "VACUUMED "), "{vacuumed:?}");
    assert_eq!(c.call(&[b"PAGE.GET", b"p", b"25"]), pair(20, b"20"));
    let below = c.call(&[b"PAGE.PUT", b"p", b"5", b"x"]);
    assert!(
        is_error_starting(
            &below,
            "ERR version at LSN 5 is below the vacuum horizon 25"
        ),
        "{below:?}"
    );
    let conflict = c.call(&[b"PAGE.PUT", b"p", b"30", b"different"]);
    assert!(
        is_error_starting(
            &conflict,
            "ERR page already has a different image at LSN 30"
        ),
        "{conflict:?}"
    );
    let info = info_pages(&mut c);
    assert!(info.contains("page_versions:2\r\n"), "{info}");
    assert!(info.contains("vacuum_horizon:25\r\n"), "{info}");
    assert!(info.contains("versions_vacuumed:1\r\n"), "{info}");
    // `INFO folio` has them too, with the engine's figures.
    let Value::Bulk(folio) = c.call(&[b"INFO", b"folio"]) else {
        panic!("INFO folio");
    };
    let folio = String::from_utf8(folio).expect("INFO is text");
    assert!(folio.contains("page_versions:2\r\n"), "{folio}");
    assert!(folio.contains("live_nodes:"), "{folio}");
}

#[test]
fn bad_arguments_get_clear_errors_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let mut c = server.client();
    for bad in [
        &b"-1"[..],
        b"x",
        b"",
        b"+5",
        b"18446744073709551616",
        b"1.5",
    ] {
        let reply = c.call(&[b"PAGE.PUT", b"p", bad, b"img"]);
        assert_eq!(
            reply,
            Value::error("ERR LSN is not an unsigned 64-bit integer"),
            "{bad:?}"
        );
        let reply = c.call(&[b"PAGE.GET", b"p", bad]);
        assert_eq!(
            reply,
            Value::error("ERR LSN is not an unsigned 64-bit integer"),
            "{bad:?}"
        );
    }
    let empty_id = c.call(&[b"PAGE.PUT", b"", b"1", b"img"]);
    assert_eq!(
        empty_id,
        Value::error("ERR page id is 0 bytes; page ids are 1 to 64 bytes")
    );
    let long_id = vec![b'x'; 65];
    let reply = c.call(&[b"PAGE.GET", &long_id, b"1"]);
    assert_eq!(
        reply,
        Value::error("ERR page id is 65 bytes; page ids are 1 to 64 bytes")
    );
    assert_eq!(
        c.call(&[b"PAGE.GET", b"p"]),
        Value::error("ERR wrong number of arguments for 'page.get' command")
    );
    assert_eq!(c.call(&[b"PAGE.VERSIONS", b"p"]), Value::Array(vec![]));
    assert_eq!(
        c.call(&[b"PAGE.VACUUM", b"1", b"2"]),
        Value::error("ERR syntax error")
    );
    let big_lsn = u64::MAX.to_string();
    assert_eq!(
        c.call(&[b"PAGE.PUT", b"p", big_lsn.as_bytes(), b"top"]),
        Value::ok()
    );
    assert_eq!(
        c.call(&[b"PAGE.GET", b"p", big_lsn.as_bytes()]),
        Value::Array(vec![Value::bulk(big_lsn.as_bytes()), Value::bulk(b"top")]),
        "an LSN over i64::MAX is replied as its digits"
    );
}

#[test]
fn heartbeats_register_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let mut c = server.client();
    assert_eq!(
        c.call(&[b"NODE.HEARTBEAT", b"compute-1", b"500"]),
        Value::ok()
    );
    assert_eq!(
        c.call(&[b"NODE.HEARTBEAT", b"compute-2", b"300"]),
        Value::ok()
    );
    assert_eq!(
        c.call(&[b"NODE.LIST"]),
        Value::Array(vec![
            Value::Array(vec![
                Value::bulk(b"compute-1"),
                Value::Integer(500),
                Value::bulk(b"alive")
            ]),
            Value::Array(vec![
                Value::bulk(b"compute-2"),
                Value::Integer(300),
                Value::bulk(b"alive")
            ]),
        ])
    );
    // Two sweep intervals must pass after start before there is a horizon.
    assert_eq!(c.call(&[b"NODE.HORIZON"]), Value::Nil);
    assert_eq!(
        c.call(&[b"NODE.HEARTBEAT", b"", b"1"]),
        Value::error("ERR node id is 0 bytes; node ids are 1 to 256 bytes")
    );
    assert!(info_pages(&mut c).contains("live_nodes:2\r\n"));

    // A node behind the vacuum horizon is recorded, and told.
    assert_eq!(c.call(&[b"PAGE.PUT", b"p", b"500", b"img"]), Value::ok());
    assert_eq!(c.call(&[b"PAGE.VACUUM", b"400"]), Value::Integer(0));
    assert_eq!(
        c.call(&[b"NODE.HEARTBEAT", b"compute-3", b"399"]),
        Value::error(
            "VACUUMED node's LSN 399 is below the vacuum horizon 400: page versions it reads below 400 may be gone (the heartbeat is recorded)"
        )
    );
    assert_eq!(
        c.call(&[b"NODE.HEARTBEAT", b"compute-3", b"400"]),
        Value::ok(),
        "at the horizon nothing it can read is gone"
    );
    assert!(info_pages(&mut c).contains("live_nodes:3\r\n"));
}

#[test]
fn without_a_page_store_page_commands_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(open_store(dir.path()));
    let mut c = server.client();
    for command in [
        &[&b"PAGE.GET"[..], b"p", b"1"][..],
        &[b"NODE.LIST"],
        &[b"NODE.HEARTBEAT", b"n", b"1"],
    ] {
        assert_eq!(
            c.call(command),
            Value::error("ERR the page store is not enabled on this server"),
            "{command:?}"
        );
    }
    assert_eq!(c.call(&[b"PING"]), Value::Simple("PONG".into()));
}
