//! Group commit: durable (`Sync`) appends of 100-byte records on real files
//! with 1, 4 and 16 threads. Prints appends/s, fsyncs/s, records per fsync
//! and the throughput ratio to one thread.
//!
//! Run: `cargo bench -p folio --bench wal` (`FOLIO_WAL_BENCH_SECS`, default
//! 3 seconds per thread count). Writes under the target directory.

#![allow(missing_docs)] // a bench binary

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use folio::io::FileVfs;
use folio::wal::{recover, Lsn, RecordKind, Wal, WalOptions};

fn run(dir: &Path, threads: usize, secs: u64) -> (f64, f64) {
    let recovery = recover(&FileVfs, dir, Lsn(0), 0).expect("recover");
    let wal = Arc::new(
        Wal::open(Arc::new(FileVfs), dir, &recovery, WalOptions::default()).expect("open"),
    );
    let stop = AtomicBool::new(false);
    let appended = AtomicU64::new(0);
    let before = wal.stats();
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            let (wal, stop, appended) = (&wal, &stop, &appended);
            s.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    wal.append(RecordKind::Put, vec![0x5a; 100])
                        .expect("append");
                    appended.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        std::thread::sleep(Duration::from_secs(secs));
        stop.store(true, Ordering::Relaxed);
    });
    let elapsed = start.elapsed().as_secs_f64();
    let after = wal.stats();
    wal.close().expect("close");
    let records = appended.load(Ordering::Relaxed) as f64;
    (
        records / elapsed,
        (after.fsyncs - before.fsyncs) as f64 / elapsed,
    )
}

fn main() {
    let secs = std::env::var("FOLIO_WAL_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    // On the same disk as the target directory (not a tmpfs): fsync is real.
    let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let mut one = None;
    for threads in [1usize, 4, 16] {
        let dir = tempfile::tempdir_in(base).expect("tempdir");
        let (rate, fsyncs) = run(dir.path(), threads, secs);
        let ratio = rate / *one.get_or_insert(rate);
        println!(
            "{threads:>2} threads: {rate:>9.0} durable appends/s  {fsyncs:>7.0} fsyncs/s  {:>5.1} records/fsync  {ratio:.1}x one thread",
            rate / fsyncs.max(1.0)
        );
    }
}
