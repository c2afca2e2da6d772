//! The conformance suite over every engine of the build: one set of tests
//! of the `KvStore` contract (crates/folio/src/kv.rs), run against each
//! engine in `folio_peers::engines()` — Folio's `paged` and `memory`
//! always (CI), and RocksDB, redb, LMDB and fjall when their features are
//! on (`cargo test -p folio-peers --all-features`).
//!
//! Stores live in temporary directories on real files and are opened by
//! name through `folio_peers::open`. The crash half of the suite, which
//! needs a simulated file system, runs over Folio's own engines in
//! crates/folio/tests/conformance.rs; `process_crash.rs` beside this file
//! crashes every engine's process.
//!
//! Sizes: `FOLIO_CONFORMANCE_OPS` operations per model case (default 800),
//! `FOLIO_CONFORMANCE_BATCHES` batches raced by readers (default 1,500),
//! `FOLIO_CONFORMANCE_ROUNDS` rounds per thread (default 400).

#![allow(clippy::cast_possible_truncation)] // test data wraps bytes on purpose

#[path = "../../folio/tests/common/mod.rs"]
mod common;

use std::collections::{BTreeMap, HashSet};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use common::ops::{apply, contents, random_op, run_op, State};
use common::{env_size, rng, test_config};
use folio::{Config, Durability, Error, KvStore, WriteBatch};
use rand::Rng;

const MODES: [Durability; 3] = [Durability::Sync, Durability::Buffered, Durability::None];

/// A store's directory, removed when the test is done with it.
struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Self {
        Dir(tempfile::tempdir().expect("tempdir"))
    }

    fn path(&self) -> PathBuf {
        self.0.path().join("store")
    }

    /// Opens `engine` here; a failure names the engine.
    fn open(&self, engine: &str, config: &Config) -> Box<dyn KvStore> {
        folio_peers::open(engine, &self.path(), config)
            .unwrap_or_else(|e| panic!("{engine}: open: {e}"))
    }
}

fn config(durability: Durability) -> Config {
    let mut c = test_config();
    c.durability = durability;
    c
}

/// Runs `test` once per engine of the build, naming the engine in a failure.
fn each_engine(test: impl Fn(&'static str)) {
    for engine in folio_peers::engines() {
        eprintln!("engine {engine}");
        test(engine);
    }
}

#[test]
fn put_get_overwrite_delete() {
    each_engine(|engine| {
        let dir = Dir::new();
        let store = dir.open(engine, &test_config());
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
        let dir = Dir::new();
        let store = dir.open(engine, &c);
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
        let dir = Dir::new();
        let store = dir.open(engine, &test_config());
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
        let dir = Dir::new();
        // The same after a reopen: replayed in order too.
        let store = dir.open(engine, &config(Durability::Sync));
        store.write_batch(&batch).unwrap();
        drop(store);
        let store = dir.open(engine, &config(Durability::Sync));
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
        let dir = Dir::new();
        let store = dir.open(engine, &config(Durability::None));
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
            let dir = Dir::new();
            let store = dir.open(engine, &config(mode));
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
            let store = dir.open(engine, &config(mode));
            assert_eq!(contents(&*store), model, "{engine} {mode:?}");
            // Dropped without close (after a flush): the same.
            store.put(b"after", b"flush").unwrap();
            model.insert(b"after".to_vec(), b"flush".to_vec());
            store.flush().unwrap();
            drop(store);
            let store = dir.open(engine, &config(mode));
            assert_eq!(contents(&*store), model, "{engine} {mode:?} after drop");
        }
    });
}

#[test]
fn len_is_empty_and_for_each_key() {
    each_engine(|engine| {
        let dir = Dir::new();
        let store = dir.open(engine, &test_config());
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
        let dir = Dir::new();
        let store = dir.open(engine, &test_config());
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
    let rounds = env_size("FOLIO_CONFORMANCE_ROUNDS", 400) as u32;
    each_engine(|engine| {
        for mode in [Durability::Sync, Durability::None] {
            let dir = Dir::new();
            let store = dir.open(engine, &config(mode));
            let shared_value = |t: u32, r: u32| {
                let mut v = vec![t as u8; 64 + (r as usize % 300)];
                v[..4].copy_from_slice(&r.to_le_bytes());
                v
            };
            std::thread::scope(|s| {
                for t in 0..4u32 {
                    let store = &store;
                    s.spawn(move || {
                        for r in 0..rounds {
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
                        let last = (0..rounds).rev().find(|r| r % 50 == i).unwrap();
                        let deleted_after =
                            (last + 1..rounds).any(|r| r % 7 == 0 && (r + 1) % 50 == i);
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
            check(&*dir.open(engine, &config(mode)));
        }
    });
}

/// Hundreds of threads read at once, each from its first read to its
/// last: the store serves them all (LMDB holds a reader slot per thread).
#[test]
fn three_hundred_threads_read_at_once() {
    const THREADS: usize = 300;
    each_engine(|engine| {
        let dir = Dir::new();
        let store = dir.open(engine, &config(Durability::None));
        store.put(b"k", b"v").unwrap();
        let all_read = std::sync::Barrier::new(THREADS);
        std::thread::scope(|s| {
            for _ in 0..THREADS {
                s.spawn(|| {
                    let first = store.get(b"k");
                    all_read.wait();
                    let second = store.get(b"k");
                    for got in [first, second] {
                        let got = got.unwrap_or_else(|e| panic!("{engine}: {e}"));
                        assert_eq!(got.as_deref(), Some(&b"v"[..]), "{engine}");
                    }
                });
            }
        });
        store.close().unwrap();
    });
}

/// Random operations against a `BTreeMap` model, with reopens, in every
/// durability mode.
#[test]
fn random_operations_match_a_model_across_reopens() {
    let ops = env_size("FOLIO_CONFORMANCE_OPS", 800);
    each_engine(|engine| {
        for mode in MODES {
            let mut rng = rng(&format!("conformance-model-{engine}-{mode:?}"));
            let dir = Dir::new();
            let mut c = config(mode);
            c.checkpoint_wal_bytes = 256 * 1024; // background checkpoints too
            let mut store = dir.open(engine, &c);
            let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
            for step in 0..ops as u64 {
                if rng.gen_range(0..100) < 2 {
                    store.close().unwrap();
                    drop(store);
                    store = dir.open(engine, &c);
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
            store.close().unwrap();
            drop(store);
            if folio::ENGINES.contains(&engine) {
                folio::remove_store(&dir.path()).unwrap();
                assert!(!dir.path().exists(), "{engine}: remove_store left files");
            }
        }
    });
}

/// Empty keys and keys up to the limit, on every engine: LMDB and fjall
/// keep the ones they cannot hold natively in their spill tables, which
/// must be invisible: gets, overwrites, deletes, batches, `len`,
/// `for_each_key` and a reopen behave as for any key.
#[test]
fn keys_of_every_length_up_to_the_limit() {
    each_engine(|engine| {
        let mut c = config(Durability::Sync);
        c.max_key_bytes = folio::config::KEY_BYTES_CEILING;
        let dir = Dir::new();
        let store = dir.open(engine, &c);
        let lengths = [0usize, 1, 510, 511, 512, 4096, 65_535, 65_536];
        let key = |len: usize| vec![(len % 251) as u8; len];
        let mut model = State::new();
        for &len in &lengths {
            store.put(&key(len), format!("v{len}").as_bytes()).unwrap();
            model.insert(key(len), format!("v{len}").into_bytes());
        }
        store.put(&key(512), b"overwritten").unwrap();
        model.insert(key(512), b"overwritten".to_vec());
        assert!(store.delete(&key(4096)).unwrap(), "{engine}");
        assert!(!store.delete(&key(4096)).unwrap(), "{engine}");
        model.remove(&key(4096));
        let mut batch = WriteBatch::new();
        batch
            .put(key(0), b"batched".to_vec())
            .delete(key(65_535))
            .put(key(4096), b"back".to_vec())
            .delete(key(4096))
            .put(key(4096), b"back again".to_vec());
        store.write_batch(&batch).unwrap();
        model.insert(key(0), b"batched".to_vec());
        model.remove(&key(65_535));
        model.insert(key(4096), b"back again".to_vec());
        assert_eq!(contents(&*store), model, "{engine}");
        store.close().unwrap();
        drop(store);
        let store = dir.open(engine, &c);
        assert_eq!(contents(&*store), model, "{engine} after reopen");
        store.close().unwrap();
    });
}

/// No engine opens — or writes into — a directory holding another
/// engine's store; the error names the owner, and the store is intact.
#[test]
fn a_directory_of_another_engine_is_refused() {
    let engines = folio_peers::engines();
    for &owner in &engines {
        let dir = Dir::new();
        let store = dir.open(owner, &test_config());
        store.put(b"owner", owner.as_bytes()).unwrap();
        store.close().unwrap();
        drop(store);
        for &other in engines.iter().filter(|&&e| e != owner) {
            let err = match folio_peers::open(other, &dir.path(), &test_config()) {
                Ok(_) => panic!("{other} opened a store of {owner}"),
                Err(e) => e.to_string(),
            };
            assert!(err.contains(owner), "{other} over {owner}: {err}");
        }
        let store = dir.open(owner, &test_config());
        assert_eq!(
            store.get(b"owner").unwrap().unwrap(),
            owner.as_bytes(),
            "{owner} after the refusals"
        );
        store.close().unwrap();
    }
}
