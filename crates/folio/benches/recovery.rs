//! Recovery speed: the open time of a store holding `FOLIO_RECOVERY_GIB`
//! GiB (default 1) of 8 KiB page images, cleanly closed; then of the same
//! store after a crash with `FOLIO_RECOVERY_WAL_MIB` MiB (default 256, the
//! default checkpoint trigger) of WAL to replay — reported as replay MB/s.
//!
//! Run: `cargo bench -p folio --bench recovery`. The "crash" is a child
//! process that writes, fsyncs the WAL, and exits without closing the
//! store. Writes under the target directory (needs ~2.5 GiB).

#![allow(missing_docs)] // a bench binary

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use folio::{Config, Durability, KvStore, PagedStore};

const PAGE: usize = 8192;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config() -> Config {
    let mut c = Config::default();
    c.durability = Durability::Buffered;
    c.cache_bytes = 256 << 20;
    c.checkpoint_wal_bytes = u64::MAX; // no checkpoint while the WAL grows
    c.checkpoint_interval_ms = 0;
    c
}

fn image(i: u64) -> Vec<u8> {
    let mut v = vec![0u8; PAGE];
    for (j, chunk) in v.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&(i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ j as u64).to_le_bytes());
    }
    v
}

/// Child: writes pages `from..to`, makes the WAL durable, exits without
/// closing (a crash that loses nothing but the buffer pool).
fn child(dir: &Path, from: u64, to: u64) {
    let store = PagedStore::open(dir, &config()).expect("open");
    for i in from..to {
        store.put(&i.to_be_bytes(), &image(i)).expect("put");
    }
    store.flush().expect("flush");
    std::process::exit(0);
}

fn timed_open(dir: &Path) -> (f64, PagedStore) {
    let start = Instant::now();
    let store = PagedStore::open(dir, &config()).expect("open");
    (start.elapsed().as_secs_f64(), store)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(pos) = args.iter().position(|a| a == "--child") {
        let dir = PathBuf::from(&args[pos + 1]);
        let from = args[pos + 2].parse().expect("from");
        let to = args[pos + 3].parse().expect("to");
        child(&dir, from, to);
        return;
    }
    let pages = env("FOLIO_RECOVERY_GIB", 1) * (1 << 30) / PAGE as u64;
    let wal_pages = env("FOLIO_RECOVERY_WAL_MIB", 256) * (1 << 20) / PAGE as u64;
    let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let dir = tempfile::tempdir_in(base).expect("tempdir");
    let load = Instant::now();
    {
        let store = PagedStore::open(dir.path(), &config()).expect("open");
        for i in 0..pages {
            store.put(&i.to_be_bytes(), &image(i)).expect("put");
        }
        store.close().expect("close");
    }
    println!(
        "loaded {pages} pages ({} MiB) in {:.1} s",
        (pages * PAGE as u64) >> 20,
        load.elapsed().as_secs_f64()
    );
    let (clean, store) = timed_open(dir.path());
    store.close().expect("close");
    println!("open after a clean close: {:.3} s", clean);

    let status = Command::new(std::env::current_exe().expect("exe"))
        .args(["--child", &dir.path().display().to_string()])
        .args([pages.to_string(), (pages + wal_pages).to_string()])
        .status()
        .expect("child");
    assert!(status.success(), "child failed");
    let (recover, store) = timed_open(dir.path());
    let wal_mb = (wal_pages * (PAGE as u64 + 60)) as f64 / 1e6;
    println!(
        "open after a crash with {wal_pages} records ({wal_mb:.0} MB) of WAL to replay: \
         {recover:.3} s, {:.0} MB/s replayed (open time less the clean open time)",
        wal_mb / (recover - clean).max(1e-9)
    );
    for i in (0..pages + wal_pages).step_by(997) {
        assert_eq!(
            store.get(&i.to_be_bytes()).expect("get"),
            Some(image(i)),
            "page {i}"
        );
    }
    store.close().expect("close");
}
