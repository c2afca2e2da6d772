//! Criterion benchmarks of the paged engine: cached `get` and overwriting
//! `put` of 100-byte and 8 KiB values, on one thread and on two.
//!
//! Run: `cargo bench -p folio --bench kv`. With two threads each iteration
//! is one operation per thread, so the reported elements/s is the total
//! throughput and can be compared with the one-thread line directly.

#![allow(missing_docs)] // criterion_group! generates undocumented functions

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use folio::{Config, Durability, KvStore, PagedStore};

const KEYS: u64 = 4096;

fn key(i: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&i.to_be_bytes());
    k[8..].copy_from_slice(&(i ^ 0x5555).to_be_bytes());
    k
}

/// A store holding `KEYS` values of `len` bytes, all in the buffer pool.
fn loaded_store(dir: &std::path::Path, len: usize) -> PagedStore {
    let mut config = Config::default();
    // The engine's own path: no WAL (durable puts: `--bench durable`).
    config.durability = Durability::None;
    config.cache_bytes = 256 << 20;
    let store = PagedStore::open(dir, &config).expect("open");
    let value = vec![0xABu8; len];
    for i in 0..KEYS {
        store.put(&key(i), &value).expect("put");
    }
    store
}

/// Runs `op(thread, i)` for `iters` iterations on each of `threads` threads
/// and returns the wall time.
fn timed(threads: u64, iters: u64, op: &(dyn Fn(u64, u64) + Sync)) -> Duration {
    let start_line = Barrier::new(usize::try_from(threads).expect("few threads") + 1);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let start_line = &start_line;
                s.spawn(move || {
                    start_line.wait();
                    for i in 0..iters {
                        op(t, i);
                    }
                })
            })
            .collect();
        start_line.wait();
        let start = Instant::now();
        for h in handles {
            h.join().expect("bench thread");
        }
        start.elapsed()
    })
}

/// Spreads iteration `i` of thread `t` over the keys.
fn pick(t: u64, i: u64) -> u64 {
    (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ t.wrapping_mul(0xD1B5_4A32_D192_ED03)) % KEYS
}

/// Runs `op(store, len, thread, iteration)` on a loaded store for every
/// value size and for one and two threads, as the group `name`.
fn bench_op(c: &mut Criterion, name: &str, op: &(dyn Fn(&PagedStore, usize, u64, u64) + Sync)) {
    let mut group = c.benchmark_group(name);
    for len in [100usize, 8192] {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = loaded_store(dir.path(), len);
        for threads in [1u64, 2] {
            group.throughput(Throughput::Elements(threads));
            let id = BenchmarkId::new(format!("{len}B"), format!("{threads}t"));
            group.bench_function(id, |b| {
                b.iter_custom(|iters| timed(threads, iters, &|t, i| op(&store, len, t, i)))
            });
        }
        store.close().expect("close");
    }
    group.finish();
}

fn bench_get(c: &mut Criterion) {
    bench_op(c, "get_cached", &|store, _, t, i| {
        black_box(store.get(&key(pick(t, i))).expect("get").expect("present"));
    });
}

fn bench_put(c: &mut Criterion) {
    let values = [vec![0xCDu8; 100], vec![0xCDu8; 8192]];
    bench_op(c, "put_overwrite", &|store, len, t, i| {
        let value = if len == 100 { &values[0] } else { &values[1] };
        store.put(&key(pick(t, i)), value).expect("put");
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = bench_get, bench_put
}
criterion_main!(benches);
