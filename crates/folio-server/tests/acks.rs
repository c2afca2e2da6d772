//! Pipeline-wide acknowledgement: a reply is sent only once the writes it
//! reports, or has seen, are durable; when they cannot be, every reply of
//! the batch is an error and the connection closes.

mod common;

use std::io::ErrorKind;
use std::path::Path;
use std::sync::Arc;

use common::{encode, TestServer, Value};
use folio::io::{CrashPolicy, CrashVfs, FaultOp, FaultVfs, MemVfs, Vfs};
use folio::{Config, KvStore, MemoryStore, PageLsn, PageOptions, PageStore, PagedStore};
use folio_server::{ServerConfig, Stores};
use rand::SeedableRng;

const DIR: &str = "/server";

fn store_on(vfs: Arc<dyn Vfs>) -> Arc<dyn KvStore> {
    let mut config = Config::default();
    // Small log files: a crash state copies them whole.
    config.wal_file_bytes = 1 << 20;
    Arc::new(PagedStore::open_with_vfs(vfs, Path::new(DIR), &config).unwrap())
}

/// Every SET answered `+OK` in a pipeline is in the state a power cut at
/// that moment leaves, whatever the cut keeps of unsynced data.
#[test]
fn every_answered_write_survives_a_power_cut() {
    let vfs = CrashVfs::new();
    // A slow disk: a reply sent before its fsync would be caught every time.
    let slow = FaultVfs::new(Arc::new(vfs.clone()));
    slow.set_sync_delay(std::time::Duration::from_millis(3));
    let server = TestServer::start(store_on(Arc::new(slow)));
    let mut client = server.client();
    let mut rng = rand::rngs::StdRng::seed_from_u64(22);
    for round in 0..20 {
        let mut pipeline = Vec::new();
        for i in 0..16 {
            let key = format!("r{round}-k{i}");
            pipeline.extend(encode(&[b"SET", key.as_bytes(), key.as_bytes()]));
        }
        client.send_raw(&pipeline);
        for _ in 0..16 {
            assert_eq!(client.read(), Value::ok());
        }
        for policy in CrashPolicy::ALL {
            let crashed = store_on(Arc::new(vfs.crash_state(policy, &mut rng)));
            for done in 0..=round {
                for i in 0..16 {
                    let key = format!("r{done}-k{i}");
                    let stored = crashed.get(key.as_bytes()).unwrap();
                    // Stored with the key space's one-byte header (no expiry).
                    let mut expected = vec![0u8];
                    expected.extend_from_slice(key.as_bytes());
                    assert_eq!(stored, Some(expected), "{key} after a cut ({policy:?})");
                }
            }
            crashed.close().unwrap();
        }
    }
}

fn pages_on(vfs: Arc<dyn Vfs>) -> Arc<PageStore> {
    let mut options = PageOptions::default();
    options.background = false;
    Arc::new(PageStore::open(store_on(vfs), options).unwrap())
}

/// Every `PAGE.PUT` answered `+OK` in a pipeline is in every state a power
/// cut at that moment leaves, as a version `PAGE.GET` finds.
#[test]
fn every_answered_page_put_survives_a_power_cut() {
    let vfs = CrashVfs::new();
    // A slow disk: a reply sent before its fsync would be caught every time.
    let slow = FaultVfs::new(Arc::new(vfs.clone()));
    slow.set_sync_delay(std::time::Duration::from_millis(3));
    let stores = Stores::with_pages(store_on(Arc::new(MemVfs::new())), pages_on(Arc::new(slow)));
    let server = TestServer::with_stores(stores, ServerConfig::default());
    let mut client = server.client();
    let mut rng = rand::rngs::StdRng::seed_from_u64(23);
    let image = |page: usize, lsn: u64| {
        let tag = (page as u64 * 31 + lsn).to_le_bytes()[0];
        vec![tag; 4096]
    };
    for lsn in 1..=10u64 {
        let mut pipeline = Vec::new();
        for page in 0..16 {
            let id = format!("page-{page}");
            let lsn_text = lsn.to_string();
            pipeline.extend(encode(&[
                b"PAGE.PUT",
                id.as_bytes(),
                lsn_text.as_bytes(),
                &image(page, lsn),
            ]));
        }
        client.send_raw(&pipeline);
        for _ in 0..16 {
            assert_eq!(client.read(), Value::ok());
        }
        for policy in CrashPolicy::ALL {
            let crashed = pages_on(Arc::new(vfs.crash_state(policy, &mut rng)));
            for page in 0..16 {
                let id = format!("page-{page}");
                for done in 1..=lsn {
                    let found = crashed.get_page(id.as_bytes(), PageLsn(done)).unwrap();
                    assert_eq!(
                        found,
                        Some((PageLsn(done), image(page, done))),
                        "{id}@{done} after a cut ({policy:?})"
                    );
                }
            }
            crashed.close().unwrap();
        }
    }
}

/// A failed log fsync: the writer's whole batch is answered with the
/// error and its connection closed; a reader that sees the lost write
/// gets the error too, never the value. The server goes on serving.
#[test]
fn a_failed_fsync_answers_the_batch_with_errors() {
    let vfs = FaultVfs::new(Arc::new(MemVfs::new()));
    let server = TestServer::start(store_on(Arc::new(vfs.clone())));
    let mut writer = server.client();
    let mut reader = server.client();
    assert_eq!(writer.call(&[b"SET", b"warm", b"1"]), Value::ok());
    vfs.fail(FaultOp::Sync, ErrorKind::Other);
    let mut pipeline = encode(&[b"SET", b"lost", b"2"]);
    pipeline.extend(encode(&[b"GET", b"lost"]));
    pipeline.extend(encode(&[b"PING"]));
    writer.send_raw(&pipeline);
    for _ in 0..3 {
        match writer.read() {
            Value::Error(text) => assert!(text.starts_with("IOERR"), "{text}"),
            other => panic!("expected an IOERR, got {other:?}"),
        }
    }
    assert!(writer.is_closed(), "the connection ends after the failure");
    match reader.call(&[b"GET", b"lost"]) {
        Value::Error(text) => assert!(text.starts_with("IOERR"), "{text}"),
        other => panic!("a reader saw a write that is not durable: {other:?}"),
    }
    assert!(reader.is_closed(), "withheld replies end the connection");
    let mut other = server.client();
    assert_eq!(other.call(&[b"PING"]), Value::Simple("PONG".into()));
}

/// INFO's persistence and folio sections, as one text.
fn info(c: &mut common::Client) -> String {
    let mut text = String::new();
    for section in [&b"persistence"[..], b"folio"] {
        match c.call(&[b"INFO", section]) {
            Value::Bulk(bytes) => text.push_str(&String::from_utf8(bytes).unwrap()),
            reply => panic!("INFO answers a bulk string, not {reply:?}"),
        }
    }
    text
}

/// A store poisoned by a failed checkpoint (no write lost, so reads and
/// INFO go on) shows it in INFO, where monitoring looks for a Redis that
/// cannot persist: `rdb_last_bgsave_status:err`, and `store_poisoned:1`.
#[test]
fn info_says_when_the_store_refuses_writes() {
    let vfs = FaultVfs::new(Arc::new(MemVfs::new()));
    let server = TestServer::start(store_on(Arc::new(vfs.clone())));
    let mut c = server.client();
    assert_eq!(c.call(&[b"SET", b"k", b"v"]), Value::ok());
    let before = info(&mut c);
    assert!(before.contains("rdb_last_bgsave_status:ok\r\n"), "{before}");
    assert!(before.contains("store_poisoned:0\r\n"), "{before}");
    vfs.fail(FaultOp::Sync, ErrorKind::Other);
    match c.call(&[b"SAVE"]) {
        Value::Error(text) => assert!(text.starts_with("IOERR"), "{text}"),
        other => panic!("SAVE cannot succeed: {other:?}"),
    }
    vfs.heal();
    let after = info(&mut c);
    assert!(after.contains("rdb_last_bgsave_status:err\r\n"), "{after}");
    assert!(after.contains("store_poisoned:1\r\n"), "{after}");
    assert_eq!(c.call(&[b"GET", b"k"]), Value::bulk(b"v"), "reads go on");
}

/// A memory-engine snapshot that fails (a full disk) stops no write: its
/// WAL holds them. INFO says the save failed, not that the store refuses
/// writes, until a SAVE succeeds.
#[test]
fn a_failed_memory_snapshot_shows_in_info_and_writes_go_on() {
    let vfs = FaultVfs::new(Arc::new(MemVfs::new()));
    let store =
        MemoryStore::open_with_vfs(Arc::new(vfs.clone()), Path::new(DIR), &Config::default());
    let server = TestServer::start(Arc::new(store.unwrap()));
    let mut c = server.client();
    assert_eq!(c.call(&[b"SET", b"k", b"v"]), Value::ok());
    vfs.fail_paths_ending(FaultOp::Write, ".tmp", ErrorKind::StorageFull);
    match c.call(&[b"SAVE"]) {
        Value::Error(text) => assert!(text.starts_with("IOERR"), "{text}"),
        other => panic!("SAVE cannot succeed: {other:?}"),
    }
    vfs.heal();
    let failed = info(&mut c);
    assert!(
        failed.contains("rdb_last_bgsave_status:err\r\n"),
        "{failed}"
    );
    assert!(failed.contains("store_poisoned:0\r\n"), "{failed}");
    assert!(failed.contains("checkpoint_failed:1\r\n"), "{failed}");
    assert_eq!(c.call(&[b"SET", b"k", b"w"]), Value::ok(), "writes go on");
    assert_eq!(c.call(&[b"SAVE"]), Value::ok());
    let saved = info(&mut c);
    assert!(saved.contains("rdb_last_bgsave_status:ok\r\n"), "{saved}");
    assert!(saved.contains("checkpoint_failed:0\r\n"), "{saved}");
}
