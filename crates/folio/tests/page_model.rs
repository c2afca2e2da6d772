//! Model-based tests of the multi-version page store ([`folio::PageStore`])
//! over the native engine. The model and its random workload are in
//! `common/page_model.rs`; here they run under every configuration of
//! `common::configs()` on real files, then on a crash-simulating file
//! system (states taken between operations must equal the model; states
//! of a process killed at an I/O must lie between the model before and
//! after the operation in flight), and an 8 KiB-image workload checks that
//! vacuumed space is reused. The same workload over every engine of the
//! build, opened by name, is crates/folio-peers/tests/page_store.rs.
//!
//! Sizes: `FOLIO_PAGE_MODEL_OPS` operations per configuration (default
//! 1,500), `FOLIO_PAGE_CRASH_CASES` killed workloads (default 24).

#![allow(clippy::cast_possible_truncation)] // test data wraps bytes on purpose

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use common::page_model::*;
use common::{configs, env_size, rng, test_config};
use folio::io::{CrashPolicy, CrashVfs, FaultOp, FaultVfs, MemVfs};
use folio::{Config, Durability, KvStore, PageError, PageLsn, PageStore, PagedStore};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn named_config(name: &str) -> Config {
    configs()
        .into_iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no configuration named {name}"))
        .1
}

/// A case on the real file system with the native engine, opened directly.
fn paged_case(config_name: &str) {
    let config = named_config(config_name);
    let dir = tempfile::tempdir().unwrap();
    let open = || Arc::new(PagedStore::open(dir.path(), &config).unwrap());
    run_model_case(&format!("page_model/{config_name}"), &open);
}

#[test]
fn model_tiny_pool_lru_sync() {
    paged_case("tiny-pool-lru-sync");
}

#[test]
fn model_tiny_pool_clock_buffered() {
    paged_case("tiny-pool-clock-buffered");
}

#[test]
fn model_4k_pages_small_pool_no_wal() {
    paged_case("4k-pages-small-pool-no-wal");
}

/// LSNs at the ends of the range: 0, `u64::MAX`, and a vacuum to
/// `u64::MAX`, which leaves each page its newest version only.
#[test]
fn extreme_lsns() {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config();
    let open = || Arc::new(PagedStore::open(dir.path(), &config).unwrap());
    let ids = vec![vec![1u8], vec![2u8; 64]];
    let mut model = Model::default();
    let mut pages = PageStore::open(open(), options()).unwrap();
    let script = [
        Op::Put {
            page: 0,
            lsn: 0,
            image: b"zero".to_vec(),
        },
        Op::Put {
            page: 0,
            lsn: u64::MAX,
            image: b"max".to_vec(),
        },
        Op::Put {
            page: 0,
            lsn: u64::MAX - 1,
            image: vec![],
        },
        Op::Put {
            page: 1,
            lsn: 5,
            image: vec![9; 8192],
        },
        Op::Put {
            page: 1,
            lsn: 5,
            image: vec![9; 8192],
        },
        Op::Put {
            page: 1,
            lsn: 5,
            image: vec![9; 8191],
        },
        Op::Get { page: 0, lsn: 0 },
        Op::Get {
            page: 0,
            lsn: u64::MAX - 1,
        },
        Op::Get {
            page: 0,
            lsn: u64::MAX,
        },
        Op::Get { page: 1, lsn: 4 },
        Op::Vacuum { asked: 0 },
        Op::Get { page: 0, lsn: 0 },
        Op::Vacuum {
            asked: u64::MAX - 1,
        },
        Op::Get { page: 0, lsn: 0 },
        Op::Get {
            page: 0,
            lsn: u64::MAX - 2,
        },
        Op::Get {
            page: 0,
            lsn: u64::MAX - 1,
        },
        Op::Get { page: 1, lsn: 4 },
        Op::Get { page: 1, lsn: 5 },
        Op::Put {
            page: 1,
            lsn: u64::MAX - 2,
            image: b"late".to_vec(),
        },
        Op::Put {
            page: 1,
            lsn: u64::MAX - 1,
            image: b"at".to_vec(),
        },
        Op::Vacuum { asked: 7 },
        Op::Vacuum { asked: u64::MAX },
        Op::Get {
            page: 0,
            lsn: u64::MAX - 1,
        },
        Op::Get {
            page: 0,
            lsn: u64::MAX,
        },
        Op::Get {
            page: 1,
            lsn: u64::MAX,
        },
        Op::Versions { page: 0 },
        Op::Versions { page: 1 },
        Op::Put {
            page: 1,
            lsn: u64::MAX,
            image: b"top".to_vec(),
        },
        Op::Put {
            page: 0,
            lsn: u64::MAX,
            image: b"max".to_vec(),
        },
        Op::Put {
            page: 0,
            lsn: u64::MAX,
            image: b"MAX".to_vec(),
        },
    ];
    for (i, op) in script.iter().enumerate() {
        let expected = model.apply(&ids, op);
        assert_eq!(
            run(&pages, &ids, op),
            expected,
            "step {i}: {}",
            op.describe(&ids)
        );
        if i % 10 == 9 {
            pages.close().unwrap();
            drop(pages);
            pages = PageStore::open(open(), options()).unwrap();
            check_all(
                &pages,
                &model,
                &ids,
                &format!("extreme_lsns after step {i}"),
            );
        }
    }
    assert_eq!(model.horizon, u64::MAX);
    assert_eq!(model.lsns(&ids[0]), vec![u64::MAX]);
    check_all(&pages, &model, &ids, "extreme_lsns at the end");
    pages.close().unwrap();
}

// ---------------------------------------------------------------- crashes

const CRASH_DIR: &str = "/pages";

fn crash_config() -> Config {
    let mut c = Config::default();
    c.durability = Durability::Sync;
    c.cache_bytes = 6 * 8192; // a tiny pool: pages are written back mid-workload
    c.wal_file_bytes = 64 * 1024; // WAL files fill, rotate and are recycled
    c.sync_interval_ms = 5;
    c.checkpoint_interval_ms = 0;
    c.checkpoint_wal_bytes = 96 * 1024; // background checkpoints run too
    c
}

fn open_on(vfs: &CrashVfs, config: &Config) -> folio::Result<PagedStore> {
    PagedStore::open_with_vfs(Arc::new(vfs.clone()), Path::new(CRASH_DIR), config)
}

/// A power cut between operations, under every crash policy: with `Sync`
/// every acknowledged put and vacuum is in the recovered state, and nothing
/// else, so it must equal the model exactly.
#[test]
fn acknowledged_puts_and_vacuums_survive_a_crash() {
    let ops = env_size("FOLIO_PAGE_MODEL_OPS", 1500) / 2;
    let mut rng = rng("page_model/crash_between_ops");
    let config = crash_config();
    let ids = page_ids(&mut rng);
    let vfs = CrashVfs::new();
    let pages = PageStore::open(Arc::new(open_on(&vfs, &config).unwrap()), options()).unwrap();
    let mut model = Model::default();
    let mut crashes = 0;
    for step in 0..ops as u64 {
        let op = gen_op(&mut rng, &model, &ids, step);
        let expected = model.apply(&ids, &op);
        assert_eq!(
            run(&pages, &ids, &op),
            expected,
            "crash workload step {step}: {}",
            op.describe(&ids)
        );
        if rng.gen_range(0..100) < 2 {
            pages.store().checkpoint().unwrap();
        }
        if rng.gen_range(0..100) < 4 || step + 1 == ops as u64 {
            let policy = CrashPolicy::ALL[rng.gen_range(0..CrashPolicy::ALL.len())];
            let crashed = vfs.crash_state(policy, &mut rng);
            let ctx = format!("crash after step {step} ({policy:?})");
            let store = open_on(&crashed, &config).unwrap_or_else(|e| panic!("{ctx}: reopen: {e}"));
            let recovered = PageStore::open(Arc::new(store), options())
                .unwrap_or_else(|e| panic!("{ctx}: page store open: {e}"));
            check_all(&recovered, &model, &ids, &ctx);
            recovered.close().unwrap();
            crashes += 1;
        }
    }
    pages.close().unwrap();
    eprintln!(
        "{crashes} crash states verified; {} versions, horizon {}",
        model.versions.len(),
        model.horizon
    );
}

/// A workload on a store whose process dies at its k-th I/O. The operation
/// in flight may have happened or not, or (a vacuum) in part: every
/// recovered page holds each version the models before and after the
/// operation share and no version neither holds, the horizon is one of the
/// two, and each read answers as one of the two models does.
#[test]
fn killed_mid_operation_recovers_before_or_after_it() {
    let cases = env_size("FOLIO_PAGE_CRASH_CASES", 24);
    let mut rng = rng("page_model/killed_mid_operation");
    let config = crash_config();
    let ops = 120;
    let (mut in_vacuum, mut in_put, mut verified) = (0, 0, 0);
    for case in 0..cases {
        let seed: u64 = rng.gen();
        // A dry run counts the I/Os of the workload; the real one dies at a
        // random one of them.
        let total = {
            let vfs = CrashVfs::new();
            let (run, _) = killed_workload(&vfs, &config, seed, ops);
            assert!(run.is_none(), "case {case}: dry run failed");
            vfs.io_count()
        };
        let vfs = CrashVfs::new();
        vfs.crash_after(rng.gen_range(0..total));
        let (fail, ids) = killed_workload(&vfs, &config, seed, ops);
        let Some((pre, post, op)) = fail else {
            continue; // died in open or close
        };
        match op {
            Some(Op::Vacuum { .. }) => in_vacuum += 1,
            Some(Op::Put { .. }) => in_put += 1,
            _ => {}
        }
        for policy in CrashPolicy::ALL {
            let crashed = vfs.crash_state(policy, &mut rng);
            let ctx = format!(
                "case {case} (seed {seed}), killed in {} ({policy:?})",
                op.as_ref().map_or("open".into(), |op| op.describe(&ids))
            );
            let store = open_on(&crashed, &config).unwrap_or_else(|e| panic!("{ctx}: reopen: {e}"));
            let recovered = PageStore::open(Arc::new(store), options())
                .unwrap_or_else(|e| panic!("{ctx}: page store open: {e}"));
            check_between(&recovered, &pre, &post, &ids, &ctx);
            recovered.close().unwrap();
            verified += 1;
        }
    }
    eprintln!(
        "{verified} crash states verified ({in_vacuum} cases killed in a vacuum, {in_put} in a put)"
    );
    assert!(
        verified > 0 && in_vacuum + in_put > 0,
        "no crash state was checked mid-operation ({cases} cases)"
    );
}

type Killed = Option<(Model, Model, Option<Op>)>;

/// Runs the seeded workload until an operation fails; returns the models
/// before and after the failed operation (`None` when all succeeded).
fn killed_workload(vfs: &CrashVfs, config: &Config, seed: u64, ops: u64) -> (Killed, Vec<Vec<u8>>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let ids = page_ids(&mut rng);
    let Ok(store) = open_on(vfs, config) else {
        return (Some((Model::default(), Model::default(), None)), ids);
    };
    let pages = match PageStore::open(Arc::new(store), options()) {
        Ok(pages) => pages,
        Err(_) => return (Some((Model::default(), Model::default(), None)), ids),
    };
    let mut model = Model::default();
    for step in 0..ops {
        // Vacuums often, so kills land in them.
        let op = if rng.gen_range(0..100) < 12 {
            Op::Vacuum {
                asked: model.horizon + rng.gen_range(0..=60),
            }
        } else {
            gen_op(&mut rng, &model, &ids, step)
        };
        let pre = model.clone();
        let expected = model.apply(&ids, &op);
        match run(&pages, &ids, &op) {
            Outcome::StoreError(_) => {
                let _ = pages.close(); // fails: the process is "dead"
                return (Some((pre, model, Some(op))), ids);
            }
            got => assert_eq!(
                got,
                expected,
                "seed {seed} step {step}: {}",
                op.describe(&ids)
            ),
        }
    }
    match pages.close() {
        Ok(()) => (None, ids),
        // Died in the final checkpoint: nothing was in flight.
        Err(_) => (Some((model.clone(), model, None)), ids),
    }
}

/// The recovered page store lies between `pre` and `post`: it holds every
/// version both hold and only versions one of them holds.
fn check_between<S: KvStore + ?Sized>(
    pages: &PageStore<S>,
    pre: &Model,
    post: &Model,
    ids: &[Vec<u8>],
    ctx: &str,
) {
    let horizon = pages.vacuum_horizon().0;
    assert!(
        horizon == pre.horizon || horizon == post.horizon,
        "{ctx}: horizon {horizon}, expected {} or {}",
        pre.horizon,
        post.horizon
    );
    let mut total = 0;
    for (p, id) in ids.iter().enumerate() {
        let got: BTreeSet<u64> = pages
            .versions(id)
            .unwrap()
            .into_iter()
            .map(|l| l.0)
            .collect();
        let (before, after): (BTreeSet<u64>, BTreeSet<u64>) = (
            pre.lsns(id).into_iter().collect(),
            post.lsns(id).into_iter().collect(),
        );
        // A put in flight may add its version, a vacuum remove some of its
        // victims; nothing else may differ.
        let kept: BTreeSet<u64> = before.intersection(&after).copied().collect();
        let allowed: BTreeSet<u64> = before.union(&after).copied().collect();
        assert!(
            kept.is_subset(&got) && got.is_subset(&allowed),
            "{ctx}: page #{p} has versions {got:?}; before the operation {before:?}, after {after:?}"
        );
        total += got.len() as u64;
        for lsn in probes(&[pre, post], id) {
            let got = observe_read(pages.get_page(id, PageLsn(lsn)));
            let (a, b) = (pre.read(id, lsn), post.read(id, lsn));
            assert!(
                got == a || got == b,
                "{ctx}: get page #{p} @ {lsn} returned {got:?}; before the operation {a:?}, after {b:?}"
            );
        }
    }
    assert_eq!(pages.stats().index.versions, total, "{ctx}: index versions");
}

// ------------------------------------------------------------ space reuse

/// A store configured with batches smaller than vacuum's: the vacuum
/// writes its deletes in pieces the store accepts and leaves index and
/// store in agreement.
#[test]
fn vacuum_fits_the_store_batch_limits() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config();
    config.max_batch_ops = 100;
    let store = Arc::new(PagedStore::open(dir.path(), &config).unwrap());
    let pages = PageStore::open(store.clone(), options()).unwrap();
    for lsn in 1..=300 {
        pages
            .put_page(b"p", PageLsn(lsn), &lsn.to_le_bytes())
            .unwrap();
    }
    let run = pages.vacuum(PageLsn(300)).unwrap();
    assert_eq!(run.versions_removed, 299);
    assert_eq!(pages.versions(b"p").unwrap(), vec![PageLsn(300)]);
    // The kept version and the durable horizon are all the store holds.
    assert_eq!(store.len().unwrap(), 2);
    pages.close().unwrap();
}

/// Limits given for keys (a 6-byte key, an 8-byte batch, as a C caller
/// may set them) do not reach the page store through `page_store_config`:
/// the longest page id is stored, vacuum frees versions, and an image over
/// the caller's value limit is still refused by that limit.
#[test]
fn the_page_store_config_fits_page_keys_whatever_the_key_limits() {
    let dir = tempfile::tempdir().unwrap();
    let mut small = test_config();
    small.max_key_bytes = 6;
    small.max_batch_bytes = 8;
    small.max_value_bytes = 16;
    let config = folio::page::key::page_store_config(&small);
    assert_eq!(config.max_value_bytes, 16, "images keep the caller's limit");
    let store = Arc::new(PagedStore::open(dir.path(), &config).unwrap());
    let pages = PageStore::open(store.clone(), options()).unwrap();
    let id = [7u8; folio::page::MAX_PAGE_ID_BYTES];
    for lsn in 1..=3 {
        pages.put_page(&id, PageLsn(lsn), &[lsn as u8; 16]).unwrap();
    }
    let run = pages.vacuum(PageLsn(3)).unwrap();
    assert_eq!(run.versions_removed, 2);
    assert_eq!(pages.versions(&id).unwrap(), vec![PageLsn(3)]);
    assert!(
        matches!(
            pages.put_page(&id, PageLsn(4), &[0u8; 17]),
            Err(PageError::Store(folio::Error::ValueTooLarge {
                len: 17,
                max: 16
            }))
        ),
        "an image over max_value_bytes is refused"
    );
    assert_eq!(
        folio::page::key::page_store_config(&test_config()),
        test_config()
    );
    pages.close().unwrap();
}

/// A vacuum whose delete batch fails puts the versions back in the index:
/// reads still find them, and after a reopen the index and the store agree.
#[test]
fn a_failed_vacuum_batch_leaves_index_and_store_in_agreement() {
    let mem = MemVfs::new();
    let vfs = FaultVfs::new(Arc::new(mem.clone()));
    let dir = Path::new("/pages");
    let mut config = test_config();
    config.durability = Durability::Sync;
    let store = PagedStore::open_with_vfs(Arc::new(vfs.clone()), dir, &config).unwrap();
    // Batches of two: the first fails with the page's third victim not
    // batched yet, and it must go back into the index too.
    let mut opts = options();
    opts.vacuum_batch_ops = 2;
    let pages = PageStore::open(Arc::new(store), opts).unwrap();
    for lsn in 1..=5 {
        pages.put_page(b"p", PageLsn(lsn), &[lsn as u8]).unwrap();
    }
    // The horizon's write goes through; the batch of deletes fails.
    vfs.fail_once_after(FaultOp::Write, 1, std::io::ErrorKind::Other);
    assert!(pages.vacuum(PageLsn(4)).is_err());
    assert_eq!(vfs.injected(), 1);
    assert_eq!(
        pages.vacuum_horizon(),
        PageLsn(4),
        "the batch failed, not the horizon"
    );
    let all: Vec<PageLsn> = (1..=5).map(PageLsn).collect();
    assert_eq!(pages.versions(b"p").unwrap(), all, "back in the index");
    assert_eq!(
        pages.get_page(b"p", PageLsn(2)).unwrap(),
        Some((PageLsn(2), vec![2]))
    );
    drop(pages);
    let store = PagedStore::open_with_vfs(Arc::new(mem), dir, &config).unwrap();
    let pages = PageStore::open(Arc::new(store), options()).unwrap();
    assert_eq!(pages.versions(b"p").unwrap(), all);
    assert_eq!(pages.vacuum(PageLsn(4)).unwrap().versions_removed, 3);
    assert_eq!(pages.versions(b"p").unwrap(), vec![PageLsn(4), PageLsn(5)]);
    pages.close().unwrap();
}

/// A store that does not promise ordered recovery: the versions put before
/// the vacuum and every vacuum batch are flushed before the next batch is
/// written.
#[test]
fn vacuum_flushes_each_batch_of_a_store_without_ordered_recovery() {
    struct Unordered {
        inner: PagedStore,
        flushes: std::sync::atomic::AtomicUsize,
    }
    impl KvStore for Unordered {
        fn engine_name(&self) -> &'static str {
            "unordered"
        }
        fn put(&self, key: &[u8], value: &[u8]) -> folio::Result<()> {
            self.inner.put(key, value)
        }
        fn get(&self, key: &[u8]) -> folio::Result<Option<Vec<u8>>> {
            self.inner.get(key)
        }
        fn delete(&self, key: &[u8]) -> folio::Result<bool> {
            self.inner.delete(key)
        }
        fn max_value_bytes(&self) -> usize {
            self.inner.max_value_bytes()
        }
        fn write_batch(&self, batch: &folio::WriteBatch) -> folio::Result<()> {
            self.inner.write_batch(batch)
        }
        fn flush(&self) -> folio::Result<()> {
            self.flushes
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.inner.flush()
        }
        fn len(&self) -> folio::Result<u64> {
            self.inner.len()
        }
        fn for_each_key(
            &self,
            visit: &mut dyn FnMut(&[u8]) -> std::ops::ControlFlow<()>,
        ) -> folio::Result<()> {
            self.inner.for_each_key(visit)
        }
        fn stats(&self) -> folio::Stats {
            self.inner.stats()
        }
        fn close(&self) -> folio::Result<()> {
            self.inner.close()
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Unordered {
        inner: PagedStore::open(dir.path(), &test_config()).unwrap(),
        flushes: std::sync::atomic::AtomicUsize::new(0),
    });
    let mut opts = options();
    opts.vacuum_batch_ops = 10;
    let pages = PageStore::open(store.clone(), opts).unwrap();
    for lsn in 1..=31 {
        pages.put_page(b"p", PageLsn(lsn), b"v").unwrap();
    }
    let before = store.flushes.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(pages.vacuum(PageLsn(31)).unwrap().versions_removed, 30);
    let flushes = store.flushes.load(std::sync::atomic::Ordering::Relaxed) - before;
    // One for the horizon, one for the puts that finished as the vacuum
    // began (kept versions durable before any delete), one after each of
    // the three batches.
    assert_eq!(flushes, 5);
    pages.close().unwrap();
}

/// Full-page images: rounds of `N` new versions over `M` pages, each round
/// vacuumed to its newest LSN and checkpointed. A round frees as many slots
/// as the next one needs, so after the first round the data files grow by
/// at most the slots whose reclamation is still deferred (papaya retires
/// freed entries in batches of 32 per thread: a few dozen 8 KiB slots,
/// however many rounds run), never by a round's worth (`N` slots, 1.6 MB).
#[test]
fn vacuumed_space_is_reused() {
    let pages_n = 40u64;
    let per_round = 5u64; // versions per page per round
    let rounds = 8;
    let in_flight_bytes = 64 * 8192;
    for (name, config) in [
        ("default", test_config()),
        ("no-wal", named_config("4k-pages-small-pool-no-wal")),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let pages = PageStore::open(
            Arc::new(PagedStore::open(dir.path(), &config).unwrap()),
            options(),
        )
        .unwrap();
        let id = |p: u64| format!("rel-1/blk-{p:04}").into_bytes();
        let img = |p: u64, lsn: u64| vec![(p * 7 + lsn) as u8; 8192];
        // A base version per page: what each vacuum keeps.
        let mut lsn = 1;
        for p in 0..pages_n {
            assert!(pages.put_page(&id(p), PageLsn(lsn), &img(p, lsn)).unwrap());
        }
        let mut sizes = Vec::new();
        for round in 0..rounds {
            for _ in 0..per_round {
                lsn += 1;
                for p in 0..pages_n {
                    assert!(pages.put_page(&id(p), PageLsn(lsn), &img(p, lsn)).unwrap());
                }
            }
            let stats = pages.vacuum(PageLsn(lsn)).unwrap();
            assert_eq!(
                (stats.pages_trimmed, stats.versions_removed),
                (pages_n, pages_n * per_round),
                "{name} round {round}: vacuum (pages trimmed, versions removed)"
            );
            assert_eq!(
                pages.stats().index.versions,
                pages_n,
                "{name} round {round}: versions kept"
            );
            pages.store().checkpoint().unwrap();
            sizes.push(pages.store().stats().data_file_bytes);
        }
        eprintln!("{name}: data file bytes after each round: {sizes:?}");
        assert!(
            sizes[1..].iter().all(|&s| s <= sizes[0] + in_flight_bytes),
            "{name}: the files grew past the first round's {} bytes by more than the \
             {in_flight_bytes} bytes reclamation may hold back: {sizes:?}",
            sizes[0]
        );
        for p in 0..pages_n {
            let (at, image) = pages.get_page(&id(p), PageLsn(u64::MAX)).unwrap().unwrap();
            assert_eq!(at, PageLsn(lsn), "{name} page {p}");
            assert!(image == img(p, lsn), "{name} page {p}: wrong image");
            assert!(
                matches!(
                    pages.get_page(&id(p), PageLsn(lsn - 1)),
                    Err(PageError::VersionVacuumed { .. })
                ),
                "{name} page {p}"
            );
        }
        pages.close().unwrap();
    }
}
