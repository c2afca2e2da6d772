//! The conformance suite: one set of tests over the `KvStore` contract
//! (crates/folio/src/kv.rs), run against every engine in `folio::ENGINES`.
//!
//! Every test opens its stores by name through `folio::open_with_vfs`, so
//! a new backend is covered by adding it to the registry. Stores live on a
//! `MemVfs` (fast, and it keeps the files across a reopen), on a `CrashVfs`
//! where a test crashes them, and on real files once.
//!
//! Sizes: `FOLIO_CONFORMANCE_OPS` operations per model case (default 800),
//! `FOLIO_CONFORMANCE_CRASH_STATES` crash states per engine (default 200).

#![allow(clippy::cast_possible_truncation)] // test data wraps bytes on purpose

mod common;

use std::collections::{BTreeMap, HashSet};
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::ops::{apply, run_op, Op, State};
use common::{env_size, rng, test_config};
use folio::io::{CrashPolicy, CrashVfs, MemVfs, Vfs};
use folio::{Config, Durability, Error, KvStore, WriteBatch};
use rand::rngs::StdRng;
use rand::Rng;

const DIR: &str = "/conformance";

/// Opens `engine` in `DIR` on `vfs`.
fn open(engine: &str, vfs: &Arc<dyn Vfs>, config: &Config) -> folio::Result<Box<dyn KvStore>> {
    folio::open_with_vfs(engine, vfs.clone(), Path::new(DIR), config)
}

fn mem() -> Arc<dyn Vfs> {
    Arc::new(MemVfs::new())
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

/// Every key and value, read through `for_each_key` and `get`.
fn contents(store: &dyn KvStore) -> State {
    let mut keys = Vec::new();
    store
        .for_each_key(&mut |k| {
            keys.push(k.to_vec());
            ControlFlow::Continue(())
        })
        .unwrap();
    let unique: HashSet<&Vec<u8>> = keys.iter().collect();
    assert_eq!(unique.len(), keys.len(), "for_each_key visited a key twice");
    let state: State = keys
        .iter()
        .map(|k| {
            (
                k.clone(),
                store.get(k).unwrap().expect("a visited key reads"),
            )
        })
        .collect();
    assert_eq!(store.len().unwrap(), state.len() as u64, "len");
    assert_eq!(store.is_empty().unwrap(), state.is_empty(), "is_empty");
    state
}

#[test]
fn put_get_overwrite_delete() {
    each_engine(|engine| {
        let store = open(engine, &mem(), &test_config()).unwrap();
        assert_eq!(store.engine_name(), engine);
        assert_eq!(store.get(b"absent").unwrap(), None);
        store.put(b"k", b"v1").unwrap();
        assert_eq!(store.get(b"k").unwrap().unwrap(), b"v1");
        store.put(b"k", b"second value").unwrap();
        assert_eq!(store.get(b"k").unwrap().unwrap(), b"second value");
        // The empty key, the empty value, keys with NUL bytes.
        store.put(b"", b"empty key").unwrap();
        store.put(b"empty value", b"").unwrap();
        store.put(b"\0", b"nul").unwrap();
        store.put(b"\0\0", b"\0\xff\0").unwrap();
        store.put(b"a\0b", b"x").unwrap();
        store.put(b"a\0c", b"y").unwrap();
        assert_eq!(store.get(b"").unwrap().unwrap(), b"empty key");
        assert_eq!(store.get(b"empty value").unwrap().unwrap(), b"");
        assert_eq!(store.get(b"\0").unwrap().unwrap(), b"nul");
        assert_eq!(store.get(b"\0\0").unwrap().unwrap(), b"\0\xff\0");
        assert_eq!(store.get(b"a\0b").unwrap().unwrap(), b"x");
        assert_eq!(store.get(b"a").unwrap(), None);
        assert_eq!(store.len().unwrap(), 7);
        assert!(store.delete(b"k").unwrap());
        assert!(
            !store.delete(b"k").unwrap(),
            "a second delete finds nothing"
        );
        assert!(store.delete(b"").unwrap());
        assert_eq!(store.get(b"k").unwrap(), None);
        assert_eq!(store.get(b"").unwrap(), None);
        assert_eq!(store.len().unwrap(), 5);
        store.close().unwrap();
    });
}

#[test]
fn over_limit_input_is_the_typed_error_and_changes_nothing() {
    each_engine(|engine| {
        let mut c = test_config();
        c.max_key_bytes = 16;
        c.max_value_bytes = 100;
        c.max_batch_ops = 4;
        c.max_batch_bytes = 150;
        let store = open(engine, &mem(), &c).unwrap();
        store.put(b"kept", b"v").unwrap();
        let before = contents(&*store);
        let long_key = [7u8; 17];
        let long_value = [7u8; 101];
        // At the limits: accepted.
        store.put(&[1u8; 16], &[2u8; 100]).unwrap();
        store.delete(&[1u8; 16]).unwrap();
        assert!(matches!(
            store.put(&long_key, b"v"),
            Err(Error::KeyTooLarge { len: 17, max: 16 })
        ));
        assert!(matches!(
            store.get(&long_key),
            Err(Error::KeyTooLarge { .. })
        ));
        assert!(matches!(
            store.delete(&long_key),
            Err(Error::KeyTooLarge { .. })
        ));
        assert!(matches!(
            store.put(b"kept", &long_value),
            Err(Error::ValueTooLarge { len: 101, max: 100 })
        ));
        let mut too_many = WriteBatch::new();
        for i in 0..5u8 {
            too_many.put(vec![i], b"v".to_vec());
        }
        let mut too_big = WriteBatch::new();
        too_big
            .put(b"a".to_vec(), vec![0u8; 90])
            .put(b"b".to_vec(), vec![0u8; 90]);
        let mut one_bad = WriteBatch::new();
        one_bad
            .put(b"new".to_vec(), b"v".to_vec())
            .delete(b"kept".to_vec());
        one_bad.put(long_key.to_vec(), b"v".to_vec());
        let mut bad_value = WriteBatch::new();
        bad_value
            .delete(b"kept".to_vec())
            .put(b"x".to_vec(), long_value.to_vec());
        for (name, batch) in [("ops", too_many), ("bytes", too_big)] {
            let err = store.write_batch(&batch).unwrap_err();
            assert!(
                matches!(err, Error::BatchTooLarge { .. }),
                "{engine} {name}: {err}"
            );
        }
        assert!(matches!(
            store.write_batch(&one_bad),
            Err(Error::KeyTooLarge { .. })
        ));
        assert!(matches!(
            store.write_batch(&bad_value),
            Err(Error::ValueTooLarge { .. })
        ));
        assert_eq!(
            contents(&*store),
            before,
            "{engine}: refused input changed the store"
        );
        store.close().unwrap();
    });
}

#[test]
fn a_batch_applies_its_operations_in_order() {
    each_engine(|engine| {
        let store = open(engine, &mem(), &test_config()).unwrap();
        store.put(b"old", b"1").unwrap();
        let mut batch = WriteBatch::new();
        batch
            .put(b"gone".to_vec(), b"v".to_vec())
            .delete(b"gone".to_vec())
            .delete(b"back".to_vec())
            .put(b"back".to_vec(), b"here".to_vec())
            .put(b"twice".to_vec(), b"first".to_vec())
            .put(b"twice".to_vec(), b"second".to_vec())
            .delete(b"old".to_vec());
        store.write_batch(&batch).unwrap();
        store.write_batch(&WriteBatch::new()).unwrap();
        let expected: State = [
            (b"back".to_vec(), b"here".to_vec()),
            (b"twice".to_vec(), b"second".to_vec()),
        ]
        .into_iter()
        .collect();
        assert_eq!(contents(&*store), expected, "{engine}");
        store.close().unwrap();
        let vfs = mem();
        // The same after a reopen: replayed in order too.
        let store = open(engine, &vfs, &config(Durability::Sync)).unwrap();
        store.write_batch(&batch).unwrap();
        drop(store);
        let store = open(engine, &vfs, &config(Durability::Sync)).unwrap();
        assert_eq!(contents(&*store), expected, "{engine} after reopen");
    });
}

/// Batch `i` sets every key to `i`, in key order. Readers read the keys
/// one by one, forwards and backwards: since values only grow, a later
/// read never sees a smaller value than an earlier one unless a batch was
/// seen half applied.
#[test]
fn readers_never_see_half_a_batch() {
    const KEYS: usize = 8;
    let batches = env_size("FOLIO_CONFORMANCE_BATCHES", 1500) as u64;
    each_engine(|engine| {
        let store = open(engine, &mem(), &config(Durability::None)).unwrap();
        let key = |i: usize| format!("key-{i}").into_bytes();
        let value = |i: u64| i.to_be_bytes().to_vec();
        let read =
            |k: &[u8]| u64::from_be_bytes(store.get(k).unwrap().unwrap().try_into().unwrap());
        let mut first = WriteBatch::new();
        for k in 0..KEYS {
            first.put(key(k), value(0));
        }
        store.write_batch(&first).unwrap();
        let done = AtomicBool::new(false);
        std::thread::scope(|s| {
            for reader in 0..2 {
                let (done, read) = (&done, &read);
                s.spawn(move || {
                    let mut checks = 0u64;
                    while !done.load(Ordering::Acquire) || checks == 0 {
                        let order: Vec<usize> = if reader == 0 {
                            (0..KEYS).collect()
                        } else {
                            (0..KEYS).rev().collect()
                        };
                        let seen: Vec<u64> = order.iter().map(|&k| read(&key(k))).collect();
                        assert!(
                            seen.windows(2).all(|w| w[0] <= w[1]),
                            "{engine}: half a batch: {seen:?}"
                        );
                        checks += 1;
                    }
                });
            }
            for i in 1..=batches {
                let mut batch = WriteBatch::new();
                for k in 0..KEYS {
                    batch.put(key(k), value(i));
                }
                store.write_batch(&batch).unwrap();
            }
            done.store(true, Ordering::Release);
        });
        store.close().unwrap();
    });
}

#[test]
fn close_keeps_everything_in_every_mode() {
    each_engine(|engine| {
        for mode in MODES {
            let vfs = mem();
            let store = open(engine, &vfs, &config(mode)).unwrap();
            let mut model = State::new();
            for i in 0..200u32 {
                let (k, v) = (
                    i.to_le_bytes().to_vec(),
                    vec![i as u8; (i as usize * 37) % 9000],
                );
                store.put(&k, &v).unwrap();
                model.insert(k, v);
            }
            store.delete(&7u32.to_le_bytes()).unwrap();
            model.remove(7u32.to_le_bytes().as_slice());
            store.close().unwrap();
            drop(store);
            let store = open(engine, &vfs, &config(mode)).unwrap();
            assert_eq!(contents(&*store), model, "{engine} {mode:?}");
            // Dropped without close (after a flush): the same.
            store.put(b"after", b"flush").unwrap();
            model.insert(b"after".to_vec(), b"flush".to_vec());
            store.flush().unwrap();
            drop(store);
            let store = open(engine, &vfs, &config(mode)).unwrap();
            assert_eq!(contents(&*store), model, "{engine} {mode:?} after drop");
        }
    });
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

#[test]
fn len_is_empty_and_for_each_key() {
    each_engine(|engine| {
        let store = open(engine, &mem(), &test_config()).unwrap();
        assert!(store.is_empty().unwrap());
        assert_eq!(store.len().unwrap(), 0);
        let mut visited = 0;
        store
            .for_each_key(&mut |_| {
                visited += 1;
                ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(visited, 0);
        let keys: HashSet<Vec<u8>> = (0..500u32)
            .map(|i| format!("k{i}\0").into_bytes())
            .collect();
        for k in &keys {
            store.put(k, b"v").unwrap();
        }
        assert!(!store.is_empty().unwrap());
        assert_eq!(store.len().unwrap(), 500);
        let mut seen = HashSet::new();
        store
            .for_each_key(&mut |k| {
                assert!(seen.insert(k.to_vec()), "{engine}: a key visited twice");
                // The visitor may call back into the store.
                assert_eq!(store.get(k).unwrap().unwrap(), b"v");
                ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(seen, keys);
        let mut calls = 0;
        store
            .for_each_key(&mut |_| {
                calls += 1;
                ControlFlow::Break(())
            })
            .unwrap();
        assert_eq!(calls, 1, "{engine}: Break stops the walk");
        // A visitor that writes: every key present for the whole walk is
        // still seen once.
        let mut seen = HashSet::new();
        store
            .for_each_key(&mut |k| {
                assert!(seen.insert(k.to_vec()), "{engine}: a key visited twice");
                store.put(k, b"rewritten").unwrap();
                ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(seen, keys);
        store.close().unwrap();
    });
}

#[test]
fn after_close_every_call_is_closed() {
    each_engine(|engine| {
        let store = open(engine, &mem(), &test_config()).unwrap();
        store.put(b"k", b"v").unwrap();
        store.close().unwrap();
        let closed = |r: folio::Result<()>, what: &str| {
            assert!(matches!(r, Err(Error::Closed)), "{engine} {what}: {r:?}");
        };
        closed(store.put(b"k", b"v"), "put");
        closed(store.get(b"k").map(drop), "get");
        closed(store.delete(b"k").map(drop), "delete");
        closed(
            store.write_batch(WriteBatch::new().put(b"a".to_vec(), b"b".to_vec())),
            "write_batch",
        );
        closed(store.flush(), "flush");
        closed(store.checkpoint(), "checkpoint");
        closed(store.len().map(drop), "len");
        closed(store.is_empty().map(drop), "is_empty");
        closed(
            store.for_each_key(&mut |_| ControlFlow::Continue(())),
            "for_each_key",
        );
        if let Some(deferred) = store.deferred_ack() {
            closed(deferred.put(b"k", b"v"), "deferred put");
        }
        store.close().unwrap(); // closing twice is harmless
    });
}

/// Four threads: each writes and deletes keys of its own and overwrites
/// keys shared by all; afterwards every own key holds its last value and
/// every shared key one whole value some thread wrote.
#[test]
fn four_threads_on_disjoint_and_shared_keys() {
    const ROUNDS: u32 = 400;
    each_engine(|engine| {
        for mode in [Durability::Sync, Durability::None] {
            let vfs = mem();
            let store = open(engine, &vfs, &config(mode)).unwrap();
            let shared_value = |t: u32, r: u32| {
                let mut v = vec![t as u8; 64 + (r as usize % 300)];
                v[..4].copy_from_slice(&r.to_le_bytes());
                v
            };
            std::thread::scope(|s| {
                for t in 0..4u32 {
                    let store = &store;
                    s.spawn(move || {
                        for r in 0..ROUNDS {
                            let own = format!("t{t}-{}", r % 50).into_bytes();
                            store.put(&own, &r.to_le_bytes()).unwrap();
                            if r % 7 == 0 {
                                store
                                    .delete(format!("t{t}-{}", (r + 1) % 50).as_bytes())
                                    .unwrap();
                            }
                            let shared = format!("shared-{}", r % 10).into_bytes();
                            if r % 5 == 0 {
                                let mut b = WriteBatch::new();
                                b.put(shared.clone(), shared_value(t, r))
                                    .put(own.clone(), r.to_le_bytes().to_vec());
                                store.write_batch(&b).unwrap();
                            } else {
                                store.put(&shared, &shared_value(t, r)).unwrap();
                            }
                            let got = store.get(&own).unwrap().unwrap();
                            assert_eq!(got, r.to_le_bytes(), "{engine}: own key lost its write");
                        }
                    });
                }
            });
            let check = |store: &dyn KvStore| {
                for t in 0..4u32 {
                    for i in 0..50u32 {
                        let last = (0..ROUNDS).rev().find(|r| r % 50 == i).unwrap();
                        let deleted_after =
                            (last + 1..ROUNDS).any(|r| r % 7 == 0 && (r + 1) % 50 == i);
                        let got = store.get(format!("t{t}-{i}").as_bytes()).unwrap();
                        let expected = (!deleted_after).then(|| last.to_le_bytes().to_vec());
                        assert_eq!(got, expected, "{engine} {mode:?}: t{t}-{i}");
                    }
                }
                for j in 0..10u32 {
                    let v = store
                        .get(format!("shared-{j}").as_bytes())
                        .unwrap()
                        .unwrap();
                    let r = u32::from_le_bytes(v[..4].try_into().unwrap());
                    let t = u32::from(v[4]);
                    assert!(t < 4 && r % 10 == j, "{engine}: shared-{j} holds no write");
                    assert_eq!(v, shared_value(t, r), "{engine}: shared-{j} is torn");
                }
            };
            check(&*store);
            store.close().unwrap();
            check(&*open(engine, &vfs, &config(mode)).unwrap());
        }
    });
}

fn random_op(rng: &mut StdRng, step: u64) -> Op {
    let key = |rng: &mut StdRng| {
        let id: u32 = rng.gen_range(0..150);
        let mut k = id.to_le_bytes().to_vec();
        k.truncate(1 + (id % 4) as usize);
        k.extend(std::iter::repeat_n(0u8, (id % 3) as usize));
        k
    };
    let value = |rng: &mut StdRng| {
        let len = match rng.gen_range(0..10) {
            0 => 0,
            1..=6 => rng.gen_range(1..200),
            _ => rng.gen_range(200..20_000),
        };
        common::value_bytes(len, step ^ rng.gen::<u64>())
    };
    match rng.gen_range(0..100) {
        0..=44 => Op::Put(key(rng), value(rng)),
        45..=69 => Op::Get(key(rng)),
        70..=84 => Op::Delete(key(rng)),
        85..=95 => Op::Batch(
            (0..rng.gen_range(1..6))
                .map(|_| (key(rng), rng.gen_bool(0.7).then(|| value(rng))))
                .collect(),
        ),
        96..=97 => Op::Flush,
        _ => Op::Checkpoint,
    }
}

/// Random operations against a `BTreeMap` model, with reopens, in every
/// durability mode.
#[test]
fn random_operations_match_a_model_across_reopens() {
    let ops = env_size("FOLIO_CONFORMANCE_OPS", 800);
    each_engine(|engine| {
        for mode in MODES {
            let mut rng = rng(&format!("conformance-model-{engine}-{mode:?}"));
            let vfs = mem();
            let mut c = config(mode);
            c.checkpoint_wal_bytes = 256 * 1024; // background checkpoints too
            let mut store = open(engine, &vfs, &c).unwrap();
            let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
            for step in 0..ops as u64 {
                if rng.gen_range(0..100) < 2 {
                    store.close().unwrap();
                    drop(store);
                    store = open(engine, &vfs, &c).unwrap();
                    assert_eq!(
                        contents(&*store),
                        model,
                        "{engine} {mode:?} step {step}: after reopen"
                    );
                    continue;
                }
                let op = random_op(&mut rng, step);
                run_op(&*store, &op, &model)
                    .unwrap_or_else(|e| panic!("{engine} {mode:?} step {step}: {e}"));
                apply(&mut model, &op);
            }
            assert_eq!(contents(&*store), model, "{engine} {mode:?} at the end");
        }
    });
}

/// The same on real files, once per engine.
#[test]
fn random_operations_on_real_files() {
    let ops = env_size("FOLIO_CONFORMANCE_OPS", 800) / 2;
    each_engine(|engine| {
        let dir = tempfile::tempdir().unwrap();
        let c = config(Durability::Sync);
        let mut rng = rng(&format!("conformance-files-{engine}"));
        let mut model = State::new();
        let mut store = folio::open(engine, dir.path(), &c).unwrap();
        for step in 0..ops as u64 {
            let op = random_op(&mut rng, step);
            run_op(&*store, &op, &model).unwrap();
            apply(&mut model, &op);
            if step % 150 == 149 {
                drop(store);
                store = folio::open(engine, dir.path(), &c).unwrap();
            }
        }
        store.close().unwrap();
        drop(store);
        assert_eq!(
            contents(&*folio::open(engine, dir.path(), &c).unwrap()),
            model,
            "{engine}"
        );
        folio::remove_store(dir.path()).unwrap();
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .map(|d| d.count())
            .into_iter()
            .collect();
        assert!(
            left.iter().all(|&n| n == 0),
            "{engine}: remove_store left files"
        );
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
