//! A process that dies after a flush, over every engine of the build: a
//! child process (this test binary, re-run with `FOLIO_PEERS_CRASH_CHILD`)
//! writes, flushes, writes more and aborts — no destructor, no close —
//! and the parent reopens the store and checks what survived. A power
//! loss cannot be simulated on real files (the peers take no `Vfs`); the
//! crash half of crates/folio/tests/conformance.rs does that for Folio's
//! engines.
//!
//! A file of its own: a child inherits the parent's descriptors until it
//! runs `exec`, file locks included, so a test reopening a store in
//! another thread of the same process could find it locked by the child.

#![allow(clippy::cast_possible_truncation)] // test data wraps bytes on purpose

#[path = "../../folio/tests/common/mod.rs"]
mod common;

use common::ops::contents;
use common::test_config;
use folio::{Config, Durability, WriteBatch};

const MODES: [Durability; 3] = [Durability::Sync, Durability::Buffered, Durability::None];

fn config(durability: Durability) -> Config {
    let mut c = test_config();
    c.durability = durability;
    c
}

/// The environment variable that makes `crash_child` a workload.
const CHILD: &str = "FOLIO_PEERS_CRASH_CHILD";
/// Keys written and flushed before the crash.
const FLUSHED: u32 = 60;
/// Keys written after the flush.
const AFTER: u32 = 40;

fn crash_value(i: u32) -> Vec<u8> {
    vec![i as u8; 50 + (i as usize * 131) % 5000]
}

/// Not a test by itself (the parent runs it, `--ignored`): with
/// `FOLIO_PEERS_CRASH_CHILD=engine,mode,dir` set, the workload of
/// `a_flush_survives_a_process_crash`: writes, flushes, writes more
/// (single puts and a batch), then aborts.
#[test]
#[ignore = "the child process of a_flush_survives_a_process_crash; the parent runs it"]
fn crash_child() {
    let Ok(spec) = std::env::var(CHILD) else {
        return;
    };
    let mut parts = spec.splitn(3, ',');
    let (engine, mode, dir) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let store = folio_peers::open(
        engine,
        dir.as_ref(),
        &config(Durability::parse(mode).unwrap()),
    )
    .unwrap();
    for i in 0..FLUSHED {
        store.put(&i.to_be_bytes(), &crash_value(i)).unwrap();
    }
    store.flush().unwrap();
    for i in FLUSHED..FLUSHED + AFTER {
        store.put(&i.to_be_bytes(), &crash_value(i)).unwrap();
    }
    let mut batch = WriteBatch::new();
    batch
        .put(b"batch-a".to_vec(), b"a".to_vec())
        .put(b"batch-b".to_vec(), b"b".to_vec())
        .delete(0u32.to_be_bytes().to_vec());
    store.write_batch(&batch).unwrap();
    println!("written");
    std::process::abort();
}

/// A process that dies (abort: no destructor, no close) keeps what
/// `flush` returned for in every mode; with `sync` and `buffered` every
/// write that returned (redb has no middle level: its `buffered` commits
/// are non-durable ones, lost with the process); with `none` any write
/// after the flush is there whole or not at all, a batch included.
#[test]
fn a_flush_survives_a_process_crash() {
    let exe = std::env::current_exe().unwrap();
    for engine in folio_peers::engines() {
        for mode in MODES {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("store");
            let spec = format!("{engine},{},{}", mode.name(), path.display());
            let out = std::process::Command::new(&exe)
                .args([
                    "--exact",
                    "crash_child",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD, &spec)
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                !out.status.success() && stdout.contains("written"),
                "{spec}: the child did not write and abort: {}\n{stdout}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            let store = folio_peers::open(engine, &path, &config(mode)).unwrap();
            let found = contents(&*store);
            let all_kept =
                mode == Durability::Sync || (mode == Durability::Buffered && engine != "redb");
            for i in 1..FLUSHED + AFTER {
                let got = found.get(i.to_be_bytes().as_slice());
                if i < FLUSHED || all_kept {
                    assert_eq!(got, Some(&crash_value(i)), "{spec}: key {i} was lost");
                } else if let Some(v) = got {
                    assert_eq!(v, &crash_value(i), "{spec}: key {i} is wrong");
                }
            }
            // The batch after the flush: put batch-a and batch-b, delete
            // key 0 (flushed), all or nothing.
            let batch = [
                found.contains_key(b"batch-a".as_slice()),
                found.contains_key(b"batch-b".as_slice()),
                !found.contains_key(0u32.to_be_bytes().as_slice()),
            ];
            assert!(
                batch == [true; 3] || batch == [false; 3],
                "{spec}: half a batch (put, put, delete applied: {batch:?})"
            );
            assert!(batch[0] || !all_kept, "{spec}: the batch was lost");
            store.close().unwrap();
        }
    }
}
