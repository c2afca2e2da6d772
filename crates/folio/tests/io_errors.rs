//! I/O error sweep: a small workload is run once for every N, with the N-th
//! I/O call (open, read, write, fsync, set_len, rename, remove) failing —
//! once or from then on, with EIO, with ENOSPC, and as a short write. For
//! every run: no panic; every error is a typed I/O, no-space or poisoned
//! error; the running store still answers reads with exactly the
//! acknowledged state; after the fault is gone and the store reopened,
//! every acknowledged write is there and `check` passes. On each engine.
//!
//! After a failed write or fsync the store refuses writes (poisoned) until
//! reopened; so of the operations that failed, at most one (the one whose
//! WAL write failed) can have reached the log, and the reopened state is
//! the acknowledged state with at most one failed operation added. (A
//! memory-engine snapshot that fails does not poison, and writes go on:
//! the failed operation is then the checkpoint, which changes no state.)

#![allow(clippy::cast_possible_truncation)] // test data wraps bytes on purpose

mod common;

use std::io::ErrorKind;
use std::path::Path;
use std::sync::Arc;

use common::ops::{apply, run_op, Op, State};
use folio::io::{FaultOp, FaultVfs, MemVfs};
use folio::{Config, Durability, Error, KvStore};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const DIR: &str = "/faults";
const KEYS: u32 = 12;

fn config() -> Config {
    let mut c = Config::default();
    c.cache_bytes = 4 * 8192; // pages are written back during the workload
    c.wal_file_bytes = 64 * 1024; // WAL files rotate
    c.durability = Durability::Sync;
    c.checkpoint_interval_ms = 0;
    c.checkpoint_wal_bytes = u64::MAX; // checkpoints only where the workload says
    c
}

fn workload() -> Vec<Op> {
    let mut rng = StdRng::seed_from_u64(0xf00d);
    let key = |rng: &mut StdRng| format!("k{}", rng.gen_range(0..KEYS)).into_bytes();
    let value = |rng: &mut StdRng| {
        let len = [0, 40, 700, 8192, 12_000][rng.gen_range(0..5)];
        let mut v = vec![0u8; len];
        rng.fill(&mut v[..]);
        v
    };
    (0..28)
        .map(|_| match rng.gen_range(0..10) {
            0..=3 => Op::Put(key(&mut rng), value(&mut rng)),
            4 => Op::Delete(key(&mut rng)),
            5 | 6 => Op::Batch(
                (0..3)
                    .map(|_| (key(&mut rng), Some(value(&mut rng))))
                    .collect(),
            ),
            7 | 8 => Op::Get(key(&mut rng)),
            _ => Op::Checkpoint,
        })
        .collect()
}

/// An error the sweep may see: typed, naming what failed.
fn assert_clear(e: &Error, kind: ErrorKind) {
    let text = e.to_string();
    match e {
        Error::Io { .. } | Error::Poisoned { .. } => {}
        Error::StorageFull { .. } => assert!(text.contains("no space"), "{text}"),
        other => panic!("unexpected error type: {other:?}"),
    }
    if kind == ErrorKind::StorageFull && !matches!(e, Error::Poisoned { .. }) {
        assert!(
            matches!(e, Error::StorageFull { .. }),
            "ENOSPC must say so: {text}"
        );
    }
}

/// The engines swept.
const ENGINES: [&str; 2] = ["paged", "memory"];

fn read_all(store: &dyn KvStore) -> State {
    let mut state = State::new();
    for id in 0..KEYS {
        let k = format!("k{id}").into_bytes();
        if let Some(v) = store.get(&k).expect("read after the fault healed") {
            state.insert(k, v);
        }
    }
    state
}

#[derive(Debug, Clone, Copy)]
struct Fault {
    engine: &'static str,
    at: u64,
    persistent: bool,
    kind: ErrorKind,
    short: bool,
}

/// Runs the workload with `fault`; returns whether the fault fired.
fn run_case(ops: &[Op], fault: Fault) -> bool {
    let mem = MemVfs::new();
    let vfs = FaultVfs::new(Arc::new(mem.clone()));
    vfs.set_short_writes(fault.short);
    if fault.persistent {
        vfs.fail_from(FaultOp::Any, fault.at, fault.kind);
    } else {
        vfs.fail_once_after(FaultOp::Any, fault.at, fault.kind);
    }
    let mut acked = State::new();
    let mut failed: Vec<(usize, &Op)> = Vec::new();
    let mut prefix_states = Vec::new();
    match folio::open_with_vfs(
        fault.engine,
        Arc::new(vfs.clone()),
        Path::new(DIR),
        &config(),
    ) {
        Err(e) => assert_clear(&e, fault.kind),
        Ok(store) => {
            for (i, op) in ops.iter().enumerate() {
                prefix_states.push(acked.clone());
                match run_op(&*store, op, &acked) {
                    Ok(()) => apply(&mut acked, op),
                    Err(e) => {
                        assert_clear(&e, fault.kind);
                        failed.push((i, op));
                    }
                }
            }
            vfs.heal();
            assert_eq!(
                read_all(&*store),
                acked,
                "the running store after {fault:?}"
            );
            if store.close().is_err() {
                drop(store);
            }
        }
    }
    let fired = vfs.injected() > 0;
    vfs.heal();
    let store = folio::open_with_vfs(
        fault.engine,
        Arc::new(mem.clone()),
        Path::new(DIR),
        &config(),
    )
    .unwrap_or_else(|e| panic!("reopen after {fault:?}: {e}"));
    let found = read_all(&*store);
    let allowed = |found: &State| {
        *found == acked
            || failed.iter().any(|&(i, op)| {
                // The failed operation reached the log: the state is the
                // acknowledged one with it applied in its place.
                let mut s = prefix_states[i].clone();
                apply(&mut s, op);
                ops[i + 1..]
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| !failed.iter().any(|&(f, _)| f == i + 1 + j))
                    .for_each(|(_, later)| apply(&mut s, later));
                s == *found
            })
    };
    assert!(
        allowed(&found),
        "reopened state after {fault:?} lost an acknowledged write"
    );
    store.close().unwrap();
    let report = folio::check_with_vfs(Arc::new(mem), Path::new(DIR)).unwrap();
    assert!(report.is_sound(), "{fault:?}: {:?}", report.problems);
    fired
}

/// Sweeps every engine; the fewest I/O calls an engine's run made.
fn sweep(persistent: bool, kind: ErrorKind, short: bool) -> u64 {
    let ops = workload();
    let mut fewest = u64::MAX;
    for engine in ENGINES {
        let mut at = 0;
        loop {
            let fault = Fault {
                engine,
                at,
                persistent,
                kind,
                short,
            };
            if !run_case(&ops, fault) {
                break;
            }
            at += 1;
        }
        eprintln!("{engine}: {at} I/O calls swept");
        fewest = fewest.min(at);
    }
    fewest
}

#[test]
fn every_io_call_failing_once() {
    let n = sweep(false, ErrorKind::Other, false);
    eprintln!("EIO once: {n} I/O calls swept");
    assert!(n > 50, "the workload makes too few I/O calls ({n})");
}

#[test]
fn every_io_call_failing_from_then_on() {
    let n = sweep(true, ErrorKind::Other, false);
    eprintln!("EIO persistent: {n} I/O calls swept");
    assert!(n > 50, "the workload makes too few I/O calls ({n})");
}

#[test]
fn no_space_at_every_io_call() {
    let n = sweep(false, ErrorKind::StorageFull, false);
    eprintln!("ENOSPC once: {n} I/O calls swept");
    assert!(n > 50, "the workload makes too few I/O calls ({n})");
    let n = sweep(true, ErrorKind::StorageFull, false);
    eprintln!("ENOSPC persistent: {n} I/O calls swept");
    assert!(n > 50, "the workload makes too few I/O calls ({n})");
}

#[test]
fn short_writes_at_every_io_call() {
    let n = sweep(false, ErrorKind::StorageFull, true);
    eprintln!("short write then ENOSPC: {n} I/O calls swept");
    assert!(n > 50, "the workload makes too few I/O calls ({n})");
    let n = sweep(true, ErrorKind::Other, true);
    eprintln!("short writes then EIO persistent: {n} I/O calls swept");
    assert!(n > 50, "the workload makes too few I/O calls ({n})");
}
