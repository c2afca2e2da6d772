//! The page store with 8 KiB pages: put_page and GetPage@LSN throughput
//! with one and two threads, uniform and zipf 0.99 page choice, and the
//! bytes on disk per stored version.
//!
//! Run: `cargo bench -p folio --bench page` (FOLIO_PAGE_TRIALS, default 7;
//! FOLIO_PAGE_PAGES, default 4096 pages of 4 versions each;
//! FOLIO_PAGE_DURABILITY, default `none,buffered,sync`, the modes puts are
//! measured in). One-thread and two-thread trials are interleaved and
//! medians reported, so a slow period of a shared machine hits both. Gets
//! run on a store with durability `none` (reads do not touch the WAL).

#![allow(missing_docs, clippy::cast_possible_truncation)] // a bench binary

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Instant;

use folio::{Config, Durability, PageLsn, PageOptions, PageStore, PagedStore};

const PAGE_BYTES: usize = 8192;
const VERSIONS: u64 = 4;
/// LSNs of version `v` of every page lie in `[v * STRIDE, (v + 1) * STRIDE)`.
const STRIDE: u64 = 1 << 20;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A PostgreSQL-buffer-tag-sized page id (20 bytes).
fn page_id(page: u64) -> [u8; 20] {
    let mut id = [0u8; 20];
    id[..4].copy_from_slice(&1663u32.to_be_bytes());
    id[4..8].copy_from_slice(&16384u32.to_be_bytes());
    id[12..20].copy_from_slice(&page.to_be_bytes());
    id
}

/// An image whose bytes depend on (page, lsn), so every read is verified.
fn image(page: u64, lsn: u64) -> Vec<u8> {
    let mut x = page.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ lsn;
    (0..PAGE_BYTES / 8)
        .flat_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()
        })
        .collect()
}

/// The first 8 bytes of `image(page, lsn)`, without making the rest.
fn image_head(page: u64, lsn: u64) -> [u8; 8] {
    let mut x = page.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ lsn;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x.to_le_bytes()
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// YCSB's zipfian generator (Gray et al.), scrambled with FNV so the hot
/// pages are spread over the id space.
struct Zipf {
    n: u64,
    theta: f64,
    alpha: f64,
    zetan: f64,
    eta: f64,
}

impl Zipf {
    fn new(n: u64, theta: f64) -> Self {
        let zeta = |k: u64| (1..=k).map(|i| 1.0 / (i as f64).powf(theta)).sum::<f64>();
        let zetan = zeta(n);
        let zeta2 = zeta(2);
        Zipf {
            n,
            theta,
            alpha: 1.0 / (1.0 - theta),
            zetan,
            eta: (1.0 - (2.0 / n as f64).powf(1.0 - theta)) / (1.0 - zeta2 / zetan),
        }
    }

    fn sample(&self, rng: &mut Rng) -> u64 {
        let u = rng.unit();
        let uz = u * self.zetan;
        let rank = if uz < 1.0 {
            0
        } else if uz < 1.0 + 0.5f64.powf(self.theta) {
            1
        } else {
            ((self.n as f64) * (self.eta * u - self.eta + 1.0).powf(self.alpha)) as u64
        };
        fnv(rank.min(self.n - 1)) % self.n
    }
}

fn fnv(x: u64) -> u64 {
    x.to_le_bytes()
        .iter()
        .fold(0xCBF2_9CE4_8422_2325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
        })
}

#[derive(Clone, Copy)]
enum Choice {
    Uniform,
    Zipf,
}

impl Choice {
    fn name(self) -> &'static str {
        match self {
            Choice::Uniform => "uniform",
            Choice::Zipf => "zipf0.99",
        }
    }
}

struct Picker {
    choice: Choice,
    pages: u64,
    zipf: Arc<Zipf>,
}

impl Picker {
    fn pick(&self, rng: &mut Rng) -> u64 {
        match self.choice {
            Choice::Uniform => rng.next() % self.pages,
            Choice::Zipf => self.zipf.sample(rng),
        }
    }
}

/// Runs `op` `ops` times on each of `threads` threads; returns ops/s.
fn trial(threads: u64, ops: u64, op: &(dyn Fn(&mut Rng) + Sync)) -> f64 {
    let barrier = Barrier::new(threads as usize + 1);
    let elapsed = std::thread::scope(|s| {
        for t in 0..threads {
            let barrier = &barrier;
            s.spawn(move || {
                let mut rng = Rng((t + 1).wrapping_mul(0x2545_F491_4F6C_DD1D) ^ fastrand_seed());
                barrier.wait();
                for _ in 0..ops {
                    op(&mut rng);
                }
            });
        }
        barrier.wait();
        Instant::now()
    })
    .elapsed();
    (threads * ops) as f64 / elapsed.as_secs_f64()
}

fn fastrand_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64 | 1)
        .unwrap_or(1)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn open(dir: &std::path::Path, durability: Durability) -> PageStore<PagedStore> {
    let mut config = Config::default();
    config.durability = durability;
    config.cache_bytes = 512 << 20;
    let store = Arc::new(PagedStore::open(dir, &config).expect("open"));
    let mut options = PageOptions::default();
    options.background = false;
    PageStore::open(store, options).expect("open the page store")
}

fn load(pages: &PageStore<PagedStore>, count: u64) {
    for v in 0..VERSIONS {
        for page in 0..count {
            let lsn = v * STRIDE + page % STRIDE;
            pages
                .put_page(&page_id(page), PageLsn(lsn), &image(page, lsn))
                .expect("put_page");
        }
    }
}

fn bench_gets(pages: &PageStore<PagedStore>, count: u64, trials: usize) {
    let zipf = Arc::new(Zipf::new(count, 0.99));
    for choice in [Choice::Uniform, Choice::Zipf] {
        let picker = Picker {
            choice,
            pages: count,
            zipf: zipf.clone(),
        };
        let get = |rng: &mut Rng| {
            let page = picker.pick(rng);
            // Any LSN from the first version on: each version equally likely.
            let at = rng.next() % (VERSIONS * STRIDE) + page % STRIDE;
            let (found, bytes) = pages
                .get_page(&page_id(page), PageLsn(at))
                .expect("get_page")
                .expect("a version at or below");
            assert!(found.0 <= at && at - found.0 < STRIDE, "wrong version");
            assert_eq!(bytes.len(), PAGE_BYTES);
            assert_eq!(bytes[..8], image_head(page, found.0), "wrong bytes");
            black_box(bytes);
        };
        let ops = 20_000;
        trial(2, ops, &get);
        let (mut one, mut two) = (Vec::new(), Vec::new());
        for _ in 0..trials {
            one.push(trial(1, ops, &get));
            two.push(trial(2, ops, &get));
        }
        report(
            &format!("get_page@LSN  {:<9}", choice.name()),
            median(one),
            median(two),
        );
    }
}

fn bench_puts(dir: &std::path::Path, count: u64, durability: Durability, trials: usize) {
    let pages = open(dir, durability);
    load(&pages, count);
    let zipf = Arc::new(Zipf::new(count, 0.99));
    let next_lsn = AtomicU64::new(VERSIONS * STRIDE);
    for choice in [Choice::Uniform, Choice::Zipf] {
        let picker = Picker {
            choice,
            pages: count,
            zipf: zipf.clone(),
        };
        let template = image(7, 7);
        let put = |rng: &mut Rng| {
            let page = picker.pick(rng);
            let lsn = next_lsn.fetch_add(1, Ordering::Relaxed);
            let mut bytes = template.clone();
            bytes[..8].copy_from_slice(&lsn.to_le_bytes());
            pages
                .put_page(&page_id(page), PageLsn(lsn), &bytes)
                .expect("put_page");
        };
        // A sync put waits for an fdatasync: fewer of them make a trial.
        let ops = if matches!(durability, Durability::Sync) {
            500
        } else {
            10_000
        };
        let (mut one, mut two) = (Vec::new(), Vec::new());
        for _ in 0..trials {
            one.push(trial(1, ops, &put));
            two.push(trial(2, ops, &put));
            // Keep the store's size steady: drop what the trial added
            // (untimed), and let a checkpoint release the freed slots.
            pages
                .vacuum(PageLsn(next_lsn.load(Ordering::Relaxed)))
                .expect("vacuum");
            pages.store().checkpoint().expect("checkpoint");
        }
        report(
            &format!("put_page {:<8} {:<9}", durability.name(), choice.name()),
            median(one),
            median(two),
        );
    }
    pages.close().expect("close");
}

fn report(what: &str, one: f64, two: f64) {
    println!(
        "{what}  1 thread {one:>9.0} ops/s ({:>6.2} us/op)   2 threads {two:>9.0} ops/s   scaling {:.2}x",
        1e6 / one,
        two / one
    );
}

fn disk_bytes(dir: &std::path::Path) -> (u64, u64) {
    let (mut data, mut other) = (0, 0);
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let entry = entry.expect("entry");
        let len = entry.metadata().expect("metadata").len();
        if entry.file_name().to_string_lossy().starts_with("seg") {
            data += len;
        } else {
            other += len;
        }
    }
    (data, other)
}

fn main() {
    let trials = env("FOLIO_PAGE_TRIALS", 7) as usize;
    let count = env("FOLIO_PAGE_PAGES", 4096);
    println!("{count} pages x {VERSIONS} versions of {PAGE_BYTES} B; medians of {trials} trials");

    let dir = tempfile::tempdir().expect("tempdir");
    let pages = open(dir.path(), Durability::None);
    let started = Instant::now();
    load(&pages, count);
    let loaded = started.elapsed();
    pages.store().checkpoint().expect("checkpoint");
    let versions = pages.stats().index.versions;
    let (data, other) = disk_bytes(dir.path());
    println!(
        "load: {versions} versions in {:.2} s; on disk per version: {:.0} B in data files ({:.4}x the image), {:.0} B with WAL, checkpoint and superblock; LogIndex {:.1} B of memory per version",
        loaded.as_secs_f64(),
        data as f64 / versions as f64,
        data as f64 / versions as f64 / PAGE_BYTES as f64,
        (data + other) as f64 / versions as f64,
        pages.stats().index.bytes_per_version(),
    );
    bench_gets(&pages, count, trials);
    pages.close().expect("close");
    drop(dir);

    let modes =
        std::env::var("FOLIO_PAGE_DURABILITY").unwrap_or_else(|_| "none,buffered,sync".into());
    for mode in modes.split(',') {
        let durability =
            Durability::parse(mode).expect("FOLIO_PAGE_DURABILITY: none, buffered or sync");
        let dir = tempfile::tempdir().expect("tempdir");
        bench_puts(dir.path(), count, durability, trials);
    }
}
