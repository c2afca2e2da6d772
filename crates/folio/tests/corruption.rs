//! Damage to a closed store's files is refused or reported, never read
//! back as wrong data.
//!
//! A store is built in memory (small values, 8 KiB page images, multi-page
//! values, empty values; overwrites, deletes, batches and checkpoints over
//! two sessions) and closed cleanly. Each case takes a fresh copy of its
//! files, damages one of them (a segment, a WAL file, the checkpoint or the
//! superblock) in one way (one bit flipped, one byte overwritten, an aligned
//! 4 KiB block zeroed, or an aligned 8 KiB page torn: its second half
//! zeroed), and then:
//!
//! - open fails with a typed error (corruption, unsupported format or I/O)
//!   and `check` reports at least one problem; or
//! - open succeeds and every key reads back as exactly its value or as a
//!   `Corruption` error — never other bytes, never missing, and no key that
//!   should not be there — and when any read was a corruption error,
//!   `check` after close reports at least one problem.
//!
//! Damage to bytes nothing uses (zeros past the end of the WAL, free slots,
//! the older superblock copy, retired WAL files) may go unnoticed.
//!
//! Sizes: `FOLIO_CORRUPTION_CASES` (default 1000); seed from `FOLIO_SEED`;
//! `FOLIO_CORRUPTION_CASE=<i>` runs case `i` alone;
//! `FOLIO_CORRUPTION_VERBOSE=1` prints every case and its outcome;
//! `FOLIO_CORRUPTION_DUMP=<dir>` writes the undamaged files to `dir`.

mod common;

use std::collections::BTreeMap;
use std::fmt;
use std::ops::ControlFlow;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use folio::io::{read_file, MemVfs, Vfs};
use folio::{check_with_vfs, Config, Error, KvStore, PagedStore, WriteBatch};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const DIR: &str = "/store";
/// A case running this long is reported as a hang (and the run aborted).
const HANG: Duration = Duration::from_secs(120);

fn config() -> Config {
    let mut c = Config::default();
    c.cache_bytes = 16 * 8192;
    c.wal_file_bytes = 128 * 1024;
    c
}

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// The files of the pristine closed store and what it holds.
struct Pristine {
    files: Vec<(PathBuf, Kind, Vec<u8>)>,
    model: Model,
    /// What `check` reports about the undamaged store (nothing, unless
    /// `check` has a false positive).
    baseline: Vec<String>,
}

/// What a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    Segment,
    Wal,
    Checkpoint,
    Superblock,
    Other,
}

impl Kind {
    fn of(name: &str) -> Kind {
        if name.starts_with("segment-") {
            Kind::Segment
        } else if name.starts_with("wal-") {
            Kind::Wal
        } else if name.starts_with("checkpoint-") {
            Kind::Checkpoint
        } else if name == folio::store::SUPERBLOCK_FILE {
            Kind::Superblock
        } else {
            Kind::Other
        }
    }
}

/// A value of a random shape: empty, small, a little under a page, exactly
/// a page (a page image), or several pages.
fn random_value(rng: &mut StdRng) -> Vec<u8> {
    let len = match rng.gen_range(0..100) {
        0..=7 => 0,
        8..=44 => rng.gen_range(1..=300),
        45..=54 => rng.gen_range(301..8192),
        55..=79 => 8192,
        _ => rng.gen_range(8193..=3 * 8192 + 100),
    };
    let mut v = vec![0u8; len];
    rng.fill(&mut v[..]);
    v
}

fn key(i: u32) -> Vec<u8> {
    if i % 17 == 3 {
        // Binary keys with zero bytes.
        let mut k = vec![0u8, 0xff];
        k.extend_from_slice(&i.to_le_bytes());
        k
    } else {
        format!("key-{i:05}").into_bytes()
    }
}

/// Builds the store over two sessions and closes it cleanly.
fn build(seed: u64) -> Pristine {
    let mut rng = StdRng::seed_from_u64(seed);
    let mem = MemVfs::new();
    let dir = Path::new(DIR);
    let mut model = Model::new();
    let mut next = 0u32;
    let open = || PagedStore::open_with_vfs(Arc::new(mem.clone()), dir, &config()).expect("open");
    let put_new = |store: &PagedStore, model: &mut Model, rng: &mut StdRng, next: &mut u32| {
        let (k, v) = (key(*next), random_value(rng));
        *next += 1;
        store.put(&k, &v).expect("put");
        model.insert(k, v);
    };
    let pick = |model: &Model, rng: &mut StdRng| -> Vec<u8> {
        let i = rng.gen_range(0..model.len());
        model.keys().nth(i).expect("a key").clone()
    };
    let overwrite = |store: &PagedStore, model: &mut Model, rng: &mut StdRng| {
        let k = pick(model, rng);
        let v = random_value(rng);
        store.put(&k, &v).expect("put");
        model.insert(k, v);
    };
    let delete = |store: &PagedStore, model: &mut Model, rng: &mut StdRng| {
        let k = pick(model, rng);
        assert!(store.delete(&k).expect("delete"));
        model.remove(&k);
    };
    let batch = |store: &PagedStore, model: &mut Model, rng: &mut StdRng, next: &mut u32| {
        let mut b = WriteBatch::new();
        for _ in 0..rng.gen_range(2..=5) {
            if rng.gen_bool(0.7) {
                let k = if rng.gen_bool(0.5) {
                    *next += 1;
                    key(*next - 1)
                } else {
                    pick(model, rng)
                };
                let v = random_value(rng);
                b.put(k.clone(), v.clone());
                model.insert(k, v);
            } else {
                let k = pick(model, rng);
                b.delete(k.clone());
                model.remove(&k);
            }
        }
        store.write_batch(&b).expect("batch");
    };

    let store = open();
    store.put(b"", b"the empty key").expect("put");
    model.insert(Vec::new(), b"the empty key".to_vec());
    for _ in 0..50 {
        put_new(&store, &mut model, &mut rng, &mut next);
    }
    store.checkpoint().expect("checkpoint");
    for _ in 0..15 {
        overwrite(&store, &mut model, &mut rng);
    }
    for _ in 0..8 {
        delete(&store, &mut model, &mut rng);
    }
    for _ in 0..15 {
        put_new(&store, &mut model, &mut rng, &mut next);
    }
    batch(&store, &mut model, &mut rng, &mut next);
    store.checkpoint().expect("checkpoint");
    for _ in 0..10 {
        overwrite(&store, &mut model, &mut rng);
    }
    store.close().expect("close");
    drop(store);

    let store = open();
    for _ in 0..5 {
        delete(&store, &mut model, &mut rng);
    }
    for _ in 0..10 {
        put_new(&store, &mut model, &mut rng, &mut next);
    }
    batch(&store, &mut model, &mut rng, &mut next);
    store.checkpoint().expect("checkpoint");
    for _ in 0..10 {
        overwrite(&store, &mut model, &mut rng);
    }
    batch(&store, &mut model, &mut rng, &mut next);
    for _ in 0..5 {
        put_new(&store, &mut model, &mut rng, &mut next);
    }
    for _ in 0..10 {
        overwrite(&store, &mut model, &mut rng);
    }
    store.close().expect("close");
    drop(store);

    let mut names = mem.list(dir).expect("list");
    names.sort();
    let files = names
        .into_iter()
        .map(|name| {
            let path = dir.join(&name);
            let bytes = read_file(&mem, &path).expect("read");
            (path, Kind::of(&name), bytes)
        })
        .collect();
    let report = check_with_vfs(Arc::new(mem.clone()), dir).expect("check the undamaged store");
    Pristine {
        files,
        model,
        baseline: report.problems,
    }
}

impl Pristine {
    /// A fresh in-memory copy of the store's files.
    fn copy(&self) -> MemVfs {
        let mem = MemVfs::new();
        mem.create_dir_all(Path::new(DIR)).expect("mkdir");
        for (path, _, bytes) in &self.files {
            mem.open(path, true)
                .expect("create")
                .write_all_at(bytes, 0)
                .expect("write");
        }
        mem
    }
}

/// One way to damage a file.
#[derive(Debug, Clone, Copy)]
enum Damage {
    FlipBit { offset: usize, bit: u8 },
    SetByte { offset: usize, xor: u8 },
    ZeroBlock { start: usize },
    TearPage { start: usize },
}

impl Damage {
    /// Applies the damage; returns whether any byte changed.
    fn apply(self, bytes: &mut [u8]) -> bool {
        let zero = |range: std::ops::Range<usize>, bytes: &mut [u8]| {
            let end = range.end.min(bytes.len());
            let start = range.start.min(end);
            let changed = bytes[start..end].iter().any(|&b| b != 0);
            bytes[start..end].fill(0);
            changed
        };
        match self {
            Damage::FlipBit { offset, bit } => {
                bytes[offset] ^= 1 << bit;
                true
            }
            Damage::SetByte { offset, xor } => {
                bytes[offset] ^= xor;
                true
            }
            Damage::ZeroBlock { start } => zero(start..start + 4096, bytes),
            Damage::TearPage { start } => zero(start + 4096..start + 8192, bytes),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Damage::FlipBit { .. } => "flip-bit",
            Damage::SetByte { .. } => "set-byte",
            Damage::ZeroBlock { .. } => "zero-4k",
            Damage::TearPage { .. } => "tear-page",
        }
    }
}

/// One case: which file, what damage.
struct Case {
    index: usize,
    file: usize,
    damage: Damage,
}

impl Case {
    fn describe(&self, pristine: &Pristine) -> String {
        let (path, kind, bytes) = &pristine.files[self.file];
        format!(
            "case {} ({kind:?} {} of {} bytes, {:?})",
            self.index,
            path.display(),
            bytes.len(),
            self.damage
        )
    }
}

/// Picks a file (segments 45%, WAL 20%, checkpoint 20%, superblock 15%)
/// and a damage. Segment damage is uniform over the bytes of all segments
/// (so big segments, where most values live, get most of it), except that
/// some aims at the 32-byte header of a segment; half of the superblock
/// cases aim at the bytes of one of its two copies; most WAL cases aim at
/// the part of the file that holds records; the rest is uniform over the
/// file.
fn random_case(index: usize, seed: u64, pristine: &Pristine) -> Case {
    let mut rng = StdRng::seed_from_u64(seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let wanted = match rng.gen_range(0..100) {
        0..=44 => Kind::Segment,
        45..=64 => Kind::Wal,
        65..=84 => Kind::Checkpoint,
        _ => Kind::Superblock,
    };
    let candidates: Vec<usize> = (0..pristine.files.len())
        .filter(|&i| pristine.files[i].1 == wanted && !pristine.files[i].2.is_empty())
        .collect();
    let mut file = candidates[rng.gen_range(0..candidates.len())];
    let offset = match wanted {
        Kind::Segment if rng.gen_bool(0.85) => {
            let total: usize = candidates.iter().map(|&i| pristine.files[i].2.len()).sum();
            let mut at = rng.gen_range(0..total);
            for &i in &candidates {
                let len = pristine.files[i].2.len();
                if at < len {
                    file = i;
                    break;
                }
                at -= len;
            }
            at
        }
        Kind::Segment => rng.gen_range(0..32),
        Kind::Superblock if rng.gen_bool(0.5) => rng.gen_range(0..2) * 4096 + rng.gen_range(0..40),
        Kind::Wal if rng.gen_bool(0.7) => {
            let bytes = &pristine.files[file].2;
            let written = bytes.iter().rposition(|&b| b != 0).map_or(1, |p| p + 1);
            rng.gen_range(0..(written + 64).min(bytes.len()))
        }
        _ => rng.gen_range(0..pristine.files[file].2.len()),
    };
    let damage = match rng.gen_range(0..4) {
        0 => Damage::FlipBit {
            offset,
            bit: rng.gen_range(0..8),
        },
        1 => Damage::SetByte {
            offset,
            xor: rng.gen_range(1..=255),
        },
        2 => Damage::ZeroBlock {
            start: offset / 4096 * 4096,
        },
        _ => Damage::TearPage {
            start: offset / 8192 * 8192,
        },
    };
    Case {
        index,
        file,
        damage,
    }
}

/// How a case ended (when it did not fail).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Outcome {
    /// Open succeeded and every read returned the right value.
    OpenedClean,
    /// Open succeeded and some reads were corruption errors.
    ReadCorruption,
    /// Open refused the store with this kind of error.
    OpenRefused(&'static str),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::OpenedClean => write!(f, "opened-clean"),
            Outcome::ReadCorruption => write!(f, "read-corruption"),
            Outcome::OpenRefused(kind) => write!(f, "open-refused ({kind})"),
        }
    }
}

/// Runs `check` on `mem`: `Ok` when it reports a problem the undamaged
/// store did not have.
fn check_finds_problems(mem: &MemVfs, baseline: &[String], when: &str) -> Result<(), String> {
    match check_with_vfs(Arc::new(mem.clone()), Path::new(DIR)) {
        Ok(report) if report.problems.iter().any(|p| !baseline.contains(p)) => Ok(()),
        Ok(report) => Err(format!(
            "{when}, check reports no new problem (it reports {:?})",
            report.problems
        )),
        Err(e) => Err(format!("{when}, check could not run: {e}")),
    }
}

/// Opens the damaged copy `mem` and reads every key; `Err` describes a
/// violation.
fn run_case(mem: &MemVfs, pristine: &Pristine) -> Result<Outcome, String> {
    let dir = Path::new(DIR);
    let baseline = &pristine.baseline;
    let store = match PagedStore::open_with_vfs(Arc::new(mem.clone()), dir, &config()) {
        Ok(store) => store,
        Err(e) => {
            let kind = match e {
                Error::Corruption { .. } => "corruption",
                Error::UnsupportedFormat { .. } => "unsupported format",
                Error::Io { .. } => "I/O",
                other => return Err(format!("open failed with an unexpected error: {other:?}")),
            };
            check_finds_problems(mem, baseline, &format!("open refused the store ({e})"))?;
            return Ok(Outcome::OpenRefused(kind));
        }
    };
    let mut wrong = Vec::new();
    let mut corrupt = Vec::new();
    for (k, v) in &pristine.model {
        match store.get(k) {
            Ok(Some(got)) if got == *v => {}
            Ok(Some(got)) => wrong.push(format!(
                "key {k:?}: WRONG VALUE ({} bytes read, {} expected)",
                got.len(),
                v.len()
            )),
            Ok(None) => wrong.push(format!("key {k:?}: MISSING (get returned None)")),
            Err(e) if e.is_corruption() => corrupt.push(e.to_string()),
            Err(e) => wrong.push(format!("key {k:?}: error that is not corruption: {e}")),
        }
    }
    let mut extra = Vec::new();
    store
        .for_each_key(&mut |k| {
            if !pristine.model.contains_key(k) {
                extra.push(k.to_vec());
            }
            ControlFlow::Continue(())
        })
        .map_err(|e| format!("for_each_key: {e}"))?;
    for k in extra {
        wrong.push(format!("key {k:?}: PRESENT but never written or deleted"));
    }
    let closed = store.close();
    drop(store);
    if !wrong.is_empty() {
        return Err(wrong.join("; "));
    }
    closed.map_err(|e| format!("close failed: {e}"))?;
    if corrupt.is_empty() {
        return Ok(Outcome::OpenedClean);
    }
    check_finds_problems(
        mem,
        baseline,
        &format!(
            "{} reads were corruption errors ({})",
            corrupt.len(),
            corrupt[0]
        ),
    )?;
    Ok(Outcome::ReadCorruption)
}

/// Aborts the process when a case runs longer than [`HANG`].
fn watchdog(current: Arc<AtomicUsize>, done: Arc<AtomicBool>, seed: u64) {
    std::thread::spawn(move || {
        let mut last = (usize::MAX, Instant::now());
        while !done.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(200));
            let case = current.load(Ordering::Acquire);
            if case != last.0 {
                last = (case, Instant::now());
            } else if last.1.elapsed() > HANG {
                eprintln!(
                    "corruption: case {case} has run for {HANG:?} (FOLIO_SEED={seed} \
                     FOLIO_CORRUPTION_CASE={case}): a hang; aborting"
                );
                std::process::abort();
            }
        }
    });
}

/// A store that was closed cleanly and never damaged passes `check`: the
/// store the damage test starts from, built from 32 seeds.
#[test]
fn a_cleanly_closed_store_passes_check() {
    let seed = common::seed("corruption-baseline");
    let mut unsound = Vec::new();
    for i in 0..32u64 {
        let s = seed.wrapping_add(i);
        let pristine = build(s);
        if !pristine.baseline.is_empty() {
            unsound.push(format!("FOLIO_SEED={s}: {:?}", pristine.baseline));
        }
        // It opens and reads back whole.
        assert_eq!(
            run_case(&pristine.copy(), &pristine),
            Ok(Outcome::OpenedClean),
            "FOLIO_SEED={s}"
        );
    }
    assert!(
        unsound.is_empty(),
        "check reports problems in {} of 32 undamaged, cleanly closed stores:\n{}",
        unsound.len(),
        unsound.join("\n")
    );
}

#[test]
fn damaged_files_are_refused_or_reported_never_misread() {
    let seed = common::seed("corruption");
    let cases = common::env_size("FOLIO_CORRUPTION_CASES", 1000);
    let only: Option<usize> = std::env::var("FOLIO_CORRUPTION_CASE")
        .ok()
        .and_then(|v| v.parse().ok());
    let verbose = std::env::var_os("FOLIO_CORRUPTION_VERBOSE").is_some();
    let started = Instant::now();
    let pristine = build(seed);
    if let Some(dump) = std::env::var_os("FOLIO_CORRUPTION_DUMP") {
        // For a closer look: the undamaged files, to a real directory.
        let dump = PathBuf::from(dump);
        std::fs::create_dir_all(&dump).expect("dump directory");
        for (path, _, bytes) in &pristine.files {
            let name = path.file_name().expect("a file name");
            std::fs::write(dump.join(name), bytes).expect("dump");
        }
    }
    let store_bytes: usize = pristine.files.iter().map(|(_, _, b)| b.len()).sum();
    // The undamaged store opens and reads back whole. (Whether check finds
    // it sound is `a_cleanly_closed_store_passes_check`; here damage must
    // add a problem to what it reports.)
    assert_eq!(
        run_case(&pristine.copy(), &pristine),
        Ok(Outcome::OpenedClean)
    );

    let current = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    watchdog(current.clone(), done.clone(), seed);
    let mut outcomes: BTreeMap<Outcome, usize> = BTreeMap::new();
    let mut by_kind: BTreeMap<(Kind, &'static str), BTreeMap<String, usize>> = BTreeMap::new();
    let mut unchanged = 0usize;
    let mut failures = Vec::new();
    let range = match only {
        Some(i) => i..i + 1,
        None => 0..cases,
    };
    for index in range {
        current.store(index, Ordering::Release);
        let case = random_case(index, seed, &pristine);
        let mem = pristine.copy();
        let path = &pristine.files[case.file].0;
        let changed = mem
            .with_file_bytes(path, |bytes| case.damage.apply(bytes))
            .expect("the file exists");
        unchanged += usize::from(!changed);
        let result =
            catch_unwind(AssertUnwindSafe(|| run_case(&mem, &pristine))).unwrap_or_else(|panic| {
                let what = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
                    .unwrap_or_default();
                Err(format!("PANIC: {what}"))
            });
        if verbose {
            eprintln!("{} changed={changed}: {result:?}", case.describe(&pristine));
        }
        match result {
            Ok(outcome) => {
                *outcomes.entry(outcome).or_default() += 1;
                let label = if changed {
                    outcome.to_string()
                } else {
                    "unchanged".to_string()
                };
                *by_kind
                    .entry((pristine.files[case.file].1, case.damage.name()))
                    .or_default()
                    .entry(label)
                    .or_default() += 1;
            }
            Err(e) => failures.push(format!("{}: {e}", case.describe(&pristine))),
        }
    }
    done.store(true, Ordering::Release);
    eprintln!(
        "corruption: {} files ({} KiB), {} keys; {} cases in {:.1?} ({} failed); \
         {unchanged} damages changed no byte",
        pristine.files.len(),
        store_bytes / 1024,
        pristine.model.len(),
        outcomes.values().sum::<usize>() + failures.len(),
        started.elapsed(),
        failures.len()
    );
    for (outcome, n) in &outcomes {
        eprintln!("corruption:   {outcome}: {n}");
    }
    for ((kind, damage), counts) in &by_kind {
        let text: Vec<String> = counts.iter().map(|(o, n)| format!("{o} {n}")).collect();
        eprintln!("corruption:   {kind:?} {damage}: {}", text.join(", "));
    }
    assert!(
        failures.is_empty(),
        "{} of the cases failed (FOLIO_SEED={seed}; replay one with FOLIO_CORRUPTION_CASE):\n{}",
        failures.len(),
        failures
            .iter()
            .take(20)
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    );
}
