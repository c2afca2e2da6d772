//! Helpers shared by the engine's integration tests.
#![allow(dead_code, missing_docs, clippy::cast_possible_truncation)]

pub mod ops;
pub mod page_model;

use std::path::Path;
use std::sync::Arc;

use folio::io::{FileVfs, MemVfs, Vfs};
use folio::{Config, Durability, PagedStore, ReplacerKind};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A size read from the environment, or `default` (CI uses the default;
/// set the variable for a long run).
pub fn env_size(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The seed for a test: `FOLIO_SEED` when set, else a fresh one, printed so
/// a failure can be replayed.
pub fn seed(test: &str) -> u64 {
    let seed = std::env::var("FOLIO_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("{test}: FOLIO_SEED={seed}");
    seed
}

pub fn rng(test: &str) -> StdRng {
    StdRng::seed_from_u64(seed(test))
}

/// The default configuration with small WAL files (tests open many stores;
/// in-memory file systems hold a WAL file's whole length).
pub fn test_config() -> Config {
    let mut c = Config::default();
    c.wal_file_bytes = 256 * 1024;
    c
}

/// Named configurations every model test runs under: both replacers, two
/// page sizes, all three durability modes.
pub fn configs() -> Vec<(&'static str, Config)> {
    let tiny = |replacer, durability| {
        let mut c = test_config();
        c.cache_bytes = 4 * 8192;
        c.replacer = replacer;
        c.durability = durability;
        c
    };
    let mut small_pages = test_config();
    small_pages.page_bytes = 4096;
    small_pages.cache_bytes = 16 * 4096;
    small_pages.durability = Durability::None;
    vec![
        (
            "tiny-pool-lru-sync",
            tiny(ReplacerKind::Lru, Durability::Sync),
        ),
        (
            "tiny-pool-clock-buffered",
            tiny(ReplacerKind::Clock, Durability::Buffered),
        ),
        ("default", test_config()),
        ("4k-pages-small-pool-no-wal", small_pages),
    ]
}

/// A value length: mostly small, sometimes around a page, sometimes a few
/// pages, sometimes empty.
pub fn value_len(rng: &mut StdRng, page: usize) -> usize {
    match rng.gen_range(0..100) {
        0..=4 => 0,
        5..=49 => rng.gen_range(1..=200),
        50..=79 => rng.gen_range(200..=page),
        80..=89 => page,
        _ => rng.gen_range(page..=3 * page + 17),
    }
}

/// Deterministic bytes for (key id, version): distinct versions differ.
pub fn value_bytes(len: usize, tag: u64) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(tag);
    let mut v = vec![0u8; len];
    rng.fill(&mut v[..]);
    v
}

pub fn key_bytes(rng: &mut StdRng, keys: u32) -> Vec<u8> {
    let id = rng.gen_range(0..keys);
    // Key lengths vary (binary, with zero bytes) but are a function of the id.
    let len = (id % 23) as usize;
    let mut k = id.to_le_bytes().to_vec();
    k.extend(std::iter::repeat_n(0xA5u8 ^ (id as u8), len));
    k
}

/// Where a test store lives.
pub enum Place {
    Memory(MemVfs),
    Disk(tempfile::TempDir),
}

impl Place {
    pub fn memory() -> Self {
        Place::Memory(MemVfs::new())
    }
    pub fn disk() -> Self {
        Place::Disk(tempfile::tempdir().expect("tempdir"))
    }
    pub fn vfs(&self) -> Arc<dyn Vfs> {
        match self {
            Place::Memory(m) => Arc::new(m.clone()),
            Place::Disk(_) => Arc::new(FileVfs),
        }
    }
    pub fn dir(&self) -> &Path {
        match self {
            Place::Memory(_) => Path::new("/store"),
            Place::Disk(d) => d.path(),
        }
    }
    pub fn open(&self, config: &Config) -> PagedStore {
        PagedStore::open_with_vfs(self.vfs(), self.dir(), config).expect("open")
    }
}
