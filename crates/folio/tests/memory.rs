//! The memory engine beyond the conformance suite: the WAL stays bounded,
//! snapshots without a WAL, damaged or missing files, the other engine's
//! directory, deferred acknowledgement, and a failed fsync.

#![allow(clippy::cast_possible_truncation)] // test data wraps bytes on purpose

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::test_config;
use folio::io::{FaultOp, FaultVfs, MemVfs, Vfs};
use folio::memory::snapshot::{decode_entries, snapshot_file_name};
use folio::{Config, Durability, Error, KvStore, MemoryStore};

const DIR: &str = "/mem";

fn open(vfs: &Arc<dyn Vfs>, config: &Config) -> folio::Result<MemoryStore> {
    MemoryStore::open_with_vfs(vfs.clone(), Path::new(DIR), config)
}

fn files(vfs: &Arc<dyn Vfs>, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = vfs
        .list(Path::new(DIR))
        .unwrap()
        .into_iter()
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort();
    names
}

#[test]
fn background_snapshots_keep_the_wal_bounded() {
    let vfs: Arc<dyn Vfs> = Arc::new(MemVfs::new());
    let mut c = test_config();
    c.wal_file_bytes = 64 * 1024;
    c.checkpoint_wal_bytes = 128 * 1024;
    let store = open(&vfs, &c).unwrap();
    let mut most_wal_files = 0;
    let mut checkpoints_before_round = 0;
    for i in 0..1500u32 {
        store
            .put(&(i % 100).to_le_bytes(), &[i as u8; 2000])
            .unwrap();
        most_wal_files = most_wal_files.max(files(&vfs, "wal-").len());
        // Rounds of ~200 KB, each over the trigger: a round ends once a
        // snapshot has finished since it began (the checkpointer looks
        // every 100 ms; a loaded machine may take longer).
        if i % 100 == 99 {
            let deadline = Instant::now() + Duration::from_secs(30);
            while store.stats().checkpoints == checkpoints_before_round {
                assert!(
                    Instant::now() < deadline,
                    "no snapshot after round {}",
                    i / 100
                );
                std::thread::sleep(Duration::from_millis(10));
            }
            checkpoints_before_round = store.stats().checkpoints;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.stats().checkpoints == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats = store.stats();
    assert!(stats.checkpoints > 0, "no background snapshot");
    assert!(
        stats.wal_records >= 1500 && stats.wal_fsyncs > 0,
        "{stats:?}"
    );
    // 3 MB logged in 64 KiB files: without retiring that is ~46 files.
    assert!(
        most_wal_files <= 12,
        "the WAL grew to {most_wal_files} files"
    );
    assert!(files(&vfs, "snapshot-").len() <= 2);
    store.close().unwrap();
    assert_eq!(files(&vfs, "snapshot-").len(), 1, "older snapshots removed");
    let store = open(&vfs, &c).unwrap();
    assert_eq!(store.len().unwrap(), 100);
    assert_eq!(
        store.get(&99u32.to_le_bytes()).unwrap().unwrap(),
        [(1499 % 256) as u8; 2000]
    );
}

#[test]
fn without_a_wal_flush_writes_a_snapshot() {
    let vfs: Arc<dyn Vfs> = Arc::new(MemVfs::new());
    let mut c = test_config();
    c.durability = Durability::None;
    let store = open(&vfs, &c).unwrap();
    let first = files(&vfs, "snapshot-");
    assert_eq!(
        first,
        vec![snapshot_file_name(1)],
        "a new store has a snapshot"
    );
    store.put(b"k", b"v").unwrap();
    store.flush().unwrap();
    assert_eq!(files(&vfs, "snapshot-"), vec![snapshot_file_name(2)]);
    assert!(
        files(&vfs, "wal-").is_empty(),
        "no WAL with durability none"
    );
    let bytes = folio::io::read_file(&*vfs, &Path::new(DIR).join(snapshot_file_name(2))).unwrap();
    let (header, entries) = decode_entries(&bytes, Path::new("s")).unwrap();
    assert_eq!((header.generation, header.entries), (2, 1));
    assert_eq!((&*entries[0].0, &*entries[0].1), (&b"k"[..], &b"v"[..]));
    store.checkpoint().unwrap();
    drop(store);
    // From none to sync and back: the data follows.
    let sync = test_config();
    let store = open(&vfs, &sync).unwrap();
    store.put(b"k2", b"v2").unwrap();
    drop(store);
    let store = open(&vfs, &c).unwrap();
    assert_eq!(store.get(b"k2").unwrap().unwrap(), b"v2");
    store.close().unwrap();
    assert!(
        files(&vfs, "wal-").is_empty(),
        "the WAL is retired by the snapshot"
    );
}

#[test]
fn damaged_or_missing_files_are_corruption_never_an_empty_store() {
    let mem = MemVfs::new();
    let vfs: Arc<dyn Vfs> = Arc::new(mem.clone());
    let store = open(&vfs, &test_config()).unwrap();
    store.put(b"k", b"value").unwrap();
    store.close().unwrap();
    drop(store);
    let snap = files(&vfs, "snapshot-").remove(0);
    let path = Path::new(DIR).join(&snap);
    let len = mem.with_file_bytes(&path, |b| {
        let n = b.len();
        b[n - 6] ^= 0x40; // inside the entry's value
        n
    });
    assert!(len.is_some());
    let err = open(&vfs, &test_config()).unwrap_err();
    assert!(err.is_corruption(), "{err}");
    assert!(err.to_string().contains(&snap), "{err}");
}

#[test]
fn wal_without_its_snapshot_is_refused() {
    let vfs: Arc<dyn Vfs> = Arc::new(MemVfs::new());
    let store = open(&vfs, &test_config()).unwrap();
    store.put(b"a", b"b").unwrap();
    store.flush().unwrap();
    let c = test_config();
    // Copy the files into a second file system, as a crash would leave
    // them, without the snapshot.
    let copy: Arc<dyn Vfs> = Arc::new(MemVfs::new());
    copy.create_dir_all(Path::new(DIR)).unwrap();
    for name in vfs.list(Path::new(DIR)).unwrap() {
        if name.starts_with("wal-") {
            let bytes = folio::io::read_file(&*vfs, &Path::new(DIR).join(&name)).unwrap();
            copy.open(&Path::new(DIR).join(&name), true)
                .unwrap()
                .write_all_at(&bytes, 0)
                .unwrap();
        }
    }
    let err = open(&copy, &c).unwrap_err();
    assert!(err.is_corruption(), "{err}");
    store.close().unwrap();
}

#[test]
fn each_engine_refuses_the_others_directory() {
    let dir = tempfile::tempdir().unwrap();
    let c = test_config();
    folio::open("memory", dir.path(), &c)
        .unwrap()
        .close()
        .unwrap();
    let Err(err) = folio::open("paged", dir.path(), &c) else {
        panic!("paged opened a memory store")
    };
    assert!(
        matches!(
            err,
            Error::InvalidConfig {
                field: "engine",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("memory"), "{err}");
    // The engine itself refuses, not only the registry.
    let Err(err) = folio::PagedStore::open(dir.path(), &c) else {
        panic!("PagedStore::open opened a memory store")
    };
    assert!(err.to_string().contains("memory"), "{err}");
    folio::remove_store(dir.path()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    folio::open("paged", dir.path(), &c)
        .unwrap()
        .close()
        .unwrap();
    let Err(err) = folio::open("memory", dir.path(), &c) else {
        panic!("memory opened a paged store")
    };
    assert!(
        matches!(
            err,
            Error::InvalidConfig {
                field: "engine",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("paged"), "{err}");
    // The lock is taken: a second handle is refused.
    let dir = tempfile::tempdir().unwrap();
    let first = folio::open("memory", dir.path(), &c).unwrap();
    assert!(matches!(
        folio::open("memory", dir.path(), &c),
        Err(Error::Locked { .. })
    ));
    first.close().unwrap();
}

#[test]
fn deferred_writes_are_visible_at_once_and_acknowledged_by_marks() {
    let vfs: Arc<dyn Vfs> = Arc::new(MemVfs::new());
    let store = open(&vfs, &test_config()).unwrap();
    let deferred = store.deferred_ack().expect("the memory engine defers acks");
    let heard = Arc::new(AtomicU64::new(0));
    let h = heard.clone();
    deferred.set_ack_listener(Box::new(move |m| {
        if let Some(m) = m {
            h.fetch_max(m.0, Ordering::SeqCst);
        }
    }));
    deferred.put(b"k", b"v").unwrap();
    assert_eq!(store.get(b"k").unwrap().unwrap(), b"v");
    assert!(deferred.delete(b"k").unwrap());
    let mark = deferred.visible_mark();
    assert!(mark.0 >= 2);
    deferred.wait_acked(mark).unwrap();
    assert!(deferred.is_acked(mark));
    let deadline = Instant::now() + Duration::from_secs(5);
    while heard.load(Ordering::SeqCst) < mark.0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        heard.load(Ordering::SeqCst) >= mark.0,
        "the listener heard the mark"
    );
    store.close().unwrap();
}

#[test]
fn a_failed_fsync_poisons_and_reopening_recovers() {
    let mem = MemVfs::new();
    let faulty = Arc::new(FaultVfs::new(Arc::new(mem.clone())));
    let vfs: Arc<dyn Vfs> = faulty.clone();
    let store = open(&vfs, &test_config()).unwrap();
    store.put(b"acked", b"1").unwrap();
    faulty.fail(FaultOp::Sync, std::io::ErrorKind::Other);
    assert!(store.put(b"lost", b"2").is_err());
    let err = store.put(b"later", b"3").unwrap_err();
    assert!(matches!(err, Error::Poisoned { .. }), "{err}");
    assert_eq!(store.get(b"acked").unwrap().unwrap(), b"1", "reads go on");
    faulty.heal();
    assert!(matches!(store.checkpoint(), Err(Error::Poisoned { .. })));
    assert!(
        store.close().is_err(),
        "a poisoned store cannot close cleanly"
    );
    // It is closed all the same: the directory reopens while the failed
    // handle lives.
    let reopened = open(&(Arc::new(mem) as Arc<dyn Vfs>), &test_config()).unwrap();
    assert_eq!(reopened.get(b"acked").unwrap().unwrap(), b"1");
    assert_eq!(reopened.get(b"later").unwrap(), None);
    reopened.close().unwrap();
    drop(store);
}

/// A snapshot that fails part way (a full disk) removes its temporary
/// file, which can be as big as the data set, and stops nothing: the
/// previous snapshot and the WAL hold every acknowledged write, so writes
/// go on, the stats say the checkpoint failed, and the next one succeeds.
/// With or without a WAL.
#[test]
fn a_failed_snapshot_removes_its_temporary_file_and_writes_go_on() {
    for durability in [Durability::Sync, Durability::None] {
        let mem = MemVfs::new();
        let faulty = Arc::new(FaultVfs::new(Arc::new(mem.clone())));
        let vfs: Arc<dyn Vfs> = faulty.clone();
        let mut config = test_config();
        config.durability = durability;
        let store = open(&vfs, &config).unwrap();
        for i in 0..100u32 {
            store.put(&i.to_be_bytes(), &[7; 1000]).unwrap();
        }
        faulty.fail_paths_ending(FaultOp::Write, ".tmp", std::io::ErrorKind::StorageFull);
        assert!(store.checkpoint().is_err(), "{durability:?}");
        faulty.heal();
        let names = vfs.list(Path::new(DIR)).unwrap();
        assert!(
            !names.iter().any(|n| n.ends_with(".tmp")),
            "a temporary file is left: {names:?}"
        );
        let stats = store.stats();
        assert!(stats.checkpoint_failed && !stats.poisoned, "{stats:?}");
        store.put(b"after", b"the failure").unwrap();
        store.checkpoint().unwrap();
        assert!(!store.stats().checkpoint_failed, "{durability:?}");
        drop(store);
        let reopened = open(&(Arc::new(mem) as Arc<dyn Vfs>), &config).unwrap();
        assert_eq!(reopened.len().unwrap(), 101, "{durability:?}");
        assert_eq!(reopened.get(b"after").unwrap().unwrap(), b"the failure");
        reopened.close().unwrap();
    }
}

/// A snapshot whose WAL flush fails (after the entries are written, before
/// the file is named) poisons, as every WAL failure does, and names no
/// snapshot: the temporary file goes, the previous snapshot stays.
#[test]
fn a_wal_flush_failing_under_a_snapshot_poisons_and_names_nothing() {
    let mem = MemVfs::new();
    let faulty = Arc::new(FaultVfs::new(Arc::new(mem.clone())));
    let vfs: Arc<dyn Vfs> = faulty.clone();
    let mut config = test_config();
    config.durability = Durability::Buffered;
    let store = open(&vfs, &config).unwrap();
    let snapshots = files(&vfs, "snapshot-");
    for i in 0..50u32 {
        store.put(&i.to_be_bytes(), &[3; 500]).unwrap();
    }
    faulty.fail_paths_ending(FaultOp::Sync, ".log", std::io::ErrorKind::Other);
    assert!(store.checkpoint().is_err());
    faulty.heal();
    let err = store.put(b"later", b"x").unwrap_err();
    assert!(matches!(err, Error::Poisoned { .. }), "{err}");
    assert!(store.stats().poisoned);
    assert_eq!(files(&vfs, "snapshot-"), snapshots, "no snapshot named");
    assert_eq!(
        store.get(&7u32.to_be_bytes()).unwrap().unwrap(),
        [3; 500],
        "reads go on"
    );
    drop(store);
}

/// A snapshot that fails at close poisons: there is no later attempt, and
/// a retried close must not report a clean one. With a WAL, the next open
/// recovers every write from it.
#[test]
fn a_failed_snapshot_at_close_is_reported_and_the_wal_recovers() {
    let mem = MemVfs::new();
    let faulty = Arc::new(FaultVfs::new(Arc::new(mem.clone())));
    let vfs: Arc<dyn Vfs> = faulty.clone();
    let store = open(&vfs, &test_config()).unwrap();
    store.put(b"k", b"v").unwrap();
    faulty.fail_paths_ending(FaultOp::Write, ".tmp", std::io::ErrorKind::StorageFull);
    assert!(store.close().is_err());
    faulty.heal();
    assert!(matches!(store.close(), Err(Error::Poisoned { .. })));
    let reopened = open(&(Arc::new(mem) as Arc<dyn Vfs>), &test_config()).unwrap();
    assert_eq!(reopened.get(b"k").unwrap().unwrap(), b"v");
    reopened.close().unwrap();
    drop(store);
}

/// A value over `max_value_bytes` is refused at open whether it is in the
/// WAL or, after a snapshot, in the snapshot: what opens must not depend
/// on whether a snapshot ran before the restart.
#[test]
fn a_snapshot_holding_a_value_over_the_limit_is_refused_at_open() {
    let vfs: Arc<dyn Vfs> = Arc::new(MemVfs::new());
    let store = open(&vfs, &test_config()).unwrap();
    store.put(b"big", &[1; 5000]).unwrap();
    store.close().unwrap(); // a snapshot holds it, the WAL is retired
    let mut smaller = test_config();
    smaller.max_value_bytes = 4096;
    let err = open(&vfs, &smaller).expect_err("refused");
    assert!(
        matches!(
            err,
            Error::InvalidConfig {
                field: "max_value_bytes",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("5000 bytes"), "{err}");
    let reopened = open(&vfs, &test_config()).unwrap();
    assert_eq!(reopened.get(b"big").unwrap().unwrap().len(), 5000);
    reopened.close().unwrap();
}

/// Close takes a last snapshot only when something was written since the
/// one before (it is the whole data set), and reads go on while it is
/// written.
#[test]
fn close_snapshots_only_a_changed_store_and_reads_go_on_meanwhile() {
    let fault = FaultVfs::new(Arc::new(MemVfs::new()));
    let vfs: Arc<dyn Vfs> = Arc::new(fault.clone());
    let store = open(&vfs, &test_config()).unwrap();
    store.put(b"k", b"v").unwrap();
    store.close().unwrap();
    let after_writes = files(&vfs, "snapshot-");
    assert_eq!(after_writes, vec![snapshot_file_name(2)]);

    for _ in 0..3 {
        let store = open(&vfs, &test_config()).unwrap();
        assert_eq!(store.get(b"k").unwrap().unwrap(), b"v");
        store.close().unwrap();
        assert_eq!(
            files(&vfs, "snapshot-"),
            after_writes,
            "nothing written: no snapshot"
        );
        // Each open starts a WAL file: the files before it go at close.
        assert_eq!(files(&vfs, "wal-").len(), 1, "{:?}", files(&vfs, "wal-"));
    }

    let store = Arc::new(open(&vfs, &test_config()).unwrap());
    store.put(b"k", b"v2").unwrap();
    fault.close_sync_gate();
    let closing = {
        let store = Arc::clone(&store);
        std::thread::spawn(move || store.close())
    };
    fault.wait_for_held_sync(); // close is under way, held in an fsync
    let (sender, read) = std::sync::mpsc::channel();
    let reader = {
        let store = Arc::clone(&store);
        std::thread::spawn(move || sender.send(store.get(b"k")).unwrap())
    };
    let read = read.recv_timeout(Duration::from_secs(60));
    fault.open_sync_gate(); // before any assertion: a panic must not hang the joins
    let read = read.expect("a read waited for close");
    assert_eq!(
        read.unwrap().unwrap(),
        b"v2",
        "a read during close's snapshot"
    );
    reader.join().unwrap();
    closing.join().unwrap().unwrap();
    assert!(matches!(store.get(b"k"), Err(Error::Closed)));
}
