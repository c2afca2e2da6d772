//! Durable puts through the store: 100-byte values with `Durability::Sync`
//! on real files, 1, 4 and 16 threads, each writing its own keys. Prints
//! puts/s, WAL fsyncs/s, puts per fsync and the ratio to one thread; then
//! the same for `buffered` and `none` at 16 threads, for scale.
//!
//! Run: `cargo bench -p folio --bench durable` (`FOLIO_DURABLE_BENCH_SECS`,
//! default 3 seconds per run). Writes under the target directory.

#![allow(missing_docs)] // a bench binary

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use folio::{Config, Durability, KvStore, PagedStore};

struct Rates {
    puts: f64,
    fsyncs: f64,
}

fn run(dir: &Path, durability: Durability, threads: usize, secs: u64) -> Rates {
    let mut config = Config::default();
    config.durability = durability;
    let store = PagedStore::open(dir, &config).expect("open");
    let stop = AtomicBool::new(false);
    let puts = AtomicU64::new(0);
    let before = store.stats().wal_fsyncs;
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let (store, stop, puts) = (&store, &stop, &puts);
            s.spawn(move || {
                let value = [0x5au8; 100];
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("t{t:02}-{:08}", i % 100_000);
                    store.put(key.as_bytes(), &value).expect("put");
                    i += 1;
                }
                puts.fetch_add(i, Ordering::Relaxed);
            });
        }
        std::thread::sleep(Duration::from_secs(secs));
        stop.store(true, Ordering::Relaxed);
    });
    let elapsed = start.elapsed().as_secs_f64();
    let fsyncs = store.stats().wal_fsyncs - before;
    store.close().expect("close");
    Rates {
        puts: puts.load(Ordering::Relaxed) as f64 / elapsed,
        fsyncs: fsyncs as f64 / elapsed,
    }
}

fn main() {
    let secs = std::env::var("FOLIO_DURABLE_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    // On the same disk as the target directory (not a tmpfs): fsync is real.
    let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let mut one = None;
    let runs = [
        (Durability::Sync, 1usize),
        (Durability::Sync, 4),
        (Durability::Sync, 16),
        (Durability::Buffered, 16),
        (Durability::None, 16),
    ];
    for (durability, threads) in runs {
        let dir = tempfile::tempdir_in(base).expect("tempdir");
        let r = run(dir.path(), durability, threads, secs);
        let ratio = r.puts / *one.get_or_insert(r.puts);
        println!(
            "{:<8} {threads:>2} threads: {:>9.0} puts/s  {:>7.0} fsyncs/s  {:>6.1} puts/fsync  {ratio:.1}x sync with one thread",
            durability.name(),
            r.puts,
            r.fsyncs,
            r.puts / r.fsyncs.max(1.0)
        );
    }
}
