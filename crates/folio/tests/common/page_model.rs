//! The page store's reference model and random workload, shared by
//! `tests/page_model.rs` (the native engine, crashes, space reuse) and
//! crates/folio-peers/tests/page_store.rs (every engine of the build).
//!
//! Random put / get / versions / vacuum / reopen sequences are checked
//! against a `BTreeMap<(page id, LSN), image>` and the applied vacuum
//! horizon. Every answer must equal the model's exactly, errors included
//! (`VersionVacuumed`, `BelowHorizon`, `Conflict`, `InvalidPageId`, with
//! their fields). After a reopen the rebuilt LogIndex must answer
//! identically.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::{env_size, rng, value_bytes};
use folio::{KvStore, PageError, PageLsn, PageOptions, PageStore};
use rand::rngs::StdRng;
use rand::Rng;

// ---------------------------------------------------------------- the model

/// The reference: every stored version and the applied vacuum horizon.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Model {
    pub versions: BTreeMap<(Vec<u8>, u64), Vec<u8>>,
    pub horizon: u64,
}

/// What an operation returned, with images reduced to length and hash so a
/// mismatch prints readably.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
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

pub fn hash(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

pub fn found(lsn: u64, image: &[u8]) -> Outcome {
    Outcome::Found {
        lsn,
        len: image.len(),
        hash: hash(image),
    }
}

impl Model {
    pub fn floor(&self, id: &[u8], lsn: u64) -> Option<(u64, &Vec<u8>)> {
        self.versions
            .range((id.to_vec(), 0)..=(id.to_vec(), lsn))
            .next_back()
            .map(|((_, l), image)| (*l, image))
    }

    pub fn lsns(&self, id: &[u8]) -> Vec<u64> {
        self.versions
            .range((id.to_vec(), 0)..=(id.to_vec(), u64::MAX))
            .map(|((_, l), _)| *l)
            .collect()
    }

    pub fn pages(&self) -> BTreeSet<&[u8]> {
        self.versions.keys().map(|(id, _)| id.as_slice()).collect()
    }

    pub fn read(&self, id: &[u8], lsn: u64) -> Outcome {
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
    pub fn put(&mut self, id: &[u8], lsn: u64, image: &[u8]) -> Outcome {
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
    pub fn newest(&self) -> u64 {
        self.versions.keys().map(|(_, l)| *l).max().unwrap_or(0)
    }

    /// Per page: keep the newest version at or below the horizon and all
    /// above it. The horizon never passes the highest LSN ever put.
    pub fn vacuum(&mut self, asked: u64) -> Outcome {
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

    pub fn apply(&mut self, ids: &[Vec<u8>], op: &Op) -> Outcome {
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
pub enum Op {
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
    pub fn describe(&self, ids: &[Vec<u8>]) -> String {
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

pub fn observe_read(r: Result<Option<(PageLsn, Vec<u8>)>, PageError>) -> Outcome {
    match r {
        Ok(Some((lsn, image))) => found(lsn.0, &image),
        Ok(None) => Outcome::NotFound,
        Err(e) => observe_error(e),
    }
}

pub fn observe_error(e: PageError) -> Outcome {
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

pub fn run<S: KvStore + ?Sized>(pages: &PageStore<S>, ids: &[Vec<u8>], op: &Op) -> Outcome {
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
pub fn page_ids(rng: &mut StdRng) -> Vec<Vec<u8>> {
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
pub fn image(rng: &mut StdRng, tag: u64) -> Vec<u8> {
    let len = match rng.gen_range(0..100) {
        0..=4 => 0,
        5..=84 => rng.gen_range(1..3000),
        _ => 8192,
    };
    value_bytes(len, tag)
}

/// A read LSN: mostly next to one of the page's versions or the horizon,
/// where off-by-one answers would show.
pub fn read_lsn(rng: &mut StdRng, model: &Model, id: &[u8]) -> u64 {
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

pub fn gen_op(rng: &mut StdRng, model: &Model, ids: &[Vec<u8>], tag: u64) -> Op {
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
pub fn probes(models: &[&Model], id: &[u8]) -> Vec<u64> {
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
pub fn check_all<S: KvStore + ?Sized>(
    pages: &PageStore<S>,
    model: &Model,
    ids: &[Vec<u8>],
    ctx: &str,
) {
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
pub struct SinceOpen {
    pub vacuums: u64,
    pub removed: u64,
}

pub fn check_stats<S: KvStore + ?Sized>(
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

pub fn options() -> PageOptions {
    let mut opts = PageOptions::default();
    opts.background = false;
    opts
}

// ------------------------------------------------------- model workloads

/// Runs the random workload, closing and reopening the page store (and the
/// store underneath, via `open`) now and then.
pub fn run_model_case<S: KvStore + ?Sized + 'static>(name: &str, open: &dyn Fn() -> Arc<S>) {
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

pub fn kind(o: &Outcome) -> &'static str {
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
