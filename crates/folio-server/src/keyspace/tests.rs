//! The key space against a `BTreeMap` model on a simulated clock, over the
//! real engine on an in-memory file system, with reopens.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use folio::io::MemVfs;
use folio::{Config, KvStore, PagedStore};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

/// Key -> (value, deadline).
type Model = BTreeMap<Vec<u8>, (Vec<u8>, Option<u64>)>;

fn open_store(mem: &MemVfs) -> Arc<dyn KvStore> {
    let store =
        PagedStore::open_with_vfs(Arc::new(mem.clone()), Path::new("/ks"), &Config::default())
            .expect("open the store");
    Arc::new(store)
}

fn live(model: &Model, now_ms: u64) -> BTreeMap<Vec<u8>, (Vec<u8>, Option<u64>)> {
    model
        .iter()
        .filter(|(_, (_, deadline))| !deadline.is_some_and(|d| is_expired(d, now_ms)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Every key of a full `SCAN` iteration, each checked to come once.
fn scan_all(keyspace: &Keyspace, count: usize, now_ms: u64) -> BTreeSet<Vec<u8>> {
    let (mut cursor, mut seen) = (0, BTreeSet::new());
    loop {
        let page = keyspace.scan(cursor, count, now_ms).expect("scan");
        for key in page.keys {
            assert!(seen.insert(key), "a key came twice in one iteration");
        }
        if page.next_cursor == 0 {
            return seen;
        }
        assert!(page.next_cursor > cursor, "the cursor moves forward");
        cursor = page.next_cursor;
    }
}

fn check(keyspace: &Keyspace, model: &Model, now_ms: u64) {
    let expected = live(model, now_ms);
    for (key, (value, deadline)) in model {
        let got = keyspace.get(key, now_ms).expect("get");
        match expected.get(key) {
            Some(_) => {
                let got = got.expect("a live key is found");
                assert_eq!(&got.value[..], &value[..]);
                assert_eq!(got.deadline_ms, *deadline);
            }
            None => assert!(got.is_none(), "an expired key is absent"),
        }
    }
    assert_eq!(keyspace.len(now_ms).expect("len"), expected.len() as u64);
    let mut listed = BTreeSet::new();
    keyspace
        .for_each_live_key(now_ms, &mut |k| {
            listed.insert(k.to_vec());
            ControlFlow::Continue(())
        })
        .expect("keys");
    let expected_keys: BTreeSet<Vec<u8>> = expected.keys().cloned().collect();
    assert_eq!(listed, expected_keys);
    assert_eq!(scan_all(keyspace, 3, now_ms), expected_keys);
    let with_deadline = expected.values().filter(|(_, d)| d.is_some()).count();
    assert_eq!(keyspace.expiry_summary(now_ms).0, with_deadline as u64);
    keyspace.expiries.assert_invariants();
}

#[test]
fn matches_a_model_through_expiry_sweeps_and_reopens() {
    let mut rng = StdRng::seed_from_u64(0x6b65_7973);
    let mem = MemVfs::new();
    let mut keyspace = Keyspace::open(open_store(&mem)).expect("open");
    let mut model = Model::new();
    let mut now_ms = 1_000_000u64;
    let mut reopens = 0;
    for step in 0..1500 {
        // Every 100 steps the store is closed and the key space reopened:
        // deadlines come back from the values alone.
        if step % 100 == 99 {
            check(&keyspace, &model, now_ms);
            keyspace.store().close().expect("close");
            keyspace = Keyspace::open(open_store(&mem)).expect("reopen");
            reopens += 1;
            check(&keyspace, &model, now_ms);
            continue;
        }
        let key = format!("k{}", rng.gen_range(0..40)).into_bytes();
        match rng.gen_range(0..10) {
            0..=3 => {
                let value: Vec<u8> = (0..rng.gen_range(0..40)).map(|_| rng.gen()).collect();
                let deadline = rng.gen_bool(0.5).then(|| now_ms + rng.gen_range(0..200));
                let _guard = keyspace.lock([&key[..]]);
                keyspace.put(&key, &value, deadline).expect("put");
                model.insert(key, (value, deadline));
            }
            4 => {
                let _guard = keyspace.lock([&key[..]]);
                let removed = keyspace.delete(&key, now_ms).expect("delete");
                let was_live = live(&model, now_ms).contains_key(&key);
                assert_eq!(removed, was_live, "delete reports only a live key");
                model.remove(&key);
            }
            5 => {
                let pairs: Vec<Bytes> = (0..rng.gen_range(1..4))
                    .flat_map(|i| [Bytes::from(format!("m{i}")), Bytes::from(vec![b'v'; i])])
                    .collect();
                let _guard = keyspace.lock(pairs.iter().step_by(2).map(|k| &k[..]));
                keyspace.put_pairs(&pairs).expect("put pairs");
                for pair in pairs.chunks_exact(2) {
                    model.insert(pair[0].to_vec(), (pair[1].to_vec(), None));
                }
            }
            6 => {
                let swept = keyspace.sweep(now_ms, 8).expect("sweep");
                assert!(swept <= 8);
                // Swept keys were expired: the model's live view is unchanged.
                model.retain(|k, (_, d)| {
                    !d.is_some_and(|d| is_expired(d, now_ms))
                        || keyspace.store().get(k).expect("raw get").is_some()
                });
            }
            7 => now_ms += rng.gen_range(0..100),
            _ => check(&keyspace, &model, now_ms),
        }
    }
    assert_eq!(reopens, 15);
    check(&keyspace, &model, now_ms);
    // Far in the future everything with a deadline is gone, and a sweep
    // deletes exactly those keys.
    now_ms += 1_000_000;
    while keyspace.sweep(now_ms, 5).expect("sweep") > 0 {}
    model.retain(|_, (_, d)| d.is_none());
    assert_eq!(keyspace.store().len().expect("len"), model.len() as u64);
    check(&keyspace, &model, now_ms);
}

#[test]
fn refuses_a_store_written_by_someone_else() {
    let mem = MemVfs::new();
    let store = open_store(&mem);
    store.put(b"raw", b"not an envelope").expect("put");
    let keyspace = Keyspace {
        store: Arc::clone(&store),
        expiries: expiry::ExpiryIndex::default(),
        locks: KeyLocks::new(),
        scan_seed: 0,
        expired: AtomicU64::new(0),
        removals: RwLock::new(()),
        clearing: std::sync::atomic::AtomicBool::new(false),
    };
    let err = keyspace.get(b"raw", 0).expect_err("foreign value");
    assert!(err.to_string().contains("format tag 0x6e"), "{err}");
    store.close().expect("close");
    let err = Keyspace::open(open_store(&mem))
        .err()
        .expect("foreign store");
    assert!(matches!(err, Error::Corruption { .. }), "{err}");
    assert!(err.to_string().contains("key raw"), "{err}");
}

/// One value limit, with a deadline or without: the engine's less the
/// largest header, stated in the client's bytes.
#[test]
fn value_limits_are_stated_in_client_bytes() {
    let mem = MemVfs::new();
    let store = open_store(&mem);
    let keyspace = Keyspace::open(store).expect("open");
    let max = Config::default().max_value_bytes;
    let limit = max - envelope::MAX_HEADER_BYTES;
    let too_big = vec![0u8; limit + 1];
    for deadline in [None, Some(5)] {
        let err = keyspace.put(b"k", &too_big, deadline).expect_err("too big");
        match err {
            Error::ValueTooLarge { len, max } => assert_eq!((len, max), (limit + 1, limit)),
            other => panic!("unexpected {other}"),
        }
        let pairs = [Bytes::from_static(b"k"), Bytes::from(too_big.clone())];
        let err = keyspace.put_pairs(&pairs).expect_err("too big");
        assert!(
            matches!(err, Error::ValueTooLarge { max, .. } if max == limit),
            "{err}"
        );
        keyspace
            .put(b"k", &too_big[..limit], deadline)
            .expect("at the limit");
    }
}

#[test]
fn scan_pages_cover_a_large_key_set_once() {
    let keyspace = Keyspace::open(open_store(&MemVfs::new())).expect("open");
    let keys: BTreeSet<Vec<u8>> = (0..5000u32).map(|i| i.to_be_bytes().to_vec()).collect();
    for key in &keys {
        keyspace.put(key, b"", None).expect("put");
    }
    for count in [1, 10, 100, 10_000] {
        assert_eq!(scan_all(&keyspace, count, 0), keys);
    }
    // COUNT 1 still returns a 64th of the keys per call.
    let page = keyspace.scan(0, 1, 0).expect("scan");
    assert!(page.keys.len() >= 5000 / 64, "{} keys", page.keys.len());
    assert_ne!(page.next_cursor, 0);
}

#[test]
fn the_sweep_never_deletes_a_key_rewritten_after_it_was_listed() {
    let keyspace = Arc::new(Keyspace::open(open_store(&MemVfs::new())).expect("open"));
    let keys: Vec<Vec<u8>> = (0..2000u32).map(|i| i.to_be_bytes().to_vec()).collect();
    for key in &keys {
        keyspace.put(key, b"old", Some(5)).expect("put");
    }
    let sweeper = {
        let keyspace = Arc::clone(&keyspace);
        std::thread::spawn(move || {
            let mut swept = 0;
            loop {
                let n = keyspace.sweep(10, 16).expect("sweep");
                if n == 0 && keyspace.expiries.count_due(10) == 0 {
                    return swept;
                }
                swept += n;
            }
        })
    };
    // Rewrite every other key with no deadline while the sweep runs.
    for key in keys.iter().step_by(2) {
        let _guard = keyspace.lock([&key[..]]);
        keyspace.put(key, b"new", None).expect("rewrite");
    }
    let swept = sweeper.join().expect("sweeper");
    for (i, key) in keys.iter().enumerate() {
        let got = keyspace.get(key, 10).expect("get");
        if i % 2 == 0 {
            assert_eq!(got.expect("a rewritten key survives").value, &b"new"[..]);
        } else {
            assert!(got.is_none());
            assert_eq!(keyspace.store().get(key).expect("raw"), None, "swept");
        }
    }
    assert!(swept >= 1000, "{swept}");
    // Every key expired (deadline 5 ms after the epoch) and is gone, each
    // counted once: by the sweep, or by the rewrite that replaced it.
    assert_eq!(keyspace.expired_keys(), 2000);
    keyspace.expiries.assert_invariants();
}

#[test]
fn expired_keys_counts_each_expired_key_once() {
    let keyspace = Keyspace::open(open_store(&MemVfs::new())).expect("open");
    let passed = Some(1); // 1 ms after the epoch: long expired.
    let later = Some(unix_now_ms() + 3_600_000);
    let pair = |key: &'static [u8], value: &'static [u8]| {
        [Bytes::from_static(key), Bytes::from_static(value)]
    };

    // A write over an expired key counts it; a second write does not.
    keyspace.put(b"a", b"1", passed).expect("put");
    keyspace.put(b"a", b"2", None).expect("put");
    keyspace.put(b"a", b"3", later).expect("put");
    assert_eq!(keyspace.expired_keys(), 1);

    // MSET naming an expired key twice counts it once.
    keyspace.put(b"b", b"1", passed).expect("put");
    let pairs: Vec<Bytes> = [pair(b"b", b"x"), pair(b"b", b"y")].concat();
    keyspace.put_pairs(&pairs).expect("mset");
    assert_eq!(keyspace.expired_keys(), 2);

    // A write keeping the passed deadline (KEEPTTL) leaves it to the sweep.
    keyspace.put(b"c", b"1", passed).expect("put");
    keyspace.put(b"c", b"2", passed).expect("keepttl");
    assert_eq!(keyspace.expired_keys(), 2);
    assert_eq!(keyspace.sweep(unix_now_ms(), 16).expect("sweep"), 1);
    assert_eq!(keyspace.expired_keys(), 3);

    // DEL of an expired key answers 0 and counts it as expired, once.
    keyspace.put(b"d", b"1", passed).expect("put");
    assert!(!keyspace.delete(b"d", unix_now_ms()).expect("del"));
    assert!(!keyspace.delete(b"d", unix_now_ms()).expect("del again"));
    assert_eq!(keyspace.expired_keys(), 4);
    assert_eq!(keyspace.sweep(unix_now_ms(), 16).expect("sweep"), 0);
    assert_eq!(keyspace.expired_keys(), 4);
    keyspace.expiries.assert_invariants();
}

/// On an engine with smaller batches than the sweep's and `clear`'s, both
/// still delete every key, in batches the engine accepts; with deferred
/// acknowledgement their deletes are durable when they return.
#[test]
fn sweep_and_clear_fit_the_engine_batch_limits() {
    let mem = MemVfs::new();
    let mut config = Config::default();
    config.max_batch_ops = 7;
    config.durability = folio::Durability::Sync;
    let store: Arc<dyn KvStore> = Arc::new(
        PagedStore::open_with_vfs(Arc::new(mem.clone()), Path::new("/ks"), &config)
            .expect("open the store"),
    );
    let keyspace = Keyspace::open(store.clone()).expect("open the key space");
    for i in 0..100u32 {
        let key = format!("k{i}").into_bytes();
        let deadline = (i < 60).then_some(1_000);
        let _guard = keyspace.lock([&key[..]]);
        keyspace.put(&key, b"v", deadline).expect("put");
    }
    assert_eq!(keyspace.sweep(5_000, 128).expect("sweep"), 60);
    assert_eq!(store.len().unwrap(), 40);
    let deferred = store.deferred_ack().expect("the paged engine defers");
    assert!(
        deferred.is_acked(deferred.visible_mark()),
        "the sweep's deletes are durable"
    );
    keyspace.clear(1024).expect("clear");
    assert_eq!(store.len().unwrap(), 0);
    assert!(
        deferred.is_acked(deferred.visible_mark()),
        "clear's deletes are durable"
    );
}

/// An engine with no deferred acknowledgement that accepts
/// `batches_left` write batches of at most `max_ops` operations, then
/// fails every later one with an I/O error. With `pause`, each batch
/// written meets the test at the first barrier and returns only once the
/// test meets it at the second.
struct FailingBatches {
    inner: Arc<dyn KvStore>,
    max_ops: usize,
    batches_left: std::sync::atomic::AtomicUsize,
    pause: Option<(std::sync::Barrier, std::sync::Barrier)>,
}

impl FailingBatches {
    fn new(inner: Arc<dyn KvStore>, max_ops: usize) -> Self {
        FailingBatches {
            inner,
            max_ops,
            batches_left: std::sync::atomic::AtomicUsize::new(usize::MAX),
            pause: None,
        }
    }
}

impl KvStore for FailingBatches {
    fn engine_name(&self) -> &'static str {
        "failing-batches"
    }
    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.inner.put(key, value)
    }
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.inner.get(key)
    }
    fn delete(&self, key: &[u8]) -> Result<bool> {
        self.inner.delete(key)
    }
    fn max_value_bytes(&self) -> usize {
        self.inner.max_value_bytes()
    }
    fn write_batch(&self, batch: &WriteBatch) -> Result<()> {
        let ops = batch.ops().len();
        if ops > self.max_ops {
            return Err(Error::BatchTooLarge {
                what: format!("{ops} operations"),
                max: self.max_ops,
                field: "max_ops",
            });
        }
        let left = &self.batches_left;
        if left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_err()
        {
            let injected = std::io::Error::other("injected batch failure");
            return Err(Error::io("write", "/ks/wal", injected));
        }
        self.inner.write_batch(batch)?;
        if let Some((written, release)) = &self.pause {
            written.wait();
            release.wait();
        }
        Ok(())
    }
    fn flush(&self) -> Result<()> {
        self.inner.flush()
    }
    fn len(&self) -> Result<u64> {
        self.inner.len()
    }
    fn for_each_key(&self, visit: &mut dyn FnMut(&[u8]) -> ControlFlow<()>) -> Result<()> {
        self.inner.for_each_key(visit)
    }
    fn stats(&self) -> folio::Stats {
        self.inner.stats()
    }
    fn close(&self) -> Result<()> {
        self.inner.close()
    }
}

/// A sweep whose later batch fails still counts the keys its earlier
/// batches deleted: `expired_keys` agrees with what the store lost.
#[test]
fn a_failed_sweep_counts_the_keys_it_deleted() {
    let store = Arc::new(FailingBatches::new(open_store(&MemVfs::new()), 7));
    let keyspace = Keyspace::open(store.clone()).expect("open the key space");
    for i in 0..20u32 {
        let key = format!("k{i}").into_bytes();
        let _guard = keyspace.lock([&key[..]]);
        keyspace.put(&key, b"v", Some(1_000)).expect("put");
    }
    // 20 keys go in batches of 5: the first goes through, the rest fail.
    store.batches_left.store(1, Ordering::SeqCst);
    keyspace.sweep(5_000, 128).expect_err("a batch fails");
    assert_eq!(store.len().expect("len"), 15, "one batch of 5 deleted");
    assert_eq!(keyspace.expired_keys(), 5);
    keyspace.expiries.assert_invariants();
}

/// A key space over an engine whose every write batch pauses once written
/// (`FailingBatches::pause`).
fn paused_keyspace() -> (Arc<FailingBatches>, Keyspace) {
    let mut store = FailingBatches::new(open_store(&MemVfs::new()), usize::MAX);
    store.pause = Some((std::sync::Barrier::new(2), std::sync::Barrier::new(2)));
    let store = Arc::new(store);
    let keyspace = Keyspace::open(store.clone()).expect("open the key space");
    (store, keyspace)
}

/// `len` (DBSIZE) waits out a sweep between its store write and its index
/// update: read there, the swept keys would be subtracted twice (and read
/// the other way round, counted while expired).
#[test]
fn len_does_not_count_a_sweep_half_done() {
    let (store, keyspace) = paused_keyspace();
    for i in 0..30u32 {
        let key = format!("k{i}").into_bytes();
        let deadline = (i < 20).then_some(1_000);
        let _guard = keyspace.lock([&key[..]]);
        keyspace.put(&key, b"v", deadline).expect("put");
    }
    assert_eq!(keyspace.len(5_000).expect("len"), 10);
    std::thread::scope(|s| {
        let sweep = s.spawn(|| keyspace.sweep(5_000, 128));
        let (written, release) = store.pause.as_ref().expect("paused");
        written.wait(); // the store has lost the 20 keys, the index not yet
        assert!(
            keyspace.removals.is_locked_exclusive(),
            "the sweep holds `removals` across the pause"
        );
        let len = s.spawn(|| keyspace.len(5_000));
        // Most often `len` is waiting by now; if it is not, it reads after
        // the sweep, and the lock checked above is what makes it right.
        std::thread::sleep(std::time::Duration::from_millis(50));
        release.wait();
        assert_eq!(sweep.join().expect("sweep").expect("sweep"), 20);
        assert_eq!(len.join().expect("len").expect("len"), 10);
    });
}

/// `FLUSHDB` is one step for other clients: from its start, before its
/// later batches are written, reads find nothing, and `DBSIZE`, `KEYS` and
/// `SCAN` an empty key space.
#[test]
fn a_flush_reads_as_done_from_its_start() {
    let (store, keyspace) = paused_keyspace();
    let keys: Vec<Vec<u8>> = (0..30u32).map(|i| format!("k{i}").into_bytes()).collect();
    for key in &keys {
        let _guard = keyspace.lock([&key[..]]);
        keyspace.put(key, b"v", None).expect("put");
    }
    std::thread::scope(|s| {
        let flush = s.spawn(|| keyspace.clear(10));
        let (written, release) = store.pause.as_ref().expect("paused");
        written.wait(); // the first of three batches is written
        assert_eq!(store.len().expect("raw len"), 20, "two batches to go");
        for key in &keys {
            assert!(keyspace.get(key, 0).expect("get").is_none());
        }
        assert_eq!(keyspace.len(0).expect("len"), 0);
        let mut listed = 0;
        keyspace
            .for_each_live_key(0, &mut |_| {
                listed += 1;
                ControlFlow::Continue(())
            })
            .expect("keys");
        assert_eq!(listed, 0);
        assert_eq!(keyspace.scan(0, 100, 0).expect("scan"), ScanPage::default());
        release.wait();
        for _ in 0..2 {
            written.wait();
            release.wait();
        }
        flush.join().expect("flush").expect("flush");
    });
    assert_eq!(store.len().expect("raw len"), 0);
    let key = b"after";
    let _guard = keyspace.lock([&key[..]]);
    keyspace.put(key, b"v", None).expect("writes go on");
    assert!(keyspace.get(key, 0).expect("get").is_some());
}
