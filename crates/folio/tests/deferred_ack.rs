//! Deferred acknowledgement ([`folio::DeferredAck`]): writes visible at
//! once, acknowledged by waiting for a mark; a log failure surfaces at the
//! wait, never as a silent acknowledgement.

use std::io::ErrorKind;
use std::path::Path;
use std::sync::Arc;

use folio::io::{FaultOp, FaultVfs, MemVfs};
use folio::{AckMark, Config, Durability, Error, KvStore, PagedStore, WriteBatch};

const DIR: &str = "/store";

fn open(vfs: Arc<dyn folio::io::Vfs>, durability: Durability) -> PagedStore {
    let mut config = Config::default();
    config.durability = durability;
    PagedStore::open_with_vfs(vfs, Path::new(DIR), &config).unwrap()
}

#[test]
fn deferred_writes_are_visible_at_once_and_durable_after_the_wait() {
    let mem = MemVfs::new();
    let store = open(Arc::new(mem.clone()), Durability::Sync);
    let deferred = store.deferred_ack().expect("paged defers acks");
    let before = deferred.visible_mark();
    deferred.put(b"a", b"1").unwrap();
    assert_eq!(store.get(b"a").unwrap().as_deref(), Some(&b"1"[..]));
    let mut batch = WriteBatch::new();
    batch.put(&b"b"[..], &b"2"[..]).delete(&b"a"[..]);
    deferred.write_batch(&batch).unwrap();
    assert!(!deferred.delete(b"missing").unwrap());
    assert!(deferred.delete(b"b").unwrap());
    deferred.put(b"c", b"3").unwrap();
    let mark = deferred.visible_mark();
    assert!(
        mark > before,
        "writes advance the mark: {before:?} -> {mark:?}"
    );
    deferred.wait_acked(mark).unwrap();
    assert!(deferred.is_acked(mark));
    assert!(
        deferred.is_acked(before),
        "acknowledgement is in mark order"
    );
    assert!(deferred.is_acked(AckMark(0)));
    // A mark beyond every write waits for the last one, not forever.
    deferred.wait_acked(AckMark(u64::MAX)).unwrap();
    drop(store); // no close: the wait alone made the writes durable
    let store = open(Arc::new(mem), Durability::Sync);
    assert_eq!(store.get(b"a").unwrap(), None);
    assert_eq!(store.get(b"b").unwrap(), None);
    assert_eq!(store.get(b"c").unwrap().as_deref(), Some(&b"3"[..]));
    store.close().unwrap();
}

#[test]
fn deferred_writes_keep_the_limits() {
    let store = open(Arc::new(MemVfs::new()), Durability::Sync);
    let deferred = store.deferred_ack().unwrap();
    let limit = store.config().max_key_bytes;
    let err = deferred.put(&vec![b'k'; limit + 1], b"v").unwrap_err();
    assert!(matches!(err, Error::KeyTooLarge { .. }), "{err}");
    assert_eq!(store.len().unwrap(), 0, "a refused write changes nothing");
    store.close().unwrap();
}

#[test]
fn a_failed_log_fsync_surfaces_at_the_wait() {
    let mem = MemVfs::new();
    let vfs = FaultVfs::new(Arc::new(mem.clone()));
    let store = open(Arc::new(vfs.clone()), Durability::Sync);
    let deferred = store.deferred_ack().unwrap();
    deferred.put(b"kept", b"1").unwrap();
    deferred.wait_acked(deferred.visible_mark()).unwrap();
    vfs.fail(FaultOp::Sync, ErrorKind::Other);
    // Queued before the writer fails, so the call itself succeeds (or, if
    // the writer already failed, is refused): either way it is never
    // reported durable.
    let queued = deferred.put(b"lost", b"2");
    let mark = deferred.visible_mark();
    let err = deferred.wait_acked(mark).unwrap_err();
    assert!(
        matches!(err, Error::Poisoned { .. }),
        "{err} (put: {queued:?})"
    );
    assert!(!deferred.is_acked(mark));
    assert!(matches!(
        deferred.put(b"x", b"3"),
        Err(Error::Poisoned { .. })
    ));
    assert!(matches!(store.put(b"x", b"3"), Err(Error::Poisoned { .. })));
    drop(store);
    vfs.heal();
    let store = open(Arc::new(mem), Durability::Sync);
    assert_eq!(store.get(b"kept").unwrap().as_deref(), Some(&b"1"[..]));
    store.close().unwrap();
}

#[test]
fn buffered_marks_are_acknowledged_once_written() {
    let store = open(Arc::new(MemVfs::new()), Durability::Buffered);
    let deferred = store.deferred_ack().unwrap();
    for i in 0..100u32 {
        deferred.put(&i.to_be_bytes(), b"v").unwrap();
    }
    let mark = deferred.visible_mark();
    deferred.wait_acked(mark).unwrap();
    assert!(deferred.is_acked(mark));
    store.close().unwrap();
}

#[test]
fn without_a_log_every_mark_is_acknowledged() {
    let store = open(Arc::new(MemVfs::new()), Durability::None);
    let deferred = store.deferred_ack().unwrap();
    deferred.put(b"a", b"1").unwrap();
    let mark = deferred.visible_mark();
    assert!(deferred.is_acked(mark));
    deferred.wait_acked(mark).unwrap();
    store.close().unwrap();
}

#[test]
fn concurrent_deferred_writers_are_all_durable_after_their_waits() {
    let mem = MemVfs::new();
    let store = Arc::new(open(Arc::new(mem.clone()), Durability::Sync));
    let threads: u32 = 4;
    let per_thread: u32 = 500;
    std::thread::scope(|scope| {
        for t in 0..threads {
            let store = Arc::clone(&store);
            scope.spawn(move || {
                let deferred = store.deferred_ack().unwrap();
                // Pipelines of 16 writes, one wait each.
                for chunk in (0..per_thread).collect::<Vec<_>>().chunks(16) {
                    for &i in chunk {
                        let key = format!("t{t}-{i}");
                        deferred.put(key.as_bytes(), &i.to_le_bytes()).unwrap();
                    }
                    deferred.wait_acked(deferred.visible_mark()).unwrap();
                }
            });
        }
    });
    drop(store);
    let store = open(Arc::new(mem), Durability::Sync);
    for t in 0..threads {
        for i in 0..per_thread {
            let key = format!("t{t}-{i}");
            assert_eq!(
                store.get(key.as_bytes()).unwrap().as_deref(),
                Some(&i.to_le_bytes()[..]),
                "{key}"
            );
        }
    }
    store.close().unwrap();
}

#[test]
fn the_listener_hears_every_acknowledgement_and_the_failure() {
    use std::sync::Mutex;
    let vfs = FaultVfs::new(Arc::new(MemVfs::new()));
    let store = open(Arc::new(vfs.clone()), Durability::Sync);
    let deferred = store.deferred_ack().unwrap();
    let heard: Arc<Mutex<Vec<Option<AckMark>>>> = Arc::default();
    let sink = Arc::clone(&heard);
    deferred.set_ack_listener(Box::new(move |acked| sink.lock().unwrap().push(acked)));
    // The listener is told after the waiters are woken: poll for it.
    let last_heard = || heard.lock().unwrap().last().copied();
    let eventually = |what: &dyn Fn(Option<Option<AckMark>>) -> bool| {
        for _ in 0..1000 {
            if what(last_heard()) {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        false
    };
    deferred.put(b"a", b"1").unwrap();
    let mark = deferred.visible_mark();
    deferred.wait_acked(mark).unwrap();
    assert!(
        eventually(&|last| last.flatten() >= Some(mark)),
        "never told of {mark:?}: {:?}",
        last_heard()
    );
    vfs.fail(FaultOp::Sync, ErrorKind::Other);
    deferred.put(b"b", b"2").unwrap();
    assert!(deferred.wait_acked(deferred.visible_mark()).is_err());
    assert!(
        eventually(&|last| last == Some(None)),
        "never told of the failure: {:?}",
        heard.lock().unwrap()
    );
    let marks: Vec<AckMark> = heard.lock().unwrap().iter().flatten().copied().collect();
    assert!(
        marks.windows(2).all(|w| w[0] <= w[1]),
        "marks only grow: {marks:?}"
    );
}

#[test]
fn a_panicking_listener_does_not_stop_the_log() {
    let store = open(Arc::new(MemVfs::new()), Durability::Sync);
    let deferred = store.deferred_ack().unwrap();
    deferred.set_ack_listener(Box::new(|_| panic!("listener bug")));
    for i in 0..3u8 {
        deferred.put(&[i], b"v").unwrap();
        deferred.wait_acked(deferred.visible_mark()).unwrap();
    }
    store.put(b"after", b"v").unwrap();
    store.close().unwrap();
}

/// Page versions put deferred are readable at once, durable at a mark taken
/// after them, and a vacuum written after them never outlives them.
#[test]
fn deferred_page_puts_are_visible_at_once_and_durable_at_their_mark() {
    use folio::{PageLsn, PageOptions, PageStore};
    let mem = MemVfs::new();
    let open_pages = |mem: &MemVfs| {
        let store: Arc<dyn KvStore> = Arc::new(open(Arc::new(mem.clone()), Durability::Sync));
        let mut options = PageOptions::default();
        options.background = false;
        PageStore::open(store, options).unwrap()
    };
    let pages: PageStore = open_pages(&mem);
    for lsn in 1..=20u8 {
        let lsn_u64 = u64::from(lsn);
        assert!(pages
            .put_page_deferred(b"p", PageLsn(lsn_u64), &[lsn; 4096])
            .unwrap());
        let (found, image) = pages.get_page(b"p", PageLsn(lsn_u64)).unwrap().unwrap();
        assert_eq!((found, image[0]), (PageLsn(lsn_u64), lsn));
    }
    // A retry of a kept version changes nothing, deferred or not.
    assert!(!pages
        .put_page_deferred(b"p", PageLsn(20), &[20u8; 4096])
        .unwrap());
    // A durable put finding the version a deferred put left returns only
    // once that version is durable.
    let deferred = pages.store().deferred_ack().unwrap();
    let mark = deferred.visible_mark();
    assert!(!pages.put_page(b"p", PageLsn(20), &[20u8; 4096]).unwrap());
    assert!(
        deferred.is_acked(mark),
        "reported stored before it was durable"
    );
    pages.vacuum(PageLsn(15)).unwrap();
    let deferred = pages.store().deferred_ack().unwrap();
    deferred.wait_acked(deferred.visible_mark()).unwrap();
    drop(pages); // no close: the wait alone made the versions durable
    let pages = open_pages(&mem);
    assert_eq!(
        pages.versions(b"p").unwrap(),
        (15..=20).map(PageLsn).collect::<Vec<_>>()
    );
    assert_eq!(
        pages.get_page(b"p", PageLsn(17)).unwrap().unwrap().0,
        PageLsn(17)
    );
    pages.close().unwrap();
}
