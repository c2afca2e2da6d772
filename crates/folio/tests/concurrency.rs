//! Threads doing mixed operations on shared and disjoint keys over a pool
//! small enough to evict constantly. Every value names its writer, key and
//! sequence number and carries a checksum of itself, so a reader can tell a
//! torn or misplaced value from one that some write produced. At the end,
//! disjoint keys equal each thread's model, and each shared key holds the
//! last write (or delete) of one of the threads. Size: `FOLIO_THREAD_OPS`.

#![allow(clippy::cast_possible_truncation)] // test data wraps bytes on purpose

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use common::{env_size, seed, Place};
use folio::{Config, KvStore, ReplacerKind, WriteBatch};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use xxhash_rust::xxh3::xxh3_64;

/// A thread's own keys and their values.
type Model = HashMap<Vec<u8>, Vec<u8>>;
/// A thread's last write (or delete, `None`) of each shared key.
type LastWrites = HashMap<Vec<u8>, Option<Vec<u8>>>;

const THREADS: u64 = 4;
const SHARED_KEYS: u64 = 16;
const OWN_KEYS: u64 = 40;

fn key(owner: Option<u64>, id: u64) -> Vec<u8> {
    match owner {
        None => format!("shared/{id}").into_bytes(),
        Some(t) => format!("own/{t}/{id}").into_bytes(),
    }
}

/// A self-describing value: writer, sequence, key hash, padding, checksum.
fn make_value(writer: u64, seq: u64, key: &[u8], len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len.max(32));
    v.extend_from_slice(&writer.to_le_bytes());
    v.extend_from_slice(&seq.to_le_bytes());
    v.extend_from_slice(&xxh3_64(key).to_le_bytes());
    let mut rng = StdRng::seed_from_u64(writer << 40 | seq);
    while v.len() < len.max(24) {
        v.push(rng.gen());
    }
    let sum = xxh3_64(&v);
    v.extend_from_slice(&sum.to_le_bytes());
    v
}

/// Checks a value read for `key` is whole and was written for that key.
fn verify(key: &[u8], v: &[u8]) -> (u64, u64) {
    assert!(v.len() >= 32, "short value");
    let (body, sum) = v.split_at(v.len() - 8);
    assert_eq!(xxh3_64(body).to_le_bytes(), sum, "torn value for {key:?}");
    assert_eq!(
        &body[16..24],
        &xxh3_64(key).to_le_bytes(),
        "value of another key"
    );
    let n = |r: std::ops::Range<usize>| u64::from_le_bytes(body[r].try_into().unwrap());
    (n(0..8), n(8..16))
}

fn worker(store: &dyn KvStore, t: u64, ops: usize, seed: u64) -> (Model, LastWrites) {
    let mut rng = StdRng::seed_from_u64(seed ^ t);
    let mut own = HashMap::new();
    let mut last_shared = HashMap::new();
    for seq in 0..ops as u64 {
        let shared = rng.gen_bool(0.4);
        let k = if shared {
            key(None, rng.gen_range(0..SHARED_KEYS))
        } else {
            key(Some(t), rng.gen_range(0..OWN_KEYS))
        };
        let len = [40, 300, 8000, 8192, 20_000][rng.gen_range(0..5)];
        match rng.gen_range(0..11) {
            0..=3 => {
                let v = make_value(t, seq, &k, len);
                store.put(&k, &v).unwrap();
                if shared {
                    last_shared.insert(k, Some(v));
                } else {
                    own.insert(k, v);
                }
            }
            4..=7 => {
                let got = store.get(&k).unwrap();
                if let Some(v) = &got {
                    verify(&k, v);
                }
                if !shared {
                    assert_eq!(got.as_ref(), own.get(&k), "own key {k:?}");
                }
            }
            8 => {
                store.delete(&k).unwrap();
                if shared {
                    last_shared.insert(k, None);
                } else {
                    own.remove(&k);
                }
            }
            // A flush races with misses and write-backs on other threads.
            10 => store.flush().unwrap(),
            _ => {
                let k2 = key(Some(t), rng.gen_range(0..OWN_KEYS));
                let (v1, v2) = (make_value(t, seq, &k, len), make_value(t, seq, &k2, 100));
                let mut batch = WriteBatch::new();
                batch.put(k.clone(), v1.clone()).put(k2.clone(), v2.clone());
                store.write_batch(&batch).unwrap();
                if shared {
                    last_shared.insert(k.clone(), Some(v1));
                } else {
                    own.insert(k.clone(), v1);
                }
                own.insert(k2, v2);
            }
        }
    }
    (own, last_shared)
}

fn run(replacer: ReplacerKind) {
    let ops = env_size("FOLIO_THREAD_OPS", 1500);
    let seed = seed("concurrency");
    let mut config = Config::default();
    config.cache_bytes = 8 * 8192;
    config.replacer = replacer;
    let place = Place::memory();
    let store = Arc::new(place.open(&config));
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let store = store.clone();
                s.spawn(move || worker(&*store, t, ops, seed))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(store.pool().pinned(), 0);
    store.close().unwrap();
    drop(store);
    let store = place.open(&config);
    for (t, (own, _)) in results.iter().enumerate() {
        for id in 0..OWN_KEYS {
            let k = key(Some(t as u64), id);
            assert_eq!(
                store.get(&k).unwrap().as_ref(),
                own.get(&k),
                "thread {t} key {id}"
            );
        }
    }
    for id in 0..SHARED_KEYS {
        let k = key(None, id);
        let finals: Vec<Option<&Vec<u8>>> = results
            .iter()
            .filter_map(|(_, last)| last.get(&k).map(|v| v.as_ref()))
            .collect();
        let got = store.get(&k).unwrap();
        if let Some(v) = &got {
            verify(&k, v);
        }
        if !finals.is_empty() {
            assert!(
                finals.contains(&got.as_ref()),
                "shared key {id} holds no thread's last write"
            );
        }
    }
}

#[test]
fn threads_with_lru() {
    run(ReplacerKind::Lru);
}

#[test]
fn threads_with_clock() {
    run(ReplacerKind::Clock);
}
