//! Read scaling from one thread to two, measured robustly on a noisy
//! machine: 1-thread and 2-thread trials are interleaved (so a slow period
//! hits both), and the medians are compared.
//!
//! Run: `cargo bench -p folio --bench scaling` (FOLIO_SCALING_TRIALS,
//! default 15). Prints, per value size, the median ops/s with one and two
//! threads and their ratio.

#![allow(missing_docs)] // a bench binary

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use folio::{Config, Durability, KvStore, PagedStore};

const KEYS: u64 = 4096;
const OPS_PER_THREAD: u64 = 200_000;

fn key(i: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&i.to_be_bytes());
    k[8..].copy_from_slice(&(i ^ 0x5555).to_be_bytes());
    k
}

fn trial(store: &PagedStore, threads: u64, ops: u64) -> f64 {
    let barrier = Barrier::new(usize::try_from(threads).expect("few threads") + 1);
    let elapsed: Duration = std::thread::scope(|s| {
        for t in 0..threads {
            let barrier = &barrier;
            s.spawn(move || {
                barrier.wait();
                let mut x = (t + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                for _ in 0..ops {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    black_box(store.get(&key(x % KEYS)).expect("get").expect("present"));
                }
            });
        }
        barrier.wait();
        // Started when every thread is released; read after the scope
        // has joined them all.
        Instant::now()
    })
    .elapsed();
    (threads * ops) as f64 / elapsed.as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let trials: usize = std::env::var("FOLIO_SCALING_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    for len in [100usize, 8192] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config::default();
        // The engine's own path: no WAL (durable puts: `--bench durable`).
        config.durability = Durability::None;
        config.cache_bytes = 256 << 20;
        let store = PagedStore::open(dir.path(), &config).expect("open");
        for i in 0..KEYS {
            store.put(&key(i), &vec![0xABu8; len]).expect("put");
        }
        let ops = if len > 1000 {
            OPS_PER_THREAD / 8
        } else {
            OPS_PER_THREAD
        };
        trial(&store, 2, ops); // warm up
        let (mut one, mut two) = (Vec::new(), Vec::new());
        for _ in 0..trials {
            one.push(trial(&store, 1, ops));
            two.push(trial(&store, 2, ops));
        }
        let (m1, m2) = (median(one), median(two));
        println!(
            "get {len:>5} B: 1 thread {:>10.0} ops/s ({:>6.0} ns/op)   2 threads {:>10.0} ops/s   scaling {:.2}x",
            m1,
            1e9 / m1,
            m2,
            m2 / m1
        );
        store.close().expect("close");
    }
}
