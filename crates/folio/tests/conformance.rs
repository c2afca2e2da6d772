//! The conformance suite's crash half: the `KvStore` contract
//! (crates/folio/src/kv.rs) under simulated power loss, run against every
//! engine in `folio::ENGINES` through `folio::open_with_vfs` on a
//! `CrashVfs`. The semantic half (operations, limits, batches, close,
//! threads, a model across reopens) runs on real files over every engine
//! of the build, Folio's and the peers', in
//! crates/folio-peers/tests/conformance.rs; peer engines take no `Vfs`, so
//! only Folio's own engines are crashed here.
//!
//! Sizes: `FOLIO_CONFORMANCE_CRASH_STATES` crash states per engine
//! (default 200).

#![allow(clippy::cast_possible_truncation)] // test data wraps bytes on purpose

mod common;

use std::path::Path;
use std::sync::Arc;

use common::ops::{apply, contents, random_op, run_op, Op, State};
use common::{env_size, rng, test_config};
use folio::io::{CrashPolicy, CrashVfs, Vfs};
use folio::{Config, Durability, KvStore, WriteBatch};
use rand::Rng;

const DIR: &str = "/conformance";

/// Opens `engine` in `DIR` on `vfs`.
fn open(engine: &str, vfs: &Arc<dyn Vfs>, config: &Config) -> folio::Result<Box<dyn KvStore>> {
    folio::open_with_vfs(engine, vfs.clone(), Path::new(DIR), config)
}

fn config(durability: Durability) -> Config {
    let mut c = test_config();
    c.durability = durability;
    c
}

const MODES: [Durability; 3] = [Durability::Sync, Durability::Buffered, Durability::None];

/// Runs `test` once per engine, naming the engine in a failure.
fn each_engine(test: impl Fn(&'static str)) {
    for &engine in folio::ENGINES {
        eprintln!("engine {engine}");
        test(engine);
    }
}

/// What `flush` returned `Ok` for survives a crash that loses every
/// unsynced byte, in every durability mode.
#[test]
fn a_flush_survives_a_crash_in_every_mode() {
    each_engine(|engine| {
        for mode in MODES {
            let crash = CrashVfs::new();
            let vfs: Arc<dyn Vfs> = Arc::new(crash.clone());
            let store = open(engine, &vfs, &config(mode)).unwrap();
            let mut model = State::new();
            for i in 0..50u32 {
                store.put(&i.to_le_bytes(), &[i as u8; 100]).unwrap();
                model.insert(i.to_le_bytes().to_vec(), vec![i as u8; 100]);
            }
            let mut batch = WriteBatch::new();
            batch
                .delete(3u32.to_le_bytes().to_vec())
                .put(b"b".to_vec(), b"atch".to_vec());
            store.write_batch(&batch).unwrap();
            apply(
                &mut model,
                &Op::Batch(vec![
                    (3u32.to_le_bytes().to_vec(), None),
                    (b"b".to_vec(), Some(b"atch".to_vec())),
                ]),
            );
            store.flush().unwrap();
            for policy in CrashPolicy::ALL {
                let crashed: Arc<dyn Vfs> =
                    Arc::new(crash.crash_state(policy, &mut rng("flush-crash")));
                let reopened = open(engine, &crashed, &config(mode)).unwrap();
                assert_eq!(contents(&*reopened), model, "{engine} {mode:?} {policy:?}");
                reopened.close().unwrap();
            }
            drop(store); // after the crash states were taken
        }
    });
}

/// Random workloads crashed at random (power loss, or the process dying at
/// the n-th I/O) under every policy: the recovered state is a prefix of
/// the workload holding at least every acknowledged write (`sync`) or
/// everything up to the last flush or checkpoint (`buffered`, `none`).
#[test]
fn crashes_recover_a_prefix_with_every_acknowledged_write() {
    let target = env_size("FOLIO_CONFORMANCE_CRASH_STATES", 200);
    each_engine(|engine| {
        let mut rng = rng(&format!("conformance-crash-{engine}"));
        let mut states = 0;
        let mut case = 0;
        while states < target {
            case += 1;
            let mode = MODES[rng.gen_range(0..3)];
            let mut c = config(mode);
            c.wal_file_bytes = 64 * 1024;
            c.sync_interval_ms = 5;
            c.checkpoint_interval_ms = 0;
            c.checkpoint_wal_bytes = if rng.gen_bool(0.5) {
                40 * 1024
            } else {
                u64::MAX
            };
            let ops: Vec<Op> = (0..rng.gen_range(1..60))
                .map(|i| random_op(&mut rng, i))
                .collect();
            let crash = CrashVfs::new();
            let kill_at = rng.gen_bool(0.5).then(|| rng.gen_range(0..300));
            if let Some(n) = kill_at {
                crash.crash_after(n);
            }
            let vfs: Arc<dyn Vfs> = Arc::new(crash.clone());
            let store = match open(engine, &vfs, &c) {
                Ok(store) => store,
                Err(_) if kill_at.is_some() => continue,
                Err(e) => panic!("{engine} case {case}: open: {e}"),
            };
            let mut prefix = vec![State::new()];
            for op in &ops {
                let mut next = prefix.last().unwrap().clone();
                apply(&mut next, op);
                prefix.push(next);
            }
            let (mut acked, mut durable) = (0, 0);
            for (i, op) in ops.iter().enumerate() {
                if run_op(&*store, op, &prefix[i]).is_err() {
                    break;
                }
                acked = i + 1;
                if mode == Durability::Sync || matches!(op, Op::Flush | Op::Checkpoint) {
                    durable = acked;
                }
            }
            if kill_at.is_none() {
                assert_eq!(
                    acked,
                    ops.len(),
                    "{engine} case {case}: an operation failed"
                );
            }
            let candidates = durable..=(acked + 1).min(ops.len());
            for policy in CrashPolicy::ALL {
                let crashed: Arc<dyn Vfs> = Arc::new(crash.crash_state(policy, &mut rng));
                let ctx =
                    format!("{engine} case {case} ({mode:?}, kill at {kill_at:?}, {policy:?})");
                let reopened =
                    open(engine, &crashed, &c).unwrap_or_else(|e| panic!("{ctx}: reopen: {e}"));
                let found = contents(&*reopened);
                let k = candidates
                    .clone()
                    .find(|&k| prefix[k] == found)
                    .unwrap_or_else(|| {
                        panic!("{ctx}: recovered state is no prefix in {candidates:?}")
                    });
                reopened.close().unwrap();
                drop(reopened);
                let again = open(engine, &crashed, &c).unwrap();
                assert_eq!(contents(&*again), prefix[k], "{ctx}: second reopen");
                states += 1;
            }
            drop(store); // after the crash states were taken
        }
        eprintln!("{engine}: {states} crash states verified");
    });
}

/// A value over `max_value_bytes` is refused at open, by every engine,
/// whether the WAL or a checkpoint (snapshot) holds it: what opens must not
/// depend on whether one ran before the restart.
#[test]
fn a_value_over_the_limit_is_refused_at_open_wherever_it_is_held() {
    each_engine(|engine| {
        let mut smaller = config(Durability::Sync);
        smaller.max_value_bytes = 4096;
        let refused = |vfs: &Arc<dyn Vfs>, held_in: &str| {
            let Err(err) = open(engine, vfs, &smaller) else {
                panic!("{engine}: a value over the limit, held in the {held_in}, opened");
            };
            assert!(
                matches!(
                    err,
                    folio::Error::InvalidConfig {
                        field: "max_value_bytes",
                        ..
                    }
                ),
                "{engine}, held in the {held_in}: {err}"
            );
            assert!(err.to_string().contains("5000 bytes"), "{engine}: {err}");
        };

        // In the WAL: the store is dropped after a sync put, never closed.
        let crash = CrashVfs::new();
        let vfs: Arc<dyn Vfs> = Arc::new(crash.clone());
        let store = open(engine, &vfs, &config(Durability::Sync)).unwrap();
        store.put(b"big", &[1; 5000]).unwrap();
        let crashed: Arc<dyn Vfs> =
            Arc::new(crash.crash_state(CrashPolicy::DropUnsynced, &mut rng("limit")));
        drop(store);
        refused(&crashed, "WAL");

        // In a checkpoint: close writes one and retires the WAL.
        let vfs: Arc<dyn Vfs> = Arc::new(CrashVfs::new());
        let store = open(engine, &vfs, &config(Durability::Sync)).unwrap();
        store.put(b"big", &[1; 5000]).unwrap();
        store.close().unwrap();
        drop(store);
        refused(&vfs, "checkpoint");
        let reopened = open(engine, &vfs, &config(Durability::Sync)).unwrap();
        assert_eq!(reopened.get(b"big").unwrap().map(|v| v.len()), Some(5000));
        reopened.close().unwrap();
    });
}
