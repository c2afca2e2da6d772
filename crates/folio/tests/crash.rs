//! The store under simulated crashes (power loss at any instant, the
//! process dying at any I/O), checked against a model.
//!
//! A workload of puts, deletes, batches, flushes and checkpoints runs on a
//! `CrashVfs`, which keeps written-but-unsynced data apart from synced data.
//! At the crash the unsynced data is dropped, kept in part, torn at a sector
//! boundary, or kept (and unsynced file creations and renames may be
//! forgotten). The crash state is reopened and must equal the model state
//! after some prefix of the workload: with `sync`, at least every
//! acknowledged operation and at most one more (the one in flight); with
//! `buffered` or `none`, at least everything up to the last flush or
//! checkpoint. A batch is all or nothing, because a prefix state holds all
//! of it or none. `check` must pass on the recovered store after it is
//! closed, and a second reopen must find the same state.
//!
//! Sizes: `FOLIO_CRASH_STATES` crash states (default 2,000: random
//! workloads, each crashed under the four policies), plus an exhaustive sweep that kills
//! the process after every k-th I/O of a small workload, for every k.

#![allow(clippy::cast_possible_truncation)] // test data wraps bytes on purpose

mod common;

use std::path::Path;
use std::sync::Arc;

use common::ops::{apply, run_op, Op, State};
use common::{env_size, rng};
use folio::io::{CrashPolicy, CrashVfs};
use folio::{Config, Durability, KvStore, PagedStore, WriteBatch};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const DIR: &str = "/crash";
const KEYS: u32 = 24;

fn config(durability: Durability, background_checkpoints: bool) -> Config {
    let mut c = Config::default();
    c.cache_bytes = 6 * 8192; // a tiny pool: pages are written back mid-workload
    c.wal_file_bytes = 64 * 1024; // files fill up, rotate and are recycled
    c.durability = durability;
    c.sync_interval_ms = 5;
    c.checkpoint_interval_ms = 0;
    c.checkpoint_wal_bytes = if background_checkpoints {
        40 * 1024
    } else {
        u64::MAX
    };
    c
}

fn key(id: u32) -> Vec<u8> {
    let mut k = format!("key-{id}").into_bytes();
    k.extend(std::iter::repeat_n(0u8, (id % 5) as usize));
    k
}

fn value(rng: &mut StdRng) -> Vec<u8> {
    let len = match rng.gen_range(0..100) {
        0..=4 => 0,
        5..=54 => rng.gen_range(1..300),
        55..=74 => rng.gen_range(300..8192),
        75..=89 => 8192,
        _ => rng.gen_range(8193..20_000),
    };
    let mut v = vec![0u8; len];
    rng.fill(&mut v[..]);
    v
}

fn gen_op(rng: &mut StdRng) -> Op {
    match rng.gen_range(0..100) {
        0..=54 => Op::Put(key(rng.gen_range(0..KEYS)), value(rng)),
        55..=69 => Op::Delete(key(rng.gen_range(0..KEYS))),
        70..=84 => Op::Batch(
            (0..rng.gen_range(1..6))
                .map(|_| {
                    let k = key(rng.gen_range(0..KEYS));
                    (k, rng.gen_bool(0.75).then(|| value(rng)))
                })
                .collect(),
        ),
        85..=92 => Op::Flush,
        _ => Op::Checkpoint,
    }
}

fn gen_ops(rng: &mut StdRng, n: usize) -> Vec<Op> {
    (0..n).map(|_| gen_op(rng)).collect()
}

/// What a workload run reached.
struct Run {
    /// Model states: `states[i]` after the first `i` operations.
    states: Vec<State>,
    /// Operations that returned Ok (they ran in order; the first failure
    /// ends the run).
    acked: usize,
    /// Operations known durable whatever the crash: all acknowledged ones
    /// with `sync`, else those up to the last flush or checkpoint.
    durable: usize,
}

impl Run {
    /// The states a crash may recover: every prefix from the durable one
    /// to the one including the operation in flight.
    fn candidates(&self) -> std::ops::RangeInclusive<usize> {
        let hi = (self.acked + 1).min(self.states.len() - 1);
        self.durable..=hi
    }
}

fn run_workload(store: &PagedStore, ops: &[Op], durability: Durability) -> Run {
    let mut states = vec![State::new()];
    for op in ops {
        let mut next = states.last().unwrap().clone();
        apply(&mut next, op);
        states.push(next);
    }
    let (mut acked, mut durable) = (0, 0);
    for (i, op) in ops.iter().enumerate() {
        if run_op(store, op, &states[i]).is_err() {
            break;
        }
        acked = i + 1;
        if durability == Durability::Sync || matches!(op, Op::Flush | Op::Checkpoint) {
            durable = acked;
        }
    }
    Run {
        states,
        acked,
        durable,
    }
}

/// As [`run_workload`], with every write through [`folio::DeferredAck`]:
/// a write is acknowledged only by a later `Flush`, which here waits for a
/// mark (durable with `sync`; with `buffered` only a checkpoint is). Any
/// applied write may survive a crash, acknowledged or not.
fn run_workload_deferred(store: &PagedStore, ops: &[Op], durability: Durability) -> Run {
    let deferred = store.deferred_ack().expect("the paged store defers acks");
    let mut states = vec![State::new()];
    for op in ops {
        let mut next = states.last().unwrap().clone();
        apply(&mut next, op);
        states.push(next);
    }
    let (mut applied, mut durable) = (0, 0);
    for (i, op) in ops.iter().enumerate() {
        let done = match op {
            Op::Put(k, v) => deferred.put(k, v),
            Op::Delete(k) => deferred.delete(k).map(drop),
            Op::Batch(_) | Op::Get(_) | Op::Checkpoint => run_op(store, op, &states[i]),
            Op::Flush => deferred.wait_acked(deferred.visible_mark()),
        };
        if done.is_err() {
            break;
        }
        applied = i + 1;
        let acked_durably = matches!(op, Op::Flush) && durability == Durability::Sync;
        if acked_durably || matches!(op, Op::Checkpoint) {
            durable = applied;
        }
    }
    Run {
        states,
        // Every applied write may be on disk; so may the one that failed.
        acked: applied,
        durable,
    }
}

/// Everything the store holds, read key by key.
fn read_all(store: &PagedStore) -> Result<State, String> {
    let mut state = State::new();
    for id in 0..KEYS {
        let k = key(id);
        match store.get(&k) {
            Ok(Some(v)) => {
                state.insert(k, v);
            }
            Ok(None) => {}
            Err(e) => return Err(format!("get {:?}: {e}", String::from_utf8_lossy(&k))),
        }
    }
    let len = store.len().map_err(|e| e.to_string())?;
    if len != state.len() as u64 {
        return Err(format!("len() is {len}, {} keys readable", state.len()));
    }
    Ok(state)
}

fn describe(state: &State) -> String {
    let keys: Vec<String> = state
        .iter()
        .map(|(k, v)| format!("{}={}B", String::from_utf8_lossy(k), v.len()))
        .collect();
    keys.join(" ")
}

/// Reopens a crash state and checks it against the run.
fn verify(crashed: CrashVfs, config: &Config, run: &Run) -> Result<(), String> {
    let vfs = Arc::new(crashed);
    let before = diagnose(&vfs);
    let store = PagedStore::open_with_vfs(vfs.clone(), Path::new(DIR), config)
        .map_err(|e| format!("reopen failed: {e}; {before}"))?;
    let found = read_all(&store).map_err(|e| format!("{e}; {before}"))?;
    let range = run.candidates();
    let Some(k) = range.clone().find(|&k| run.states[k] == found) else {
        let other = (0..run.states.len())
            .rev()
            .find(|&k| run.states[k] == found);
        return Err(format!(
            "recovered state matches no prefix in {range:?} (acked {}; it is prefix {other:?}): \
             {before}; found [{}], expected at least [{}]",
            run.acked,
            describe(&found),
            describe(&run.states[*range.start()])
        ));
    };
    store.close().map_err(|e| format!("close: {e}"))?;
    drop(store);
    let report = folio::check_with_vfs(vfs.clone(), Path::new(DIR)).map_err(|e| e.to_string())?;
    if !report.is_sound() {
        return Err(format!("check after recovery: {:?}", report.problems));
    }
    let again = PagedStore::open_with_vfs(vfs, Path::new(DIR), config)
        .map_err(|e| format!("second reopen: {e}"))?;
    let second = read_all(&again)?;
    if second != run.states[k] {
        return Err("second reopen found a different state".to_string());
    }
    again.close().map_err(|e| format!("second close: {e}"))
}

/// The files of a crash state and what recovery will read, for failure
/// messages.
fn diagnose(vfs: &Arc<CrashVfs>) -> String {
    use folio::io::Vfs;
    let dir = Path::new(DIR);
    let mut files = vfs.list(dir).unwrap_or_default();
    files.sort();
    let sb = vfs
        .open(&dir.join(folio::store::SUPERBLOCK_FILE), false)
        .and_then(|f| folio::store::Superblock::read(&*f));
    let (lsn, seq) = match &sb {
        Ok(sb) if sb.checkpoint != 0 => folio::store::load_checkpoint(&**vfs, dir, sb)
            .map(|c| (c.lsn, c.wal_seq))
            .unwrap_or((0, 0)),
        _ => (0, 0),
    };
    let recovery = folio::wal::recover(&**vfs, dir, folio::wal::Lsn(lsn), seq).map(|r| {
        let lsns: Vec<u64> = r.records.iter().map(|x| x.lsn.0).collect();
        (lsns, r.files, r.torn)
    });
    format!("files {files:?}; superblock {sb:?}; checkpoint lsn {lsn} wal_seq {seq}; recovery {recovery:?}")
}

fn pick_durability(rng: &mut StdRng) -> Durability {
    match rng.gen_range(0..4) {
        0 | 1 => Durability::Sync,
        2 => Durability::Buffered,
        _ => Durability::None,
    }
}

/// Random workloads, crashed at a random instant (power loss while the
/// store runs) or killed at a random I/O, under every crash policy.
#[test]
fn random_crash_states_recover_a_prefix_with_every_acknowledged_write() {
    let target = env_size("FOLIO_CRASH_STATES", 2_000);
    crash_random_workloads(target, "random_crash_states", run_workload);
}

/// Deferred acknowledgement under crashes: a state after a crash is a
/// prefix of the writes (the log keeps their order), holding at least every
/// write acknowledged through a mark.
#[test]
fn deferred_writes_recover_a_prefix_with_every_acknowledged_mark() {
    let target = env_size("FOLIO_CRASH_STATES", 2_000) / 4;
    crash_random_workloads(target, "deferred_crash_states", run_workload_deferred);
}

/// Runs random workloads with `run`, crashed at a random instant (power
/// loss while the store runs) or killed at a random I/O, and verifies each
/// crash state under every policy, until `target` states are verified.
fn crash_random_workloads(
    target: usize,
    seed_name: &str,
    run: fn(&PagedStore, &[Op], Durability) -> Run,
) {
    let mut rng = rng(seed_name);
    let mut states = 0;
    let mut case = 0;
    while states < target {
        case += 1;
        let durability = pick_durability(&mut rng);
        let config = config(durability, rng.gen_bool(0.5));
        let n = rng.gen_range(1..80);
        let ops = gen_ops(&mut rng, n);
        let vfs = CrashVfs::new();
        let kill_at = rng.gen_bool(0.5).then(|| rng.gen_range(0..400));
        if let Some(n) = kill_at {
            vfs.crash_after(n);
        }
        let store = match PagedStore::open_with_vfs(Arc::new(vfs.clone()), Path::new(DIR), &config)
        {
            Ok(store) => store,
            Err(_) if kill_at.is_some() => continue, // died while creating the store
            Err(e) => panic!("case {case}: open: {e}"),
        };
        let result = run(&store, &ops, durability);
        if kill_at.is_none() {
            assert_eq!(result.acked, ops.len(), "case {case}: an operation failed");
        }
        for policy in CrashPolicy::ALL {
            let crashed = vfs.crash_state(policy, &mut rng);
            if let Err(why) = verify(crashed, &config, &result) {
                panic!("case {case} ({durability:?}, kill at {kill_at:?}, {policy:?}): {why}");
            }
            states += 1;
        }
        drop(store);
    }
    eprintln!("{seed_name}: {states} crash states verified");
}

/// One fixed small workload, killed after its k-th I/O for every k, each
/// crash state taken under every policy.
#[test]
fn exhaustive_sweep_over_every_crash_point() {
    let mut seed_rng = StdRng::seed_from_u64(0x5eed);
    let ops = gen_ops(&mut seed_rng, 24);
    let config = config(Durability::Sync, false);
    let total = {
        let vfs = CrashVfs::new();
        let store =
            PagedStore::open_with_vfs(Arc::new(vfs.clone()), Path::new(DIR), &config).unwrap();
        let run = run_workload(&store, &ops, Durability::Sync);
        assert_eq!(run.acked, ops.len());
        store.close().unwrap();
        vfs.io_count()
    };
    let mut rng = rng("exhaustive_sweep");
    for k in 0..total {
        let vfs = CrashVfs::new();
        vfs.crash_after(k);
        let run = match PagedStore::open_with_vfs(Arc::new(vfs.clone()), Path::new(DIR), &config) {
            Ok(store) => {
                let run = run_workload(&store, &ops, Durability::Sync);
                let _ = store.close(); // fails: the process is "dead"
                run
            }
            // Died while creating the store: nothing was acknowledged.
            Err(_) => Run {
                states: vec![State::new()],
                acked: 0,
                durable: 0,
            },
        };
        for policy in CrashPolicy::ALL {
            let crashed = vfs.crash_state(policy, &mut rng);
            if let Err(why) = verify(crashed, &config, &run) {
                panic!("crash after I/O {k} of {total} ({policy:?}): {why}");
            }
        }
    }
    eprintln!(
        "swept {total} crash points x {} policies",
        CrashPolicy::ALL.len()
    );
}

/// Writers on several threads (group commit, key stripes, background
/// checkpoints or snapshots) and power cuts at random moments while they
/// run, on every engine: every write acknowledged before the cut is there,
/// every batch all or nothing.
#[test]
fn crash_states_under_concurrent_writers() {
    for &engine in folio::ENGINES {
        crash_states_under_concurrent_writers_on(engine);
    }
}

fn crash_states_under_concurrent_writers_on(engine: &str) {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let rounds = env_size("FOLIO_CRASH_CONCURRENT_ROUNDS", 6);
    let threads = 4u64;
    let mut rng = rng(&format!("crash_states_under_concurrent_writers/{engine}"));
    let value_of = |t: u64, i: u64| vec![(t * 31 + i) as u8; ((t * 977 + i * 131) % 9000) as usize];
    let key_of = |t: u64, i: u64| format!("t{t}-{i:06}").into_bytes();
    for round in 0..rounds {
        let config = config(Durability::Sync, true);
        let vfs = CrashVfs::new();
        let store =
            folio::open_with_vfs(engine, Arc::new(vfs.clone()), Path::new(DIR), &config).unwrap();
        let acked: Vec<AtomicU64> = (0..threads).map(|_| AtomicU64::new(0)).collect();
        let stop = AtomicBool::new(false);
        let mut cuts = Vec::new();
        std::thread::scope(|s| {
            for t in 0..threads {
                let (store, acked, stop) = (&store, &acked, &stop);
                s.spawn(move || {
                    let mut i = 0;
                    while !stop.load(Ordering::Relaxed) {
                        // Every third write is a batch of three keys.
                        if i % 3 == 2 {
                            let mut batch = WriteBatch::new();
                            for j in i..i + 3 {
                                batch.put(key_of(t, j), value_of(t, j));
                            }
                            store.write_batch(&batch).unwrap();
                            i += 3;
                        } else {
                            store.put(&key_of(t, i), &value_of(t, i)).unwrap();
                            i += 1;
                        }
                        acked[t as usize].store(i, Ordering::Release);
                    }
                });
            }
            // The cuts come after a first checkpoint, so that they recover
            // from one (and the log after it), while more run.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while store.stats().checkpoints == 0 && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            for _ in 0..3 {
                std::thread::sleep(std::time::Duration::from_millis(rng.gen_range(5..40)));
                let floor: Vec<u64> = acked.iter().map(|a| a.load(Ordering::Acquire)).collect();
                let policy = CrashPolicy::ALL[rng.gen_range(0..CrashPolicy::ALL.len())];
                cuts.push((floor, vfs.crash_state(policy, &mut rng), policy));
            }
            stop.store(true, Ordering::Relaxed);
        });
        assert!(
            store.stats().checkpoints > 0,
            "{engine} round {round}: no checkpoint ran"
        );
        store.close().unwrap();
        for (floor, crashed, policy) in cuts {
            let recovered =
                folio::open_with_vfs(engine, Arc::new(crashed), Path::new(DIR), &config)
                    .unwrap_or_else(|e| panic!("{engine} round {round} {policy:?}: {e}"));
            for t in 0..threads {
                let mut i = 0;
                loop {
                    let got = recovered.get(&key_of(t, i)).unwrap();
                    match got {
                        Some(v) => {
                            assert_eq!(v, value_of(t, i), "{engine} round {round} {policy:?}")
                        }
                        None => {
                            assert!(
                                i >= floor[t as usize],
                                "{engine} round {round} {policy:?}: thread {t} write {i} was \
                                 acknowledged (floor {}) but is gone",
                                floor[t as usize]
                            );
                            // A batch is whole: if its first key is absent
                            // so are the rest, and nothing after it exists.
                            for j in i..i + 4 {
                                assert!(
                                    recovered.get(&key_of(t, j)).unwrap().is_none(),
                                    "{engine} round {round} {policy:?}: thread {t} has write {j} \
                                     but not {i}"
                                );
                            }
                            break;
                        }
                    }
                    i += 1;
                }
            }
            recovered.close().unwrap();
        }
    }
}

/// `buffered`: a checkpoint may copy writes whose WAL records were not yet
/// fsynced. A crash right after it, a reopen (whose log continues after the
/// checkpoint's LSN), more writes and a second crash must still recover,
/// with every write up to the checkpoint: recovery accepts a gap in the log
/// that the checkpoint covers.
#[test]
fn buffered_crash_after_checkpoint_then_crash_again() {
    let mut config = config(Durability::Buffered, false);
    config.sync_interval_ms = 3_600_000; // only flushes and checkpoints sync
    let mut rng = rng("buffered_crash_after_checkpoint");
    let vfs = CrashVfs::new();
    let store = PagedStore::open_with_vfs(Arc::new(vfs.clone()), Path::new(DIR), &config).unwrap();
    let mut model = State::new();
    for i in 0..40u32 {
        let (k, v) = (key(i % KEYS), value(&mut rng));
        store.put(&k, &v).unwrap();
        model.insert(k, v);
    }
    store.checkpoint().unwrap();
    let first = vfs.crash_state(CrashPolicy::DropUnsynced, &mut rng);
    drop(store);
    let store =
        PagedStore::open_with_vfs(Arc::new(first.clone()), Path::new(DIR), &config).unwrap();
    assert_eq!(read_all(&store).unwrap(), model, "after the first crash");
    for i in 0..10u32 {
        store.put(&key(i), b"after").unwrap();
    }
    for policy in CrashPolicy::ALL {
        let second = first.crash_state(policy, &mut rng);
        let again = PagedStore::open_with_vfs(Arc::new(second), Path::new(DIR), &config)
            .unwrap_or_else(|e| panic!("{policy:?}: reopen after the second crash: {e}"));
        let found = read_all(&again).unwrap();
        for (k, v) in &model {
            let got = found.get(k).unwrap();
            assert!(got == v || got == b"after", "{policy:?}: wrong value");
        }
        again.close().unwrap();
    }
    drop(store);
}

/// Runs that each log less than `checkpoint_wal_bytes` and crash before
/// closing still get their log checkpointed: the log a crash left counts
/// toward the next checkpoint, or a process that keeps crashing would
/// grow the WAL (and the memory recovery needs) without end.
#[test]
fn the_log_a_crash_left_counts_toward_the_next_checkpoint() {
    for engine in folio::ENGINES {
        crash_twice_under_the_checkpoint_trigger(engine);
    }
}

fn crash_twice_under_the_checkpoint_trigger(engine: &str) {
    let mut config = config(Durability::Sync, true);
    config.checkpoint_wal_bytes = 64 * 1024;
    let value = vec![7u8; 4096];
    let mut vfs = CrashVfs::new();
    for run in 0..2u32 {
        let store = folio::open_with_vfs(engine, Arc::new(vfs.clone()), Path::new(DIR), &config)
            .unwrap_or_else(|e| panic!("{engine}: open for run {run}: {e}"));
        let before = store.stats().checkpoints;
        // 10 puts: ~40 KiB of log, under the trigger on its own.
        for i in 0..10u32 {
            store.put(&key(run * 10 + i), &value).unwrap();
        }
        if run == 1 {
            // With the first run's log, the trigger is passed: the
            // background thread checkpoints (it looks every 100 ms).
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while store.stats().checkpoints == before {
                assert!(
                    std::time::Instant::now() < deadline,
                    "{engine}: no checkpoint with {} bytes of WAL over two runs",
                    2 * 10 * value.len()
                );
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        let crashed = vfs.crash_state(CrashPolicy::DropUnsynced, &mut rng("log_a_crash_left"));
        drop(store);
        vfs = crashed;
    }
}

/// Inside `scope`: checkpoints back to back on another thread until
/// `stop`, while this one cuts the power three times, `pause_ms` apart
/// (random in the range); then sets `stop`. Returns the states after the
/// cuts.
fn cut_during_checkpoints<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    store: &'scope PagedStore,
    stop: &'scope std::sync::atomic::AtomicBool,
    vfs: &CrashVfs,
    rng: &mut StdRng,
    pause_ms: std::ops::Range<u64>,
) -> Vec<(CrashVfs, CrashPolicy)> {
    use std::sync::atomic::Ordering;
    scope.spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            store.checkpoint().unwrap();
        }
    });
    let mut cuts = Vec::new();
    for _ in 0..3 {
        std::thread::sleep(std::time::Duration::from_millis(
            rng.gen_range(pause_ms.clone()),
        ));
        let policy = CrashPolicy::ALL[rng.gen_range(0..CrashPolicy::ALL.len())];
        cuts.push((vfs.crash_state(policy, rng), policy));
    }
    stop.store(true, Ordering::Relaxed);
    cuts
}

/// Without a WAL, with writers overwriting a few keys on several threads
/// while checkpoints come one after another, and power cuts at random
/// moments: every state recovers, and every value read is one its key was
/// given — a slot the durable checkpoint names is never written over (a
/// slot no checkpoint named is reused at once: decision 28).
#[test]
fn without_a_wal_overwrites_during_checkpoints_never_damage_the_checkpoint() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let rounds = env_size("FOLIO_CRASH_CONCURRENT_ROUNDS", 6);
    let threads = 3u64;
    let keys_per_thread = 40u64;
    let mut rng = rng("without_a_wal_overwrites_during_checkpoints");
    let key_of = |t: u64, k: u64| format!("t{t}-{k:03}").into_bytes();
    // The key's own tag, then the version, then filler of a length that
    // moves the value between size classes.
    let value_of = |t: u64, k: u64, version: u64| {
        let mut v = key_of(t, k);
        v.extend_from_slice(&version.to_le_bytes());
        let filler = (t * 977 + k * 131 + version * 61) % 3000;
        v.resize(v.len() + filler as usize, version as u8);
        v
    };
    for round in 0..rounds {
        let config = config(Durability::None, true);
        let vfs = CrashVfs::new();
        let store =
            PagedStore::open_with_vfs(Arc::new(vfs.clone()), Path::new(DIR), &config).unwrap();
        let stop = AtomicBool::new(false);
        let mut cuts = Vec::new();
        std::thread::scope(|s| {
            for t in 0..threads {
                let (store, stop) = (&store, &stop);
                s.spawn(move || {
                    let mut version = 0;
                    while !stop.load(Ordering::Relaxed) {
                        version += 1;
                        let k = version % keys_per_thread;
                        if version % 5 == 0 {
                            let mut batch = WriteBatch::new();
                            batch.put(key_of(t, k), value_of(t, k, version));
                            batch.delete(key_of(t, (k + 1) % keys_per_thread));
                            store.write_batch(&batch).unwrap();
                        } else {
                            store.put(&key_of(t, k), &value_of(t, k, version)).unwrap();
                        }
                    }
                });
            }
            cuts = cut_during_checkpoints(s, &store, &stop, &vfs, &mut rng, 5..40);
        });
        assert!(
            store.stats().checkpoints > 0,
            "round {round}: no checkpoint ran"
        );
        store.close().unwrap();
        for (crashed, policy) in cuts {
            let recovered = PagedStore::open_with_vfs(Arc::new(crashed), Path::new(DIR), &config)
                .unwrap_or_else(|e| panic!("round {round} {policy:?}: {e}"));
            for t in 0..threads {
                for k in 0..keys_per_thread {
                    let got = recovered
                        .get(&key_of(t, k))
                        .unwrap_or_else(|e| panic!("round {round} {policy:?}: {e}"));
                    if let Some(v) = got {
                        let tag = key_of(t, k).len();
                        let version = v
                            .get(tag..tag + 8)
                            .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap()));
                        assert_eq!(
                            v,
                            value_of(t, k, version),
                            "round {round} {policy:?}: key {t}/{k} holds another value"
                        );
                    }
                }
            }
            recovered.close().unwrap();
        }
    }
}

/// Slot keys each writer of the one-instant test cycles through.
const INSTANT_SLOTS: u64 = 16;

fn instant_slot_key(t: u64, s: u64) -> Vec<u8> {
    format!("w{t}-slot{s:02}").into_bytes()
}

fn instant_head_key(t: u64) -> Vec<u8> {
    format!("w{t}-head").into_bytes()
}

/// Step `i`'s value: its number in a fixed width, then filler of a length
/// that moves values between size classes.
fn instant_value(t: u64, i: u64) -> Vec<u8> {
    let mut v = format!("w{t}-{i:010}").into_bytes();
    v.resize(v.len() + (i * 37 % 600) as usize, i as u8);
    v
}

/// Writer `t`'s step `i`: (a) its slot `i % SLOTS` := i, (b) the next slot
/// deleted — (a) and (b) as one batch every fourth step — then (c) its head
/// := i.
fn instant_step(store: &PagedStore, t: u64, i: u64) {
    let slot = instant_slot_key(t, i % INSTANT_SLOTS);
    let next = instant_slot_key(t, (i + 1) % INSTANT_SLOTS);
    if i.is_multiple_of(4) {
        let mut batch = WriteBatch::new();
        batch.put(slot, instant_value(t, i));
        batch.delete(next);
        store.write_batch(&batch).unwrap();
    } else {
        store.put(&slot, &instant_value(t, i)).unwrap();
        store.delete(&next).unwrap();
    }
    store
        .put(&instant_head_key(t), &instant_value(t, i))
        .unwrap();
}

/// Writer `t`'s keys after `done` whole steps and `partial` operations of
/// the next: 1 after (a), 2 after (a) and (b).
fn instant_model(t: u64, done: u64, partial: u8) -> std::collections::BTreeMap<Vec<u8>, Vec<u8>> {
    let mut model = std::collections::BTreeMap::new();
    let mut apply = |i: u64, ops: u8| {
        if ops >= 1 {
            model.insert(instant_slot_key(t, i % INSTANT_SLOTS), instant_value(t, i));
        }
        if ops >= 2 {
            model.remove(&instant_slot_key(t, (i + 1) % INSTANT_SLOTS));
        }
        if ops >= 3 {
            model.insert(instant_head_key(t), instant_value(t, i));
        }
    };
    for i in 1..=done {
        apply(i, 3);
    }
    apply(done + 1, partial);
    model
}

/// The `n`th key the adding writer of the one-instant test puts, and its
/// value.
fn added_key(n: u32) -> (Vec<u8>, Vec<u8>) {
    (
        format!("added-{n:08}").into_bytes(),
        n.to_le_bytes().repeat(3),
    )
}

/// Writer `t`'s keys as `store` holds them.
fn instant_state(store: &PagedStore, t: u64) -> std::collections::BTreeMap<Vec<u8>, Vec<u8>> {
    (0..INSTANT_SLOTS)
        .map(|s| instant_slot_key(t, s))
        .chain([instant_head_key(t)])
        .filter_map(|k| store.get(&k).unwrap().map(|v| (k, v)))
        .collect()
}

/// Without a WAL a checkpoint's copy of the index must be the state of one
/// instant, though writers go on while it is taken (`undo.rs`). Two writers
/// each run a fixed sequence of puts, deletes and batches over their own
/// keys while checkpoints come back to back, beside 30,000 keys nobody
/// changes (so a copy takes long enough for writers to race it) and a
/// third writer adding new keys in order (so the index grows, and resizes,
/// during copies); power cuts at random moments. Every cut recovers every
/// unchanged key, a prefix of the added keys and, for each writer, the
/// state after some prefix of its sequence (a batch whole or not at all).
#[test]
fn without_a_wal_a_checkpoint_is_the_state_of_one_instant() {
    use std::sync::atomic::{AtomicBool, Ordering};
    const WRITERS: u64 = 2;
    const STILL_KEYS: u32 = 30_000;
    let rounds = env_size("FOLIO_CRASH_INSTANT_ROUNDS", 4);
    let mut rng = rng("without_a_wal_a_checkpoint_is_the_state_of_one_instant");
    let still = |n: u32| (format!("still-{n}").into_bytes(), n.to_le_bytes().to_vec());
    for round in 0..rounds {
        let mut config = config(Durability::None, false);
        config.cache_bytes = 4 << 20;
        let vfs = CrashVfs::new();
        let store =
            PagedStore::open_with_vfs(Arc::new(vfs.clone()), Path::new(DIR), &config).unwrap();
        for n in 0..STILL_KEYS {
            let (k, v) = still(n);
            store.put(&k, &v).unwrap();
        }
        store.checkpoint().unwrap();
        let stop = AtomicBool::new(false);
        let mut cuts = Vec::new();
        let added = std::thread::scope(|s| {
            for t in 0..WRITERS {
                let (store, stop) = (&store, &stop);
                s.spawn(move || {
                    let mut i = 0;
                    while !stop.load(Ordering::Relaxed) {
                        i += 1;
                        instant_step(store, t, i);
                    }
                });
            }
            let adder = {
                let (store, stop) = (&store, &stop);
                s.spawn(move || {
                    let mut n = 0u32;
                    while !stop.load(Ordering::Relaxed) {
                        let (k, v) = added_key(n);
                        store.put(&k, &v).unwrap();
                        n += 1;
                    }
                    n
                })
            };
            cuts = cut_during_checkpoints(s, &store, &stop, &vfs, &mut rng, 30..120);
            adder.join().unwrap()
        });
        // The first was taken before the writers started.
        let checkpoints = store.stats().checkpoints;
        assert!(checkpoints > 1, "round {round}: {checkpoints} checkpoints");
        store.close().unwrap();
        for (crashed, policy) in cuts {
            let at = format!("round {round} {policy:?}");
            let recovered = PagedStore::open_with_vfs(Arc::new(crashed), Path::new(DIR), &config)
                .unwrap_or_else(|e| panic!("{at}: {e}"));
            for n in 0..STILL_KEYS {
                let (k, v) = still(n);
                assert_eq!(recovered.get(&k).unwrap(), Some(v), "{at}: still-{n}");
            }
            let prefix = (0..added)
                .find(|&n| recovered.get(&added_key(n).0).unwrap().is_none())
                .unwrap_or(added);
            for n in 0..added {
                let (k, v) = added_key(n);
                let expected = (n < prefix).then_some(v);
                assert_eq!(
                    recovered.get(&k).unwrap(),
                    expected,
                    "{at}: added key {n} of {added}, prefix {prefix}"
                );
            }
            for t in 0..WRITERS {
                let state = instant_state(&recovered, t);
                let done = state.get(&instant_head_key(t)).map_or(0, |v| {
                    let digits = &v[format!("w{t}-").len()..][..10];
                    std::str::from_utf8(digits).unwrap().parse::<u64>().unwrap()
                });
                let whole_batch = (done + 1).is_multiple_of(4);
                let prefix = (0..=2u8)
                    .filter(|&p| !(whole_batch && p == 1))
                    .find(|&p| instant_model(t, done, p) == state);
                assert!(
                    prefix.is_some(),
                    "{at}: writer {t} after step {done} holds a state no prefix of its steps gives: {:?}",
                    state.keys().map(|k| String::from_utf8_lossy(k)).collect::<Vec<_>>()
                );
            }
            recovered.close().unwrap();
        }
    }
}
