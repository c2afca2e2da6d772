//! The page store under concurrent readers, writers and vacuum.
//!
//! Every page starts with versions at LSNs 10, 20, ..., 400; images are a
//! function of (page, LSN), so a reader can check the bytes it got.
//!
//! - Readers pinned at LSNs at or above every horizon vacuum is given must
//!   keep getting exactly their versions while writers add versions above
//!   every reader (and, on pages of their own, between the readers' LSNs)
//!   and vacuum runs.
//! - Readers asking below the horizon while vacuum raises it must get the
//!   right historical version or `VersionVacuumed`: never "not found",
//!   never another version, and never a version back once it was reported
//!   vacuumed.
//!
//! Even rounds vacuum with one-delete batches (a page's versions leave the
//! store right after they leave the index, inside readers' windows), odd
//! rounds with the default batches.
//!
//! Size: `FOLIO_PAGE_CONCURRENCY_ROUNDS` rounds per test (default 4), each
//! on a fresh store; `FOLIO_PAGE_CONCURRENCY_READS` reads per reader
//! thread per round (default 2,500).

#![allow(clippy::cast_possible_truncation)] // test data wraps bytes on purpose

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use common::{env_size, rng, test_config, Place};
use folio::{PageError, PageLsn, PageOptions, PageStore, PagedStore};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

type Pages = PageStore<PagedStore>;

/// Initial versions are at `STEP`, `2 * STEP`, ..., `TOP`.
const STEP: u64 = 10;
const TOP: u64 = 400;

/// Page ids of a few lengths (3 to 24 bytes).
fn page_id(page: u64) -> Vec<u8> {
    let mut id = format!("r{}/{page}", page % 3).into_bytes();
    id.extend(std::iter::repeat_n(b'.', (page % 4 * 6) as usize));
    id
}

/// The image of version `lsn` of page `page`: 0 to 3,000 bytes or a full
/// 8 KiB page, every byte a function of (page, lsn, offset).
fn image(page: u64, lsn: u64) -> Vec<u8> {
    let len = if (page + lsn / STEP).is_multiple_of(5) {
        8192
    } else {
        ((page * 977 + lsn * 131) % 3000) as usize
    };
    let seed = page.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ lsn.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    (0..len)
        .map(|i| (seed >> ((i % 8) * 8)) as u8 ^ (i / 8) as u8)
        .collect()
}

fn hash(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

/// A read's result, images as length and hash.
fn describe(r: &Result<Option<(PageLsn, Vec<u8>)>, PageError>) -> String {
    match r {
        Ok(Some((lsn, img))) => {
            format!("version {lsn} ({} bytes, hash {:#x})", img.len(), hash(img))
        }
        Ok(None) => "no version (None)".to_string(),
        Err(e) => format!("error: {e}"),
    }
}

/// The newest initial version at or below `lsn`.
fn initial_floor(lsn: u64) -> Option<u64> {
    (lsn >= STEP).then(|| (lsn / STEP * STEP).min(TOP))
}

/// No background thread; vacuum commits a delete batch after every
/// `batch` versions (1: each page's deletes land right after its trim, so
/// a reader's index lookup and store read straddle them more often).
fn options(batch: usize) -> PageOptions {
    let mut opts = PageOptions::default();
    opts.background = false;
    opts.vacuum_batch_ops = batch;
    opts
}

/// A fresh page store on an in-memory file system with a small buffer pool
/// (reads evict and write back pages while vacuum deletes), filled with
/// the initial versions of `pages` pages.
fn setup(place: &Place, pages: u64, batch: usize) -> Pages {
    let mut config = test_config();
    config.cache_bytes = 32 * 8192;
    let store = PageStore::open(Arc::new(place.open(&config)), options(batch)).unwrap();
    for p in 0..pages {
        for lsn in (STEP..=TOP).step_by(STEP as usize) {
            assert!(store
                .put_page(&page_id(p), PageLsn(lsn), &image(p, lsn))
                .unwrap());
        }
    }
    store
}

/// Checks that `got` is version `lsn` of page `page`, bytes included.
fn expect_version(
    got: &Result<Option<(PageLsn, Vec<u8>)>, PageError>,
    page: u64,
    lsn: u64,
    ctx: &dyn Fn() -> String,
) {
    let ok = matches!(got, Ok(Some((at, img))) if at.0 == lsn && *img == image(page, lsn));
    if !ok {
        let want = image(page, lsn);
        panic!(
            "{}: expected version {lsn} ({} bytes, hash {:#x}), got {}",
            ctx(),
            want.len(),
            hash(&want),
            describe(got)
        );
    }
}

/// Readers pinned at fixed LSNs while writers add versions and vacuum
/// runs at horizons at or below every reader's LSN.
///
/// Pages `0..FIXED` get new versions only above every reader's LSN, so a
/// reader's answer never changes. Pages `FIXED..FIXED + BETWEEN` also get
/// versions between the readers' LSNs (above the vacuum limit): a reader
/// there must see the newest version acknowledged before its read began,
/// or a newer one at or below its LSN, never an older one and never going
/// back.
#[test]
fn pinned_readers_keep_their_versions_while_writers_and_vacuum_run() {
    const FIXED: u64 = 24;
    const BETWEEN: u64 = 8;
    let rounds = env_size("FOLIO_PAGE_CONCURRENCY_ROUNDS", 4);
    let reads = env_size("FOLIO_PAGE_CONCURRENCY_READS", 2_500);
    let mut rng = rng("page_concurrency/pinned_readers");
    // Two reader LSNs per round; the vacuum limit is the lower one.
    let pins: [[u64; 2]; 4] = [[200, 400], [235, 310], [200, 333], [260, 399]];
    for round in 0..rounds {
        let pin = pins[round % pins.len()];
        let limit = pin[0].min(pin[1]);
        let place = Place::memory();
        let pages = setup(
            &place,
            FIXED + BETWEEN,
            if round % 2 == 0 { 1 } else { 1024 },
        );
        // Between-versions: every non-multiple of STEP in (limit, TOP], a
        // random few per page, in random order; acked[page] has bit
        // `lsn - limit - 1` set once the put of `lsn` returned.
        let mut between: Vec<(u64, u64)> = (FIXED..FIXED + BETWEEN)
            .flat_map(|p| {
                (limit + 1..=TOP)
                    .filter(|l| l % STEP != 0)
                    .map(move |l| (p, l))
            })
            .filter(|_| rng.gen_bool(0.15))
            .collect();
        between.shuffle(&mut rng);
        assert!(TOP - limit <= 256, "acked bitmaps hold 256 LSNs");
        let acked: Vec<[AtomicU64; 4]> = (0..BETWEEN).map(|_| Default::default()).collect();
        let done_readers = AtomicU64::new(0);
        let removed = AtomicU64::new(0);
        let (writes, conflicts) = (AtomicU64::new(0), AtomicU64::new(0));
        let seeds: Vec<u64> = (0..4).map(|_| rng.gen()).collect();
        let ctx = |what: String| format!("round {round} (readers at {pin:?}): {what}");
        std::thread::scope(|s| {
            // Readers.
            for (r, &at) in pin.iter().enumerate() {
                let (pages, acked, done_readers, ctx) = (&pages, &acked, &done_readers, &ctx);
                let seed = seeds[r];
                s.spawn(move || {
                    let mut rng = StdRng::seed_from_u64(seed);
                    // Per between-page: the newest version this reader saw.
                    let mut seen = vec![0u64; BETWEEN as usize];
                    for i in 0..reads {
                        let p = rng.gen_range(0..FIXED + BETWEEN);
                        let id = page_id(p);
                        if p < FIXED {
                            let got = pages.get_page(&id, PageLsn(at));
                            let want = initial_floor(at).unwrap();
                            expect_version(&got, p, want, &|| {
                                ctx(format!("reader {r} read {i}: page {p} @ {at}"))
                            });
                            continue;
                        }
                        let b = (p - FIXED) as usize;
                        // The newest between-version at or below `at` acked
                        // before the read.
                        let mut floor = initial_floor(at).unwrap().max(seen[b]);
                        for (w, word) in acked[b].iter().enumerate() {
                            let mut bits = word.load(Ordering::Acquire);
                            while bits != 0 {
                                let lsn =
                                    limit + 1 + w as u64 * 64 + u64::from(bits.trailing_zeros());
                                bits &= bits - 1;
                                if lsn <= at {
                                    floor = floor.max(lsn);
                                }
                            }
                        }
                        let got = pages.get_page(&id, PageLsn(at));
                        let found = match &got {
                            Ok(Some((lsn, _))) => lsn.0,
                            _ => u64::MAX,
                        };
                        let legal =
                            found >= floor && found <= at && (found % STEP == 0 || found > limit);
                        if !legal {
                            panic!(
                                "{}: got {}, expected a version in {floor}..={at}",
                                ctx(format!("reader {r} read {i}: between-page {p} @ {at}")),
                                describe(&got)
                            );
                        }
                        expect_version(&got, p, found, &|| {
                            ctx(format!("reader {r} read {i}: between-page {p} @ {at}"))
                        });
                        seen[b] = found;
                    }
                    done_readers.fetch_add(1, Ordering::Release);
                });
            }
            // Writer: versions above every reader, re-puts, conflicts, and
            // the between-versions.
            {
                let (pages, acked, done_readers, between, ctx) =
                    (&pages, &acked, &done_readers, &between, &ctx);
                let (writes, conflicts) = (&writes, &conflicts);
                let seed = seeds[2];
                s.spawn(move || {
                    let mut rng = StdRng::seed_from_u64(seed);
                    let mut next_above = TOP + 1;
                    let mut between = between.iter();
                    while done_readers.load(Ordering::Acquire) < 2 {
                        let p = rng.gen_range(0..FIXED + BETWEEN);
                        let id = page_id(p);
                        match rng.gen_range(0..10) {
                            0..=3 => {
                                let lsn = next_above;
                                next_above += 1;
                                let stored = pages.put_page(&id, PageLsn(lsn), &image(p, lsn));
                                assert!(
                                    matches!(stored, Ok(true)),
                                    "{}: {stored:?}",
                                    ctx(format!("put page {p} @ {lsn}"))
                                );
                                writes.fetch_add(1, Ordering::Relaxed);
                            }
                            4 | 5 => {
                                // An initial version at or above the vacuum
                                // limit: same bytes change nothing.
                                let lsn = TOP - rng.gen_range(0..(TOP - limit) / STEP) * STEP;
                                let again = pages.put_page(&id, PageLsn(lsn), &image(p, lsn));
                                assert!(
                                    matches!(again, Ok(false)),
                                    "{}: {again:?}",
                                    ctx(format!("re-put page {p} @ {lsn}"))
                                );
                                let mut other = image(p, lsn);
                                other.push(1);
                                let conflict = pages.put_page(&id, PageLsn(lsn), &other);
                                assert!(
                                    matches!(conflict, Err(PageError::Conflict { lsn: l }) if l.0 == lsn),
                                    "{}: {conflict:?}",
                                    ctx(format!("conflicting put page {p} @ {lsn}"))
                                );
                                conflicts.fetch_add(1, Ordering::Relaxed);
                            }
                            _ => {
                                let Some(&(p, lsn)) = between.next() else {
                                    std::thread::yield_now();
                                    continue;
                                };
                                let stored =
                                    pages.put_page(&page_id(p), PageLsn(lsn), &image(p, lsn));
                                assert!(
                                    matches!(stored, Ok(true)),
                                    "{}: {stored:?}",
                                    ctx(format!("between-put page {p} @ {lsn}"))
                                );
                                let bit = lsn - limit - 1;
                                acked[(p - FIXED) as usize][(bit / 64) as usize]
                                    .fetch_or(1 << (bit % 64), Ordering::Release);
                                writes.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                });
            }
            // Vacuum: random horizons up to the lower reader LSN, creeping
            // up so trims overlap the reads; some below the applied one.
            {
                let (pages, done_readers, removed, ctx) = (&pages, &done_readers, &removed, &ctx);
                let seed = seeds[3];
                s.spawn(move || {
                    let mut rng = StdRng::seed_from_u64(seed);
                    let mut applied = 0;
                    while done_readers.load(Ordering::Acquire) < 2 {
                        let asked = if rng.gen_bool(0.2) {
                            rng.gen_range(0..=applied)
                        } else {
                            (applied + rng.gen_range(0..=4)).min(limit)
                        };
                        let stats = pages.vacuum(PageLsn(asked)).unwrap();
                        applied = applied.max(asked);
                        assert_eq!(
                            stats.horizon,
                            PageLsn(applied),
                            "{}",
                            ctx(format!("vacuum({asked})"))
                        );
                        removed.fetch_add(stats.versions_removed, Ordering::Relaxed);
                        std::thread::yield_now();
                    }
                });
            }
        });
        // Afterwards: vacuum to the limit, then every page's versions are
        // known exactly.
        let last = pages.vacuum(PageLsn(limit)).unwrap();
        let removed = removed.load(Ordering::Relaxed) + last.versions_removed;
        let below_floor = (initial_floor(limit).unwrap() - STEP) / STEP; // per page
        assert_eq!(
            removed,
            (FIXED + BETWEEN) * below_floor,
            "{}",
            ctx("versions removed by all vacuums".into())
        );
        let mut total = 0;
        for p in 0..FIXED + BETWEEN {
            let versions: Vec<u64> = pages
                .versions(&page_id(p))
                .unwrap()
                .into_iter()
                .map(|l| l.0)
                .collect();
            assert_eq!(
                versions.first().copied(),
                initial_floor(limit),
                "{}",
                ctx(format!("oldest version of page {p}"))
            );
            assert!(versions.windows(2).all(|w| w[0] < w[1]));
            total += versions.len() as u64;
            for &lsn in &versions {
                let got = pages.get_page(&page_id(p), PageLsn(lsn));
                expect_version(&got, p, lsn, &|| {
                    ctx(format!("final read page {p} @ {lsn}"))
                });
            }
        }
        let initial = (FIXED + BETWEEN) * (TOP / STEP);
        assert_eq!(
            total,
            initial + writes.load(Ordering::Relaxed) - removed,
            "{}",
            ctx("versions at the end".into())
        );
        assert_eq!(pages.stats().index.versions, total);
        eprintln!(
            "round {round}: readers at {pin:?}, {} writes, {} conflicts, {removed} versions vacuumed",
            writes.load(Ordering::Relaxed),
            conflicts.load(Ordering::Relaxed)
        );
        pages.close().unwrap();
    }
}

/// Readers at random LSNs, most below the horizon, while vacuum raises the
/// horizon from 0 to the top in small steps and a writer adds versions far
/// above. Each answer must be the right historical version or
/// `VersionVacuumed` with a horizon that explains it.
#[test]
fn reads_below_the_horizon_get_history_or_version_vacuumed() {
    const PAGES: u64 = 32;
    let rounds = env_size("FOLIO_PAGE_CONCURRENCY_ROUNDS", 4);
    let mut rng = rng("page_concurrency/reads_below_the_horizon");
    for round in 0..rounds {
        let place = Place::memory();
        let pages = setup(&place, PAGES, if round % 2 == 0 { 1 } else { 1024 });
        // The horizon of the last vacuum that returned.
        let finished = AtomicU64::new(0);
        let vacuum_done = AtomicBool::new(false);
        let removed = AtomicU64::new(0);
        let outcomes = Mutex::new([0u64; 4]); // found, vacuumed, none, total
        let seeds: Vec<u64> = (0..4).map(|_| rng.gen()).collect();
        std::thread::scope(|s| {
            for (r, &seed) in seeds.iter().enumerate().take(2) {
                let (pages, finished, vacuum_done, outcomes) =
                    (&pages, &finished, &vacuum_done, &outcomes);
                s.spawn(move || {
                    let mut rng = StdRng::seed_from_u64(seed);
                    let mut counts = [0u64; 4];
                    // Per page: the highest LSN this reader was told was
                    // vacuumed (versions never come back).
                    let mut gone = vec![0u64; PAGES as usize];
                    let mut tail = 200; // reads after the vacuum is over
                    for i in 0u64.. {
                        if vacuum_done.load(Ordering::Acquire) {
                            if tail == 0 {
                                break;
                            }
                            tail -= 1;
                        }
                        let p = rng.gen_range(0..PAGES);
                        let at = match rng.gen_range(0..10) {
                            0 => rng.gen_range(0..STEP),
                            1 => TOP + rng.gen_range(0..50),
                            _ => rng.gen_range(STEP..TOP),
                        };
                        let done_before = finished.load(Ordering::Acquire);
                        let h_before = pages.vacuum_horizon().0;
                        let got = pages.get_page(&page_id(p), PageLsn(at));
                        let h_after = pages.vacuum_horizon().0;
                        let ctx = || {
                            format!(
                                "round {round} reader {r} read {i}: page {p} @ {at} (horizon {h_before} \
                                 before, {h_after} after; vacuum at {done_before} finished before)"
                            )
                        };
                        counts[3] += 1;
                        match &got {
                            Ok(Some(_)) => {
                                counts[0] += 1;
                                let Some(want) = initial_floor(at) else {
                                    panic!("{}: got {}, no version exists", ctx(), describe(&got));
                                };
                                expect_version(&got, p, want, &ctx);
                                // Gone for sure once a vacuum whose kept
                                // version is above `at` returned.
                                let kept = initial_floor(done_before);
                                assert!(
                                    kept.is_none_or(|k| k <= at),
                                    "{}: got {}, but the vacuum at {done_before} had removed it",
                                    ctx(),
                                    describe(&got)
                                );
                                assert!(
                                    at >= gone[p as usize],
                                    "{}: got {}, but an earlier read at {} was told vacuumed",
                                    ctx(),
                                    describe(&got),
                                    gone[p as usize]
                                );
                            }
                            Ok(None) => {
                                counts[2] += 1;
                                // Only with no version at or below `at`, and
                                // the horizon not above it.
                                assert!(
                                    at < STEP && h_before <= at,
                                    "{}: got {}",
                                    ctx(),
                                    describe(&got)
                                );
                            }
                            Err(PageError::VersionVacuumed { lsn, horizon }) => {
                                counts[1] += 1;
                                let horizon = horizon.0;
                                let explained = lsn.0 == at
                                    && at < horizon
                                    && (h_before..=h_after).contains(&horizon)
                                    && initial_floor(at)
                                        .is_none_or(|f| initial_floor(horizon).unwrap() > f);
                                assert!(explained, "{}: got {}", ctx(), describe(&got));
                                gone[p as usize] = gone[p as usize].max(at);
                            }
                            Err(_) => panic!("{}: got {}", ctx(), describe(&got)),
                        }
                    }
                    let mut all = outcomes.lock().unwrap();
                    for (a, c) in all.iter_mut().zip(counts) {
                        *a += c;
                    }
                });
            }
            // Writer: versions far above every read.
            {
                let (pages, vacuum_done) = (&pages, &vacuum_done);
                let seed = seeds[2];
                s.spawn(move || {
                    let mut rng = StdRng::seed_from_u64(seed);
                    let mut lsn = 10 * TOP;
                    while !vacuum_done.load(Ordering::Acquire) {
                        let p = rng.gen_range(0..PAGES);
                        lsn += 1;
                        assert!(
                            matches!(
                                pages.put_page(&page_id(p), PageLsn(lsn), &image(p, lsn)),
                                Ok(true)
                            ),
                            "round {round}: writer put page {p} @ {lsn}"
                        );
                    }
                });
            }
            // Vacuum: from 0 to TOP in small random steps.
            {
                let (pages, finished, vacuum_done, removed) =
                    (&pages, &finished, &vacuum_done, &removed);
                let seed = seeds[3];
                s.spawn(move || {
                    let mut rng = StdRng::seed_from_u64(seed);
                    let mut h = 0;
                    while h < TOP {
                        h = (h + rng.gen_range(1..=3)).min(TOP);
                        let stats = pages.vacuum(PageLsn(h)).unwrap();
                        assert_eq!(stats.horizon, PageLsn(h), "round {round}: vacuum({h})");
                        removed.fetch_add(stats.versions_removed, Ordering::Relaxed);
                        finished.store(h, Ordering::Release);
                        // Let the readers in between steps.
                        std::thread::yield_now();
                    }
                    vacuum_done.store(true, Ordering::Release);
                });
            }
        });
        let removed = removed.load(Ordering::Relaxed);
        assert_eq!(
            removed,
            PAGES * (TOP / STEP - 1),
            "round {round}: every version below {TOP} removed once"
        );
        for p in 0..PAGES {
            let versions = pages.versions(&page_id(p)).unwrap();
            assert_eq!(
                versions.first(),
                Some(&PageLsn(TOP)),
                "round {round} page {p}"
            );
            let got = pages.get_page(&page_id(p), PageLsn(TOP - 1));
            assert!(
                matches!(got, Err(PageError::VersionVacuumed { .. })),
                "round {round} page {p} @ {}: {}",
                TOP - 1,
                describe(&got)
            );
        }
        let [found, vacuumed, none, total] = *outcomes.lock().unwrap();
        eprintln!(
            "round {round}: {total} reads: {found} versions, {vacuumed} vacuumed, {none} none; \
             {removed} versions vacuumed"
        );
        assert!(
            found > 0 && vacuumed > 0,
            "round {round}: the reads did not overlap the vacuum"
        );
        pages.close().unwrap();
    }
}

/// A put that passed the horizon check before a concurrent vacuum raised
/// the horizon, on a page vacuum did not see as a trim candidate, must not
/// leave behind a version vacuum should have removed: when both return Ok,
/// either order of the two leaves the page one version at or below the
/// horizon ([30, 50] here), never [10, 30, 50]. (Vacuum quiesces the put
/// locks after raising the horizon; this failed before it did.)
#[test]
fn a_put_racing_a_vacuum_leaves_nothing_the_vacuum_should_remove() {
    const PAGES: u32 = 64;
    let trials = env_size("FOLIO_PAGE_CONCURRENCY_ROUNDS", 4) * 50;
    for trial in 0..trials {
        let place = Place::memory();
        let mut config = test_config();
        config.durability = if trial % 2 == 0 {
            folio::Durability::None
        } else {
            folio::Durability::Sync
        };
        let pages = PageStore::open(Arc::new(place.open(&config)), options(1024)).unwrap();
        let id = |p: u32| p.to_be_bytes();
        for p in 0..PAGES {
            pages.put_page(&id(p), PageLsn(10), b"ten").unwrap();
            pages.put_page(&id(p), PageLsn(50), b"fifty").unwrap();
        }
        let stored = std::thread::scope(|s| {
            let writer = s.spawn(|| {
                (0..PAGES)
                    .map(|p| match pages.put_page(&id(p), PageLsn(30), b"thirty") {
                        Ok(stored) => stored,
                        Err(PageError::BelowHorizon { .. }) => false,
                        Err(e) => panic!("trial {trial}: put page {p} @ 30: {e}"),
                    })
                    .collect::<Vec<bool>>()
            });
            let delay_us = (trial % 20) as u64 * 20;
            std::thread::sleep(std::time::Duration::from_micros(delay_us));
            pages.vacuum(PageLsn(40)).unwrap();
            writer.join().unwrap()
        });
        for p in 0..PAGES {
            let versions: Vec<u64> = pages
                .versions(&id(p))
                .unwrap()
                .into_iter()
                .map(|l| l.0)
                .collect();
            let expected: &[u64] = if stored[p as usize] {
                &[30, 50]
            } else {
                &[10, 50]
            };
            assert_eq!(
                versions,
                expected,
                "trial {trial} ({:?}): page {p} after put(30) returned {} and vacuum(40) \
                 returned Ok; get_page @ 15 now returns {}",
                config.durability,
                if stored[p as usize] {
                    "Ok(true)"
                } else {
                    "BelowHorizon"
                },
                describe(&pages.get_page(&id(p), PageLsn(15)))
            );
        }
        pages.close().unwrap();
    }
}
