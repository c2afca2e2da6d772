//! Model-based tests of the multi-version page store ([`folio::PageStore`]).
//!
//! Random put / get / versions / vacuum / reopen sequences are checked
//! against a reference model: a `BTreeMap<(page id, LSN), image>` and the
//! applied vacuum horizon. Every answer must equal the model's exactly,
//! errors included (`VersionVacuumed`, `BelowHorizon`, `Conflict`,
//! `InvalidPageId`, with their fields). After a reopen the rebuilt LogIndex
//! must answer identically. The workload runs under every configuration of
//! `common::configs()`, then on a crash-simulating file system (states
//! taken between operations must equal the model; states of a process
//! killed at an I/O must lie between the model before and after the
//! operation in flight), and an 8 KiB-image workload checks that vacuumed
//! space is reused.
//!
//! Sizes: `FOLIO_PAGE_MODEL_OPS` operations per configuration (default
//! 1,500), `FOLIO_PAGE_CRASH_CASES` killed workloads (default 24).

#![allow(clippy::cast_possible_truncation)] // test data wraps bytes on purpose

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use common::{configs, env_size, rng, test_config, value_bytes};
use folio::io::{CrashPolicy, CrashVfs};
use folio::{Config, Durability, KvStore, PageError, PageLsn, PageOptions, PageStore, PagedStore};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

// ---------------------------------------------------------------- the model

/// The reference: every stored version and the applied vacuum horizon.
#[derive(Clone, Default, PartialEq, Eq)]
struct Model {
    versions: BTreeMap<(Vec<u8>, u64), Vec<u8>>,
    horizon: u64,
}

/// What an operation returned, with images reduced to length and hash so a
/// mismatch prints readably.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Stored,
    Unchanged,
    Found {
        lsn: u64,
        len: usize,
        hash: u64,
    },
    NotFound,
    Versions(Vec<u64>),
    Vacuumed {
        horizon: u64,
        pages_trimmed: u64,
        versions_removed: u64,
    },
    VersionVacuumed {
        lsn: u64,
        horizon: u64,
    },
    BelowHorizon {
        lsn: u64,
        horizon: u64,
    },
    Conflict {
        lsn: u64,
    },
    InvalidPageId {
        len: usize,
    },
    /// An error of the store underneath (only expected with fault injection).
    StoreError(String),
    /// Anything else: always a failure.
    Unexpected(String),
}

fn hash(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

fn found(lsn: u64, image: &[u8]) -> Outcome {
    Outcome::Found {
        lsn,
        len: image.len(),
        hash: hash(image),
    }
}

impl Model {
    fn floor(&self, id: &[u8], lsn: u64) -> Option<(u64, &Vec<u8>)> {
        self.versions
            .range((id.to_vec(), 0)..=(id.to_vec(), lsn))
            .next_back()
            .map(|((_, l), image)| (*l, image))
    }

    fn lsns(&self, id: &[u8]) -> Vec<u64> {
        self.versions
            .range((id.to_vec(), 0)..=(id.to_vec(), u64::MAX))
            .map(|((_, l), _)| *l)
            .collect()
    }

    fn pages(&self) -> BTreeSet<&[u8]> {
        self.versions.keys().map(|(id, _)| id.as_slice()).collect()
    }

    fn read(&self, id: &[u8], lsn: u64) -> Outcome {
        match self.floor(id, lsn) {
            Some((at, image)) => found(at, image),
            None if lsn < self.horizon => Outcome::VersionVacuumed {
                lsn,
                horizon: self.horizon,
            },
            None => Outcome::NotFound,
        }
    }

    /// A kept version put again is checked first (same bytes: a no-op even
    /// below the horizon); a new version below the horizon is refused.
    fn put(&mut self, id: &[u8], lsn: u64, image: &[u8]) -> Outcome {
        match self.versions.get(&(id.to_vec(), lsn)) {
            Some(old) if old == image => Outcome::Unchanged,
            Some(_) => Outcome::Conflict { lsn },
            None if lsn < self.horizon => Outcome::BelowHorizon {
                lsn,
                horizon: self.horizon,
            },
            None => {
                self.versions.insert((id.to_vec(), lsn), image.to_vec());
                Outcome::Stored
            }
        }
    }

    /// The highest LSN stored. Vacuum keeps each page's newest version at
    /// or below the horizon, so the highest LSN ever put is always stored.
    fn newest(&self) -> u64 {
        self.versions.keys().map(|(_, l)| *l).max().unwrap_or(0)
    }

    /// Per page: keep the newest version at or below the horizon and all
    /// above it. The horizon never passes the highest LSN ever put.
    fn vacuum(&mut self, asked: u64) -> Outcome {
        let horizon = asked.min(self.newest()).max(self.horizon);
        self.horizon = horizon;
        let (mut pages_trimmed, mut versions_removed) = (0, 0);
        let ids: Vec<Vec<u8>> = self.pages().into_iter().map(<[u8]>::to_vec).collect();
        for id in ids {
            let below: Vec<u64> = self
                .lsns(&id)
                .into_iter()
                .filter(|&l| l <= horizon)
                .collect();
            if below.len() > 1 {
                pages_trimmed += 1;
                for &l in &below[..below.len() - 1] {
                    self.versions.remove(&(id.clone(), l));
                    versions_removed += 1;
                }
            }
        }
        Outcome::Vacuumed {
            horizon,
            pages_trimmed,
            versions_removed,
        }
    }

    fn apply(&mut self, ids: &[Vec<u8>], op: &Op) -> Outcome {
        match op {
            Op::Put { page, lsn, image } => self.put(&ids[*page], *lsn, image),
            Op::Get { page, lsn } => self.read(&ids[*page], *lsn),
            Op::Versions { page } => Outcome::Versions(self.lsns(&ids[*page])),
            Op::Vacuum { asked } => self.vacuum(*asked),
            Op::InvalidId { len } => Outcome::InvalidPageId { len: *len },
        }
    }
}

// ------------------------------------------------------------- operations

#[derive(Debug, Clone)]
enum Op {
    Put {
        page: usize,
        lsn: u64,
        image: Vec<u8>,
    },
    Get {
        page: usize,
        lsn: u64,
    },
    Versions {
        page: usize,
    },
    Vacuum {
        asked: u64,
    },
    /// put, get and versions with an id of this (invalid) length.
    InvalidId {
        len: usize,
    },
}

impl Op {
    fn describe(&self, ids: &[Vec<u8>]) -> String {
        let page = |p: &usize| format!("page #{p} ({}-byte id)", ids[*p].len());
        match self {
            Op::Put {
                page: p,
                lsn,
                image,
            } => format!(
                "put {} @ {lsn}, {} bytes (hash {:#x})",
                page(p),
                image.len(),
                hash(image)
            ),
            Op::Get { page: p, lsn } => format!("get {} @ {lsn}", page(p)),
            Op::Versions { page: p } => format!("versions of {}", page(p)),
            Op::Vacuum { asked } => format!("vacuum({asked})"),
            Op::InvalidId { len } => format!("put/get/versions with a {len}-byte page id"),
        }
    }
}

fn observe_read(r: Result<Option<(PageLsn, Vec<u8>)>, PageError>) -> Outcome {
    match r {
        Ok(Some((lsn, image))) => found(lsn.0, &image),
        Ok(None) => Outcome::NotFound,
        Err(e) => observe_error(e),
    }
}

fn observe_error(e: PageError) -> Outcome {
    match e {
        PageError::VersionVacuumed { lsn, horizon } => Outcome::VersionVacuumed {
            lsn: lsn.0,
            horizon: horizon.0,
        },
        PageError::BelowHorizon { lsn, horizon } => Outcome::BelowHorizon {
            lsn: lsn.0,
            horizon: horizon.0,
        },
        PageError::Conflict { lsn } => Outcome::Conflict { lsn: lsn.0 },
        PageError::InvalidPageId { len } => Outcome::InvalidPageId { len },
        PageError::Store(e) => Outcome::StoreError(e.to_string()),
        other => Outcome::Unexpected(format!("{other} ({other:?})")),
    }
}

fn run<S: KvStore + ?Sized>(pages: &PageStore<S>, ids: &[Vec<u8>], op: &Op) -> Outcome {
    match op {
        Op::Put { page, lsn, image } => match pages.put_page(&ids[*page], PageLsn(*lsn), image) {
            Ok(true) => Outcome::Stored,
            Ok(false) => Outcome::Unchanged,
            Err(e) => observe_error(e),
        },
        Op::Get { page, lsn } => observe_read(pages.get_page(&ids[*page], PageLsn(*lsn))),
        Op::Versions { page } => match pages.versions(&ids[*page]) {
            Ok(v) => Outcome::Versions(v.into_iter().map(|l| l.0).collect()),
            Err(e) => observe_error(e),
        },
        Op::Vacuum { asked } => match pages.vacuum(PageLsn(*asked)) {
            Ok(stats) => Outcome::Vacuumed {
                horizon: stats.horizon.0,
                pages_trimmed: stats.pages_trimmed,
                versions_removed: stats.versions_removed,
            },
            Err(e) => observe_error(e),
        },
        Op::InvalidId { len } => {
            let id = vec![0x5Au8; *len];
            let outcomes = [
                match pages.put_page(&id, PageLsn(u64::MAX), b"x") {
                    Ok(stored) => Outcome::Unexpected(format!("put returned Ok({stored})")),
                    Err(e) => observe_error(e),
                },
                observe_read(pages.get_page(&id, PageLsn(u64::MAX))),
                match pages.versions(&id) {
                    Ok(v) => Outcome::Unexpected(format!("versions returned {v:?}")),
                    Err(e) => observe_error(e),
                },
            ];
            outcomes
                .iter()
                .find(|o| **o != Outcome::InvalidPageId { len: *len })
                .cloned()
                .unwrap_or(Outcome::InvalidPageId { len: *len })
        }
    }
}

/// A handful of page ids, 1 to 64 bytes, some prefixes of others and one
/// spelled like another page's version key, so versions of different pages
/// sit side by side in the store. The last one is written rarely.
fn page_ids(rng: &mut StdRng) -> Vec<Vec<u8>> {
    let mut random = |len: usize| {
        let mut id = vec![0u8; len];
        rng.fill(&mut id[..]);
        id
    };
    let tag20 = random(20);
    let mut tag21 = tag20.clone();
    tag21.push(0);
    vec![
        vec![0],
        vec![0, 0],
        vec![0u8; 9], // the key of page [0] at LSN 0, as a page id
        b"rel".to_vec(),
        tag20,
        tag21,
        vec![0xFF; 63],
        random(64),
    ]
}

/// An image: mostly 0 to 3,000 bytes, some full 8 KiB pages.
fn image(rng: &mut StdRng, tag: u64) -> Vec<u8> {
    let len = match rng.gen_range(0..100) {
        0..=4 => 0,
        5..=84 => rng.gen_range(1..3000),
        _ => 8192,
    };
    value_bytes(len, tag)
}

/// A read LSN: mostly next to one of the page's versions or the horizon,
/// where off-by-one answers would show.
fn read_lsn(rng: &mut StdRng, model: &Model, id: &[u8]) -> u64 {
    let h = model.horizon;
    let lsns = model.lsns(id);
    match rng.gen_range(0..100) {
        0..=59 if !lsns.is_empty() => {
            let v = lsns[rng.gen_range(0..lsns.len())];
            match rng.gen_range(0..4) {
                0 => v.saturating_sub(1),
                1 => v,
                2 => v + 1,
                _ => v + rng.gen_range(0..15),
            }
        }
        60..=74 => (h + rng.gen_range(0..3)).saturating_sub(1),
        75..=79 => 0,
        80..=82 => u64::MAX,
        // At or above the horizon, below the page's oldest version.
        83..=89 if lsns.first().is_some_and(|&first| first > h) => rng.gen_range(h..lsns[0]),
        _ => rng.gen_range(0..=h + 250),
    }
}

fn gen_op(rng: &mut StdRng, model: &Model, ids: &[Vec<u8>], tag: u64) -> Op {
    let h = model.horizon;
    let page = rng.gen_range(0..ids.len());
    // The last page gets few new versions, so reads often find none there.
    let put_page = if page + 1 == ids.len() && rng.gen_bool(0.9) {
        rng.gen_range(0..ids.len() - 1)
    } else {
        page
    };
    let existing = |rng: &mut StdRng| {
        let n = model.versions.len();
        (n > 0).then(|| {
            let ((id, lsn), img) = model.versions.iter().nth(rng.gen_range(0..n)).unwrap();
            let page = ids.iter().position(|x| x == id).unwrap();
            (page, *lsn, img.clone())
        })
    };
    match rng.gen_range(0..100) {
        // A new version near the frontier (a few land just below the horizon).
        0..=31 => Op::Put {
            page: put_page,
            lsn: rng.gen_range(h.saturating_sub(20)..=h + 200),
            image: image(rng, tag),
        },
        // The same version again: nothing changes.
        32..=39 => match existing(rng) {
            Some((page, lsn, image)) => Op::Put { page, lsn, image },
            None => Op::Versions { page },
        },
        // An existing version with different bytes: a conflict.
        40..=44 => match existing(rng) {
            Some((page, lsn, mut image)) => {
                if image.is_empty() || rng.gen_bool(0.3) {
                    image.push(rng.gen());
                } else {
                    let i = rng.gen_range(0..image.len());
                    image[i] ^= 1 << rng.gen_range(0..8);
                }
                Op::Put { page, lsn, image }
            }
            None => Op::Versions { page },
        },
        // Far below the horizon.
        45..=47 => Op::Put {
            page: put_page,
            lsn: rng.gen_range(0..=h),
            image: image(rng, tag),
        },
        48..=79 => Op::Get {
            page,
            lsn: read_lsn(rng, model, &ids[page]),
        },
        80..=87 => Op::Versions { page },
        // Mostly forward, sometimes at or below the applied horizon.
        88..=97 => Op::Vacuum {
            asked: if rng.gen_bool(0.3) {
                rng.gen_range(0..=h)
            } else {
                h + rng.gen_range(0..=40)
            },
        },
        _ => Op::InvalidId {
            len: if rng.gen_bool(0.5) {
                0
            } else {
                folio::page::MAX_PAGE_ID_BYTES + 1 + rng.gen_range(0..8)
            },
        },
    }
}

// ----------------------------------------------------------------- checks

/// LSNs worth reading page `id` at: every version and its neighbours, the
/// horizon and its neighbours, 0 and `u64::MAX`.
fn probes(models: &[&Model], id: &[u8]) -> Vec<u64> {
    let mut at = BTreeSet::from([0, u64::MAX]);
    for model in models {
        for v in model.lsns(id) {
            at.extend([v.saturating_sub(1), v, v.saturating_add(1)]);
        }
        let h = model.horizon;
        at.extend([h.saturating_sub(1), h, h.saturating_add(1)]);
    }
    at.into_iter().collect()
}

/// Everything the page store answers equals the model: every page's
/// versions, reads at every interesting LSN, the horizon, the index size.
fn check_all<S: KvStore + ?Sized>(pages: &PageStore<S>, model: &Model, ids: &[Vec<u8>], ctx: &str) {
    for (p, id) in ids.iter().enumerate() {
        let got: Vec<u64> = pages
            .versions(id)
            .unwrap()
            .into_iter()
            .map(|l| l.0)
            .collect();
        assert_eq!(got, model.lsns(id), "{ctx}: versions of page #{p}");
        for lsn in probes(&[model], id) {
            assert_eq!(
                observe_read(pages.get_page(id, PageLsn(lsn))),
                model.read(id, lsn),
                "{ctx}: get page #{p} ({}-byte id) @ {lsn}",
                id.len()
            );
        }
    }
    assert_eq!(
        pages.vacuum_horizon(),
        PageLsn(model.horizon),
        "{ctx}: horizon"
    );
    let stats = pages.stats();
    assert_eq!(stats.vacuum_horizon, model.horizon, "{ctx}: stats horizon");
    assert_eq!(
        stats.index.versions,
        model.versions.len() as u64,
        "{ctx}: index versions"
    );
    assert_eq!(
        stats.index.pages,
        model.pages().len() as u64,
        "{ctx}: index pages"
    );
}

/// Counters a page store keeps since it was opened.
#[derive(Default)]
struct SinceOpen {
    vacuums: u64,
    removed: u64,
}

fn check_stats<S: KvStore + ?Sized>(
    pages: &PageStore<S>,
    model: &Model,
    since: &SinceOpen,
    ctx: &str,
) {
    let stats = pages.stats();
    assert_eq!(
        (
            stats.index.versions,
            stats.index.pages,
            stats.vacuum_horizon,
            stats.vacuums,
            stats.versions_vacuumed,
            stats.live_nodes
        ),
        (
            model.versions.len() as u64,
            model.pages().len() as u64,
            model.horizon,
            since.vacuums,
            since.removed,
            0
        ),
        "{ctx}: stats (index versions, index pages, horizon, vacuums, versions vacuumed, live nodes)"
    );
    assert_eq!(pages.vacuum_horizon(), PageLsn(model.horizon), "{ctx}");
}

fn options() -> PageOptions {
    let mut opts = PageOptions::default();
    opts.background = false;
    opts
}

// ------------------------------------------------------- model workloads

/// Runs the random workload, closing and reopening the page store (and the
/// store underneath, via `open`) now and then.
fn run_model_case<S: KvStore + ?Sized + 'static>(name: &str, open: &dyn Fn() -> Arc<S>) {
    let ops = env_size("FOLIO_PAGE_MODEL_OPS", 1500);
    let mut rng = rng(name);
    let ids = page_ids(&mut rng);
    let mut model = Model::default();
    let mut pages = PageStore::open(open(), options()).unwrap();
    let mut since = SinceOpen::default();
    let (mut reopens, mut vacuums, mut removed) = (0, 0, 0);
    let mut seen = BTreeMap::<&'static str, u64>::new();
    for step in 0..ops as u64 {
        if rng.gen_range(0..100) < 2 {
            pages.close().unwrap();
            drop(pages);
            pages = PageStore::open(open(), options()).unwrap();
            since = SinceOpen::default();
            reopens += 1;
            check_all(
                &pages,
                &model,
                &ids,
                &format!("{name} step {step}: after reopen"),
            );
            continue;
        }
        let op = gen_op(&mut rng, &model, &ids, step);
        let expected = model.apply(&ids, &op);
        let got = run(&pages, &ids, &op);
        assert_eq!(got, expected, "{name} step {step}: {}", op.describe(&ids));
        *seen.entry(kind(&got)).or_default() += 1;
        if let Outcome::Vacuumed {
            versions_removed, ..
        } = got
        {
            since.vacuums += 1;
            since.removed += versions_removed;
            vacuums += 1;
            removed += versions_removed;
        }
        check_stats(&pages, &model, &since, &format!("{name} step {step}"));
        if step % 250 == 249 {
            check_all(&pages, &model, &ids, &format!("{name} step {step}"));
        }
    }
    check_all(&pages, &model, &ids, &format!("{name} at the end"));
    pages.close().unwrap();
    drop(pages);
    let pages = PageStore::open(open(), options()).unwrap();
    check_all(
        &pages,
        &model,
        &ids,
        &format!("{name} after the last reopen"),
    );
    pages.close().unwrap();
    eprintln!(
        "{name}: {ops} ops, {reopens} reopens, {vacuums} vacuums removed {removed} versions, \
         {} versions and horizon {} at the end; outcomes {seen:?}",
        model.versions.len(),
        model.horizon
    );
    // The workload must have reached every interesting answer.
    for k in [
        "stored",
        "unchanged",
        "found",
        "not-found",
        "version-vacuumed",
        "below-horizon",
        "conflict",
        "vacuumed",
    ] {
        if ops >= 1000 {
            assert!(
                seen.contains_key(k),
                "{name}: no '{k}' outcome in {ops} ops: {seen:?}"
            );
        }
    }
}

fn kind(o: &Outcome) -> &'static str {
    match o {
        Outcome::Stored => "stored",
        Outcome::Unchanged => "unchanged",
        Outcome::Found { .. } => "found",
        Outcome::NotFound => "not-found",
        Outcome::Versions(_) => "versions",
        Outcome::Vacuumed { .. } => "vacuumed",
        Outcome::VersionVacuumed { .. } => "version-vacuumed",
        Outcome::BelowHorizon { .. } => "below-horizon",
        Outcome::Conflict { .. } => "conflict",
        Outcome::InvalidPageId { .. } => "invalid-id",
        Outcome::StoreError(_) => "store-error",
        Outcome::Unexpected(_) => "unexpected",
    }
}

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

/// The default configuration, opened through the registry as a
/// `dyn KvStore`.
#[test]
fn model_default_through_the_registry() {
    let config = named_config("default");
    let dir = tempfile::tempdir().unwrap();
    let open =
        || -> Arc<dyn KvStore> { Arc::from(folio::open("paged", dir.path(), &config).unwrap()) };
    run_model_case("page_model/default-registry", &open);
}

/// The same workload over the memory engine, opened through the registry.
#[test]
fn model_memory_engine_through_the_registry() {
    let config = named_config("default");
    let dir = tempfile::tempdir().unwrap();
    let open =
        || -> Arc<dyn KvStore> { Arc::from(folio::open("memory", dir.path(), &config).unwrap()) };
    run_model_case("page_model/memory-registry", &open);
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
