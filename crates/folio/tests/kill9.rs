//! A real `kill -9`: this test binary re-runs itself as a child process
//! that writes to a store on the real file system in `sync` durability and
//! prints one line per acknowledged call; the parent kills it with SIGKILL
//! at a random point (after a random number of acknowledgements, or a
//! random few hundred milliseconds after the spawn, which may fall inside
//! the child's own recovery), then reopens the store and checks that every
//! acknowledged write is there with its exact bytes, nothing else is, the
//! one call in flight landed whole or not at all, and `folio::check` finds
//! no problem after a clean close.
//!
//! The same directory is used for every cycle, and some cycles skip the
//! verification so that the next child recovers a store that was itself
//! killed after a recovery; the parent carries its model forward, with one
//! undecided call per unverified cycle.
//!
//! The child's operations are a pure function of the seed and an operation
//! number `n` (every call, batch or checkpoint is one number), so the parent
//! knows exactly what the call in flight was: unique new keys (value sizes
//! 0, small, ~8 KiB, ~20 KiB, derived from key and number), overwrites and
//! deletes of a few hot keys, write batches mixing both, explicit
//! checkpoints, and every 8th operation a batch deleting the unique keys
//! written `WINDOW` operations earlier, so the live data stays bounded
//! however many cycles run. A small pool, small WAL files and a low
//! checkpoint threshold make eviction, background checkpoints and WAL
//! recycling happen during the run.
//!
//! Sizes: `FOLIO_KILL_CYCLES` (default 50; run 10000 on demand), seed from
//! `FOLIO_SEED`.

#![cfg(unix)]

mod common;

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::ops::ControlFlow;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use folio::{Config, Durability, KvStore, PagedStore, WriteBatch};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use xxhash_rust::xxh3::xxh3_64;

/// Set in the child's environment: the store directory.
const CHILD_ENV: &str = "FOLIO_KILL9_CHILD";
/// The first operation number the child runs.
const FIRST_ENV: &str = "FOLIO_KILL9_FIRST";
/// The workload seed.
const SEED_ENV: &str = "FOLIO_KILL9_SEED";
/// Name of the test the child runs.
const CHILD_TEST: &str = "kill9_child_writer";

/// Hot keys, overwritten and deleted again and again.
const HOT_KEYS: u64 = 8;
/// A unique key lives this many operations before a trim deletes it.
const WINDOW: u64 = 1000;
/// Every this many operations is a trim.
const TRIM_EVERY: u64 = 8;
/// The child gives up (and fails) if it has not been killed by then.
const CHILD_LIFETIME: Duration = Duration::from_secs(60);
/// No acknowledgement for this long is reported as a hang.
const HANG: Duration = Duration::from_secs(20);
/// At most this many cycles in a row skip the verification.
const MAX_UNVERIFIED: usize = 3;

fn config() -> Config {
    let mut c = Config::default();
    c.durability = Durability::Sync;
    c.cache_bytes = 256 * 1024;
    c.wal_file_bytes = 512 << 10;
    c.checkpoint_wal_bytes = 1 << 20;
    c
}

/// One key change.
#[derive(Debug, Clone)]
enum Step {
    /// `key` takes the value `value_for(key, tag)`.
    Put {
        key: Vec<u8>,
        tag: u64,
    },
    Delete {
        key: Vec<u8>,
    },
}

impl Step {
    fn key(&self) -> &[u8] {
        match self {
            Step::Put { key, .. } | Step::Delete { key } => key,
        }
    }
}

/// One call of the child.
#[derive(Debug, Clone)]
enum Op {
    /// `put` or `delete`.
    Single(Step),
    /// `write_batch`, all or nothing.
    Batch(Vec<Step>),
    /// `checkpoint`.
    Checkpoint,
}

impl Op {
    fn steps(&self) -> &[Step] {
        match self {
            Op::Single(step) => std::slice::from_ref(step),
            Op::Batch(steps) => steps,
            Op::Checkpoint => &[],
        }
    }

    fn apply(&self, state: &mut HashMap<Vec<u8>, u64>) {
        for step in self.steps() {
            match step {
                Step::Put { key, tag } => {
                    state.insert(key.clone(), *tag);
                }
                Step::Delete { key } => {
                    state.remove(key);
                }
            }
        }
    }

    fn describe(&self) -> String {
        match self {
            Op::Single(Step::Put { key, tag }) => format!("put {} tag {tag}", show(key)),
            Op::Single(Step::Delete { key }) => format!("delete {}", show(key)),
            Op::Batch(steps) => format!("batch of {}", steps.len()),
            Op::Checkpoint => "checkpoint".to_string(),
        }
    }
}

fn show(key: &[u8]) -> String {
    String::from_utf8_lossy(key).into_owned()
}

fn unique_key(n: u64, j: u64) -> Vec<u8> {
    format!("u{n:012}.{j}").into_bytes()
}

fn hot_key(slot: u64) -> Vec<u8> {
    format!("hot{slot}").into_bytes()
}

/// The tag of step `j` of operation `n`: distinct for every put ever made.
fn tag(n: u64, j: u64) -> u64 {
    n * 16 + j
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The value a put of `key` with `tag` writes: its length and bytes are a
/// function of both (0, small, about a page, or about 20 KiB).
fn value_for(key: &[u8], tag: u64) -> Vec<u8> {
    let mut state = xxh3_64(key) ^ tag.wrapping_mul(0xD6E8_FEB8_6659_FD93);
    let pick = splitmix(&mut state) % 100;
    let r = splitmix(&mut state);
    let len = match pick {
        0..=9 => 0,
        10..=44 => 1 + r % 200,
        45..=62 => 8192,
        63..=79 => 7900 + r % 292,
        _ => 19_500 + r % 1_500,
    };
    let len = usize::try_from(len).expect("small length");
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        v.extend_from_slice(&splitmix(&mut state).to_le_bytes());
    }
    v.truncate(len);
    v
}

fn op_rng(seed: u64, n: u64) -> StdRng {
    StdRng::seed_from_u64(seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

fn is_trim(n: u64) -> bool {
    n.is_multiple_of(TRIM_EVERY) && n > WINDOW
}

/// Operation `n` when it is not a trim.
fn random_op(seed: u64, n: u64) -> Op {
    let mut rng = op_rng(seed, n);
    let hot = |rng: &mut StdRng| hot_key(rng.gen_range(0..HOT_KEYS));
    match rng.gen_range(0..1000) {
        0..=449 => Op::Single(Step::Put {
            key: unique_key(n, 0),
            tag: tag(n, 0),
        }),
        450..=719 => Op::Single(Step::Put {
            key: hot(&mut rng),
            tag: tag(n, 0),
        }),
        720..=799 => Op::Single(Step::Delete { key: hot(&mut rng) }),
        800..=994 => {
            let steps = (0..rng.gen_range(2..=6u64))
                .map(|j| match rng.gen_range(0..100) {
                    0..=49 => Step::Put {
                        key: unique_key(n, j),
                        tag: tag(n, j),
                    },
                    50..=84 => Step::Put {
                        key: hot(&mut rng),
                        tag: tag(n, j),
                    },
                    _ => Step::Delete { key: hot(&mut rng) },
                })
                .collect();
            Op::Batch(steps)
        }
        _ => Op::Checkpoint,
    }
}

/// The unique keys operation `m` writes.
fn created_keys(seed: u64, m: u64) -> Vec<Vec<u8>> {
    if m == 0 || is_trim(m) {
        return Vec::new();
    }
    random_op(seed, m)
        .steps()
        .iter()
        .filter(|s| matches!(s, Step::Put { .. }) && s.key().starts_with(b"u"))
        .map(|s| s.key().to_vec())
        .collect()
}

/// Operation `n`: a trim (a batch deleting the unique keys of operations
/// `n - WINDOW - TRIM_EVERY + 1 ..= n - WINDOW`) or a random operation.
fn op_for(seed: u64, n: u64) -> Op {
    if !is_trim(n) {
        return random_op(seed, n);
    }
    let mut steps: Vec<Step> = (n - WINDOW - TRIM_EVERY + 1..=n - WINDOW)
        .flat_map(|m| created_keys(seed, m))
        .map(|key| Step::Delete { key })
        .collect();
    if steps.is_empty() {
        steps.push(Step::Delete {
            key: hot_key(n % HOT_KEYS),
        });
    }
    Op::Batch(steps)
}

fn env_u64(name: &str) -> u64 {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set"))
        .parse()
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The child, run by the parent test only (`--ignored`): with
/// `FOLIO_KILL9_CHILD` set, writes until it is killed.
#[test]
#[ignore = "the child process of kill9 tests; the parent runs it"]
fn kill9_child_writer() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let first = env_u64(FIRST_ENV);
    let seed = env_u64(SEED_ENV);
    let store = PagedStore::open(Path::new(&dir), &config())
        .unwrap_or_else(|e| panic!("child: open {dir}: {e}"));
    let mut out = std::io::stdout().lock();
    // The test harness may have printed "test ... " without a newline.
    writeln!(out, "\nREADY").expect("stdout");
    out.flush().expect("stdout");
    let started = Instant::now();
    for n in first.. {
        assert!(
            started.elapsed() < CHILD_LIFETIME,
            "child: not killed after {CHILD_LIFETIME:?}"
        );
        let op = op_for(seed, n);
        let done = match &op {
            Op::Single(Step::Put { key, tag }) => store.put(key, &value_for(key, *tag)),
            Op::Single(Step::Delete { key }) => store.delete(key).map(drop),
            Op::Batch(steps) => {
                let mut batch = WriteBatch::new();
                for step in steps {
                    match step {
                        Step::Put { key, tag } => batch.put(key.clone(), value_for(key, *tag)),
                        Step::Delete { key } => batch.delete(key.clone()),
                    };
                }
                store.write_batch(&batch)
            }
            Op::Checkpoint => store.checkpoint(),
        };
        if let Err(e) = done {
            panic!("child: operation {n} ({}) failed: {e}", op.describe());
        }
        writeln!(out, "ACK {n}").expect("stdout");
        out.flush().expect("stdout");
    }
}

/// How the parent decides when to kill.
#[derive(Debug, Clone, Copy)]
enum Kill {
    AfterAcks(usize),
    AfterMs(u64),
}

/// What one child run acknowledged.
struct Run {
    acked: Vec<u64>,
    ready: bool,
    plan: Kill,
}

/// Spawns the child on `dir` from operation `first`, kills it per a random
/// plan, and returns the operations it acknowledged.
fn run_child(
    exe: &Path,
    dir: &Path,
    seed: u64,
    first: u64,
    rng: &mut StdRng,
) -> Result<Run, String> {
    let stderr_path = dir.with_file_name("child-stderr.txt");
    let stderr = File::create(&stderr_path).expect("child stderr file");
    let plan = if rng.gen_bool(0.5) {
        Kill::AfterAcks(rng.gen_range(1..=400))
    } else {
        Kill::AfterMs(rng.gen_range(5..=400))
    };
    let started = Instant::now();
    let mut child = Command::new(exe)
        .args([
            "--exact",
            CHILD_TEST,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir)
        .env(FIRST_ENV, first.to_string())
        .env(SEED_ENV, seed.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr))
        .spawn()
        .expect("spawn the child");
    let stdout = child.stdout.take().expect("child stdout");
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        loop {
            let mut line = Vec::new();
            match r.read_until(b'\n', &mut line) {
                // A line cut by the kill was never acknowledged.
                Ok(_) if line.last() == Some(&b'\n') => {
                    if tx.send(line).is_err() {
                        return;
                    }
                }
                _ => return,
            }
        }
    });
    let mut run = Run {
        acked: Vec::new(),
        ready: false,
        plan,
    };
    let take = |line: &[u8], run: &mut Run| -> Result<(), String> {
        let text = String::from_utf8_lossy(line);
        if text.contains("READY") {
            run.ready = true;
        }
        if let Some(i) = text.find("ACK ") {
            let n: u64 = text[i + 4..]
                .trim()
                .parse()
                .map_err(|e| format!("bad line from the child {text:?}: {e}"))?;
            let want = first + run.acked.len() as u64;
            if n != want {
                return Err(format!("child acknowledged {n}, expected {want}"));
            }
            run.acked.push(n);
        }
        Ok(())
    };
    let mut last_progress = Instant::now();
    let mut exited = false;
    let mut hung = false;
    let mut bad_line = Ok(());
    loop {
        let deadline = match plan {
            Kill::AfterMs(ms) => started + Duration::from_millis(ms),
            Kill::AfterAcks(_) => last_progress + HANG,
        };
        let now = Instant::now();
        if now >= deadline {
            hung = matches!(plan, Kill::AfterAcks(_));
            break;
        }
        match rx.recv_timeout(deadline - now) {
            Ok(line) => {
                bad_line = take(&line, &mut run);
                if bad_line.is_err() {
                    break;
                }
                last_progress = Instant::now();
                if matches!(plan, Kill::AfterAcks(k) if run.acked.len() >= k) {
                    break;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                exited = true;
                break;
            }
        }
    }
    // SIGKILL. An error here means it had exited already: see the status.
    let _ = child.kill();
    let status = child.wait().expect("wait for the child");
    reader.join().expect("reader thread");
    bad_line?;
    // Lines printed before the kill landed are acknowledgements too.
    for line in rx.try_iter() {
        take(&line, &mut run)?;
    }
    if exited || status.signal() != Some(9) {
        let err = std::fs::read_to_string(&stderr_path).unwrap_or_default();
        return Err(format!(
            "the child exited by itself ({status}) after {} acknowledgements:\n{err}",
            run.acked.len()
        ));
    }
    if hung {
        let err = std::fs::read_to_string(&stderr_path).unwrap_or_default();
        return Err(format!(
            "the child made no progress for {HANG:?} after {} acknowledgements \
             (operation {} hung?):\n{err}",
            run.acked.len(),
            first + run.acked.len() as u64
        ));
    }
    Ok(run)
}

/// One child call: acknowledged, or the one in flight at the kill.
struct Event {
    n: u64,
    acked: bool,
}

/// The parent's model: the verified state (key to tag) and the calls made
/// since.
#[derive(Default)]
struct Model {
    base: HashMap<Vec<u8>, u64>,
    events: Vec<Event>,
}

#[derive(Default)]
struct Tally {
    acked: u64,
    verifications: u64,
    undecided: u64,
    landed: u64,
    not_landed: u64,
    indistinct: u64,
    killed_before_ready: u64,
    max_open: Duration,
    keys_checked: u64,
    /// Checkpoints the child made with `checkpoint()`.
    explicit_checkpoints: u64,
    /// Highest checkpoint generation and WAL file number seen on disk.
    checkpoint_generation: u64,
    wal_seq: u32,
}

/// What `key` holds in `state`, as text for a report.
fn describe_expect(key: &[u8], state: &HashMap<Vec<u8>, u64>) -> String {
    match state.get(key) {
        None => "absent".to_string(),
        Some(&t) => format!("tag {t} (op {}), {} bytes", t / 16, value_for(key, t).len()),
    }
}

/// Which put in the history of `key` wrote `bytes`, if any.
fn identify(key: &[u8], bytes: &[u8], model: &Model, ops: &HashMap<u64, Op>) -> String {
    let mut tags: Vec<u64> = model.base.get(key).copied().into_iter().collect();
    for e in &model.events {
        for step in ops[&e.n].steps() {
            if let Step::Put { key: k, tag } = step {
                if k == key {
                    tags.push(*tag);
                }
            }
        }
    }
    match tags.iter().find(|&&t| value_for(key, t) == bytes) {
        Some(t) => format!("{} bytes = tag {t} (op {})", bytes.len(), t / 16),
        None => format!("{} bytes matching no put in the model", bytes.len()),
    }
}

/// Reopens the store, checks it against the model, decides the calls in
/// flight, closes it and runs `check`.
fn verify(dir: &Path, seed: u64, model: &mut Model, tally: &mut Tally) -> Result<(), String> {
    // (A child killed early may not have created the directory.)
    for name in std::fs::read_dir(dir).into_iter().flatten() {
        let name = name.map_err(|e| e.to_string())?.file_name();
        let name = name.to_string_lossy();
        if let Some(g) = name
            .strip_prefix("checkpoint-")
            .and_then(|n| n.strip_suffix(".folio"))
            .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        {
            tally.checkpoint_generation = tally.checkpoint_generation.max(g);
        }
        if let Some(seq) = folio::wal::parse_wal_name(&name) {
            tally.wal_seq = tally.wal_seq.max(seq);
        }
    }
    let started = Instant::now();
    let store = PagedStore::open(dir, &config()).map_err(|e| format!("reopen failed: {e}"))?;
    tally.max_open = tally.max_open.max(started.elapsed());
    let ops: HashMap<u64, Op> = model
        .events
        .iter()
        .map(|e| (e.n, op_for(seed, e.n)))
        .collect();
    let undecided: Vec<u64> = model
        .events
        .iter()
        .filter(|e| !e.acked)
        .map(|e| e.n)
        .collect();
    let touched: HashSet<Vec<u8>> = undecided
        .iter()
        .flat_map(|n| ops[n].steps().iter().map(|s| s.key().to_vec()))
        .collect();
    let expect = |mask: usize| {
        let mut state = model.base.clone();
        let mut u = 0;
        for e in &model.events {
            let apply = e.acked || mask & (1 << u) != 0;
            if !e.acked {
                u += 1;
            }
            if apply {
                ops[&e.n].apply(&mut state);
            }
        }
        state
    };
    // What the store holds: every key it lists or any assignment expects.
    let mut keys: HashSet<Vec<u8>> = HashSet::new();
    store
        .for_each_key(&mut |k| {
            keys.insert(k.to_vec());
            ControlFlow::Continue(())
        })
        .map_err(|e| format!("for_each_key: {e}"))?;
    let listed = keys.len();
    let plain = expect(0);
    keys.extend(plain.keys().cloned());
    keys.extend(touched.iter().cloned());
    let mut seen: HashMap<Vec<u8>, Option<Vec<u8>>> = HashMap::with_capacity(keys.len());
    for key in keys {
        let got = store
            .get(&key)
            .map_err(|e| format!("get {}: {e}", show(&key)))?;
        seen.insert(key, got);
    }
    let mut wrong = Vec::new();
    // Keys no call in flight touched have one possible value.
    for (key, got) in &seen {
        if touched.contains(key) {
            continue;
        }
        let want = plain.get(key).map(|&t| value_for(key, t));
        if *got != want {
            wrong.push(format!(
                "{}: expected {}, found {}",
                show(key),
                describe_expect(key, &plain),
                got.as_ref()
                    .map_or("nothing".to_string(), |b| identify(key, b, model, &ops))
            ));
        }
    }
    // The calls in flight: which of them landed (a batch all or nothing).
    let mut matching = Vec::new();
    let mut closest: Option<(usize, Vec<String>)> = None;
    for mask in 0..1usize << undecided.len() {
        let state = expect(mask);
        let diffs: Vec<String> = touched
            .iter()
            .filter(|key| seen[*key] != state.get(*key).map(|&t| value_for(key, t)))
            .map(|key| {
                format!(
                    "{}: expected {}, found {}",
                    show(key),
                    describe_expect(key, &state),
                    seen[key]
                        .as_ref()
                        .map_or("nothing".to_string(), |b| identify(key, b, model, &ops))
                )
            })
            .collect();
        if diffs.is_empty() {
            matching.push((mask, state));
        } else if closest.as_ref().is_none_or(|(_, d)| diffs.len() < d.len()) {
            closest = Some((mask, diffs));
        }
    }
    if matching.is_empty() {
        let (mask, diffs) = closest.expect("some assignment");
        let landed: Vec<u64> = undecided
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, n)| *n)
            .collect();
        wrong.push(format!(
            "no choice of the calls in flight {undecided:?} ({}) explains the keys they touch; \
             closest (landed: {landed:?}):\n    {}",
            undecided
                .iter()
                .map(|n| format!("{n}: {}", ops[n].describe()))
                .collect::<Vec<_>>()
                .join(", "),
            diffs.join("\n    ")
        ));
    }
    if !wrong.is_empty() {
        let count = wrong.len();
        wrong.truncate(30);
        return Err(format!(
            "{count} keys differ from the acknowledged writes:\n  {}",
            wrong.join("\n  ")
        ));
    }
    tally.undecided += undecided.len() as u64;
    for i in 0..undecided.len() {
        let landed = matching.iter().filter(|(m, _)| m & (1 << i) != 0).count();
        if landed == matching.len() {
            tally.landed += 1;
        } else if landed == 0 {
            tally.not_landed += 1;
        } else {
            tally.indistinct += 1;
        }
    }
    let (_, state) = matching.swap_remove(0);
    if listed != state.len() {
        return Err(format!(
            "for_each_key listed {listed} keys, {} expected",
            state.len()
        ));
    }
    let len = store.len().map_err(|e| format!("len: {e}"))?;
    if len != state.len() as u64 {
        return Err(format!("len() is {len}, {} expected", state.len()));
    }
    let non_empty = seen
        .values()
        .filter(|v| v.as_ref().is_some_and(|v| !v.is_empty()))
        .count() as u64;
    store.close().map_err(|e| format!("close: {e}"))?;
    drop(store);
    let report = folio::check(dir).map_err(|e| format!("check could not run: {e}"))?;
    if !report.problems.is_empty() {
        return Err(format!(
            "check found problems after a clean close:\n  {}",
            report.problems.join("\n  ")
        ));
    }
    if report.keys_checked != non_empty {
        return Err(format!(
            "check verified {} values, {non_empty} expected",
            report.keys_checked
        ));
    }
    tally.keys_checked += report.keys_checked;
    tally.verifications += 1;
    model.base = state;
    model.events.clear();
    Ok(())
}

#[test]
fn kill9_cycles() {
    let seed = common::seed("kill9");
    let cycles = common::env_size("FOLIO_KILL_CYCLES", 50);
    let started = Instant::now();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("store");
    // The child runs a copy of this test binary: a rebuild during a long
    // run replaces the original.
    let exe = tmp.path().join("kill9-child");
    std::fs::copy(std::env::current_exe().expect("current exe"), &exe)
        .expect("copy the test binary");
    let mut rng = StdRng::seed_from_u64(seed ^ 0x6B69_6C6C_392D_2D39);
    let mut model = Model::default();
    let mut tally = Tally::default();
    let mut next = 1u64;
    let mut unverified = 0;
    for cycle in 0..cycles {
        let outcome = run_child(&exe, &dir, seed, next, &mut rng).and_then(|run| {
            tally.acked += run.acked.len() as u64;
            tally.explicit_checkpoints += run
                .acked
                .iter()
                .filter(|&&n| matches!(op_for(seed, n), Op::Checkpoint))
                .count() as u64;
            tally.killed_before_ready += u64::from(!run.ready);
            model
                .events
                .extend(run.acked.iter().map(|&n| Event { n, acked: true }));
            let in_flight = run.acked.last().map_or(next, |n| n + 1);
            model.events.push(Event {
                n: in_flight,
                acked: false,
            });
            next = in_flight + 1;
            unverified += 1;
            if unverified >= MAX_UNVERIFIED || cycle + 1 == cycles || rng.gen_bool(0.6) {
                unverified = 0;
                verify(&dir, seed, &mut model, &mut tally).map_err(|e| {
                    format!(
                        "{e}\n(last run: plan {:?}, {} acks)",
                        run.plan,
                        run.acked.len()
                    )
                })
            } else {
                Ok(())
            }
        });
        if let Err(e) = outcome {
            let kept = tmp.keep();
            panic!(
                "kill9 cycle {cycle} of {cycles} (FOLIO_SEED={seed}, next operation {next}): {e}\n\
                 store kept at {}",
                kept.join("store").display()
            );
        }
    }
    eprintln!(
        "kill9: {cycles} cycles in {:.1?}: {} acknowledged calls, {} verifications, \
         calls in flight: {} landed, {} not, {} indistinguishable; {} kills before the \
         child had opened the store; slowest reopen {:.1?}; {} values checked; {} live keys; \
         checkpoint generation {} ({} by checkpoint(), {} by the parent's closes, the rest \
         in the background); WAL file number {}",
        started.elapsed(),
        tally.acked,
        tally.verifications,
        tally.landed,
        tally.not_landed,
        tally.indistinct,
        tally.killed_before_ready,
        tally.max_open,
        tally.keys_checked,
        model.base.len(),
        tally.checkpoint_generation,
        tally.explicit_checkpoints,
        tally.verifications,
        tally.wal_seq,
    );
    assert_eq!(
        tally.undecided,
        tally.landed + tally.not_landed + tally.indistinct
    );
}
