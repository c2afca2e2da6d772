//! Dispatch tests over an in-memory store that can be told to fail.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use folio::{BatchOp, KvStore, Stats, WriteBatch};

use super::{dispatch, After, Session};
use crate::config::ServerConfig;
use crate::resp::Reply;
use crate::shared::Shared;

/// A map behind a mutex; every call fails with `Poisoned` once `fail` is set.
#[derive(Default)]
struct MemStore {
    map: Mutex<BTreeMap<Vec<u8>, Vec<u8>>>,
    fail: std::sync::atomic::AtomicBool,
}

impl MemStore {
    fn check(&self) -> folio::Result<std::sync::MutexGuard<'_, BTreeMap<Vec<u8>, Vec<u8>>>> {
        if self.fail.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(folio::Error::Poisoned {
                cause: "fsync failed".into(),
            });
        }
        Ok(self.map.lock().expect("test mutex"))
    }
}

impl KvStore for MemStore {
    fn engine_name(&self) -> &'static str {
        "test-memory"
    }
    fn put(&self, key: &[u8], value: &[u8]) -> folio::Result<()> {
        if key.len() > 8 {
            return Err(folio::Error::KeyTooLarge {
                len: key.len(),
                max: 8,
            });
        }
        self.check()?.insert(key.to_vec(), value.to_vec());
        Ok(())
    }
    fn get(&self, key: &[u8]) -> folio::Result<Option<Vec<u8>>> {
        Ok(self.check()?.get(key).cloned())
    }
    fn max_value_bytes(&self) -> usize {
        usize::MAX
    }
    fn delete(&self, key: &[u8]) -> folio::Result<bool> {
        Ok(self.check()?.remove(key).is_some())
    }
    fn write_batch(&self, batch: &WriteBatch) -> folio::Result<()> {
        let mut map = self.check()?;
        for op in batch.ops() {
            match op {
                BatchOp::Put { key, value } => map.insert(key.clone(), value.clone()),
                BatchOp::Delete { key } => map.remove(key),
            };
        }
        Ok(())
    }
    fn flush(&self) -> folio::Result<()> {
        self.check().map(drop)
    }
    fn len(&self) -> folio::Result<u64> {
        Ok(u64::try_from(self.check()?.len()).unwrap_or(u64::MAX))
    }
    fn for_each_key(&self, visit: &mut dyn FnMut(&[u8]) -> ControlFlow<()>) -> folio::Result<()> {
        for key in self.check()?.keys() {
            if visit(key).is_break() {
                break;
            }
        }
        Ok(())
    }
    fn stats(&self) -> Stats {
        Stats::default()
    }
    fn close(&self) -> folio::Result<()> {
        Ok(())
    }
}

fn shared() -> (Shared, Arc<MemStore>) {
    let store = Arc::new(MemStore::default());
    let addr = SocketAddr::from(([127, 0, 0, 1], 7777));
    (
        Shared::new(
            crate::Stores::kv_only(store.clone()),
            ServerConfig::default(),
            addr,
        )
        .expect("open the key space"),
        store,
    )
}

fn run(shared: &Shared, line: &str) -> Reply {
    let args: Vec<Bytes> = crate::resp::split_args(line.as_bytes())
        .expect("test command")
        .into_iter()
        .map(Bytes::from)
        .collect();
    dispatch(shared, &mut session(shared), &args).0
}

fn session(shared: &Shared) -> Session {
    let peer = SocketAddr::from(([127, 0, 0, 1], 5555));
    Session::new(shared.clients.register(peer, shared.local_addr))
}

fn bulk(text: &str) -> Reply {
    Reply::bulk(text.as_bytes().to_vec())
}

fn err(text: &str) -> Reply {
    Reply::Error(text.as_bytes().to_vec())
}

#[test]
fn names_are_case_insensitive() {
    let (sh, _) = shared();
    assert_eq!(run(&sh, "PiNg"), Reply::Simple("PONG".into()));
    assert_eq!(run(&sh, "ping hello"), bulk("hello"));
    assert_eq!(run(&sh, "EcHo x"), bulk("x"));
}

#[test]
fn arity_and_unknown_command_texts_are_redis_7() {
    let (sh, _) = shared();
    assert_eq!(
        run(&sh, "GET"),
        err("ERR wrong number of arguments for 'get' command")
    );
    assert_eq!(
        run(&sh, "ping a b"),
        err("ERR wrong number of arguments for 'ping' command")
    );
    assert_eq!(
        run(&sh, "mset a 1 b"),
        err("ERR wrong number of arguments for 'mset' command")
    );
    assert_eq!(
        run(&sh, "config get"),
        err("ERR wrong number of arguments for 'config|get' command")
    );
    assert_eq!(
        run(&sh, "foo a b"),
        err("ERR unknown command 'foo', with args beginning with: 'a' 'b' ")
    );
    assert_eq!(
        run(&sh, "foo"),
        err("ERR unknown command 'foo', with args beginning with: ")
    );
    let long = "x".repeat(200);
    let expected = format!(
        "ERR unknown command 'foo', with args beginning with: '{}' ",
        &long[..128]
    );
    assert_eq!(run(&sh, &format!("foo {long} b")), err(&expected));
    assert_eq!(
        run(&sh, "config set a b"),
        err("ERR unknown subcommand 'set'. Try CONFIG HELP.")
    );
}

#[test]
fn set_options() {
    let (sh, _) = shared();
    assert_eq!(run(&sh, "set k v1 xx"), Reply::NullBulk);
    assert_eq!(run(&sh, "set k v1 nx"), Reply::ok());
    assert_eq!(run(&sh, "set k v2 nx"), Reply::NullBulk);
    assert_eq!(run(&sh, "set k v2 xx get"), bulk("v1"));
    assert_eq!(run(&sh, "set k v3 NX GET"), bulk("v2"));
    assert_eq!(run(&sh, "get k"), bulk("v2"));
    assert_eq!(run(&sh, "set j v GET"), Reply::NullBulk);
    assert_eq!(run(&sh, "get j"), bulk("v"));
    assert_eq!(run(&sh, "set k v nx xx"), err("ERR syntax error"));
    assert_eq!(run(&sh, "set k v bogus"), err("ERR syntax error"));
    assert_eq!(run(&sh, "set k v ex 10"), Reply::ok());
    assert_eq!(run(&sh, "set k v keepttl"), Reply::ok());
    assert_eq!(run(&sh, "ttl k"), Reply::Integer(10));
}

#[test]
fn multi_key_commands_count() {
    let (sh, _) = shared();
    assert_eq!(run(&sh, "mset a 1 b 2"), Reply::ok());
    assert_eq!(run(&sh, "exists a b c a"), Reply::Integer(3));
    assert_eq!(
        run(&sh, "mget a c b"),
        Reply::Array(vec![bulk("1"), Reply::NullBulk, bulk("2")])
    );
    assert_eq!(run(&sh, "dbsize"), Reply::Integer(2));
    assert_eq!(run(&sh, "del a a c"), Reply::Integer(1));
    assert_eq!(run(&sh, "dbsize"), Reply::Integer(1));
}

#[test]
fn server_commands() {
    let (sh, _) = shared();
    assert_eq!(run(&sh, "select 0"), Reply::ok());
    assert_eq!(run(&sh, "select 1"), err("ERR DB index is out of range"));
    assert_eq!(
        run(&sh, "select 99999999999"),
        err("ERR value is out of range, value must between -2147483648 and 2147483647")
    );
    assert_eq!(
        run(&sh, "select x"),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(run(&sh, "command"), run(&sh, "command info"));
    assert_eq!(run(&sh, "command docs get"), Reply::Map(vec![]));
    assert_eq!(
        run(&sh, "command count"),
        Reply::count(super::COMMANDS.len())
    );
    assert_eq!(
        run(&sh, "config get save appendonly SAVE"),
        Reply::Map(vec![
            (bulk("save"), bulk("")),
            (bulk("appendonly"), bulk("no"))
        ])
    );
    assert_eq!(
        run(&sh, "config get port"),
        Reply::Map(vec![(bulk("port"), bulk("7777"))])
    );
    let quit = dispatch(&sh, &mut session(&sh), &[Bytes::from_static(b"QUIT")]);
    assert_eq!(quit, (Reply::ok(), After::Close));
    assert_eq!(
        dispatch(&sh, &mut session(&sh), &[Bytes::from_static(b"POST")]).1,
        After::Drop
    );
}

#[test]
fn info_has_crlf_sections() {
    let (sh, _) = shared();
    run(&sh, "set a 1");
    let Reply::Text(text) = run(&sh, "info") else {
        panic!("INFO must answer text");
    };
    let text = String::from_utf8(text.to_vec()).expect("INFO is text");
    for needle in [
        "# Server\r\nredis_version:7.2.0\r\n",
        "folio_engine:test-memory\r\n",
        "# Folio\r\ncache_hits:0\r\n",
        "db0:keys=1,expires=0,avg_ttl=0\r\n",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from {text:?}");
    }
    assert!(!text.replace("\r\n", "").contains('\n'));
    let Reply::Text(only) = run(&sh, "info FOLIO") else {
        panic!("INFO must answer text");
    };
    assert!(only.starts_with(b"# Folio\r\n") && !only.windows(8).any(|w| w == b"# Server"));
}

#[test]
fn a_batch_counts_its_commands_before_info_reports_them() {
    let (sh, _) = shared();
    let mut one = session(&sh);
    let args = |line: &str| -> Vec<Bytes> {
        crate::resp::split_args(line.as_bytes())
            .expect("test command")
            .into_iter()
            .map(Bytes::from)
            .collect()
    };
    // A pipeline of four commands (one unknown), then INFO, with no flush
    // in between.
    for line in ["set a 1", "get a", "nosuchcommand", "get a"] {
        dispatch(&sh, &mut one, &args(line));
    }
    let (Reply::Text(text), _) = dispatch(&sh, &mut one, &args("info stats")) else {
        panic!("INFO must answer text");
    };
    let text = String::from_utf8(text.to_vec()).expect("INFO is text");
    // Known commands count, INFO itself included; unknown ones do not.
    assert!(text.contains("total_commands_processed:4\r\n"), "{text:?}");
    let list = dispatch(&sh, &mut one, &args("client list")).0;
    let Reply::Text(list) = list else {
        panic!("CLIENT LIST must answer text: {list:?}");
    };
    assert!(String::from_utf8_lossy(&list).contains(" cmd=client|list "));
}

#[test]
fn engine_errors_map_to_codes() {
    let (sh, store) = shared();
    assert_eq!(
        run(&sh, "set toolongkey v"),
        err("ERR key is 10 bytes; the limit is 8 bytes (config max_key_bytes)")
    );
    store.fail.store(true, std::sync::atomic::Ordering::Relaxed);
    let reply = run(&sh, "get a");
    assert_eq!(
        reply,
        err("IOERR store refuses writes after an earlier I/O failure (fsync failed); reopen it")
    );
    assert_eq!(
        super::engine_error(&folio::Error::Closed),
        err("CLOSED store is closed")
    );
}

/// `SHUTDOWN SAVE` whose checkpoint fails refuses to shut down, unless
/// `FORCE` says to go on (Redis 7: "Exit anyway"); `ABORT`, alone and
/// however often given, answers that no shutdown is in progress.
#[test]
fn shutdown_force_goes_on_after_a_failed_save() {
    let (sh, store) = shared();
    store.fail.store(true, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        run(&sh, "shutdown save"),
        err("ERR Errors trying to SHUTDOWN. Check logs.")
    );
    assert_eq!(run(&sh, "shutdown save force"), Reply::ok());
    assert_eq!(run(&sh, "shutdown force now"), Reply::ok());
    assert_eq!(
        run(&sh, "shutdown abort abort"),
        err("ERR No shutdown in progress.")
    );
    assert_eq!(run(&sh, "shutdown abort force"), err("ERR syntax error"));
}

#[test]
fn mget_reply_size_is_capped() {
    let (sh, store) = shared();
    store.put(b"big", &vec![0u8; 1024 * 1024]).expect("put");
    let big = Bytes::from_static(b"big");
    let mut args = vec![Bytes::from_static(b"mget")];
    args.extend(std::iter::repeat_n(big, 300));
    let Reply::Error(text) = dispatch(&sh, &mut session(&sh), &args).0 else {
        panic!("an MGET over the cap must be refused");
    };
    assert!(String::from_utf8_lossy(&text).contains("268435456"));
}

#[test]
fn only_commands_that_may_wait_for_the_disk_leave_the_runtime() {
    let (mut sh, _) = shared();
    assert!(
        sh.key_writes_wait,
        "a store that does not say is taken as sync"
    );
    assert!(super::may_block(&sh, "set"));
    assert!(!super::may_block(&sh, "get"));
    assert!(super::may_block(&sh, "save"));
    assert!(
        super::may_block(&sh, "shutdown"),
        "SHUTDOWN SAVE checkpoints"
    );
    sh.key_writes_wait = false;
    assert!(!super::may_block(&sh, "set"));
    assert!(!super::may_block(&sh, "incr"));
    assert!(super::may_block(&sh, "flushall"), "many writes and a flush");
    assert!(!super::may_block(&sh, "page.put"), "no page store");
    assert!(super::may_block(&sh, "page.vacuum"));
}
