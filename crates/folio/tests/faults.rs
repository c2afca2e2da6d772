//! I/O failures: a failed write-back or fsync poisons the store (writes are
//! refused, reads return right bytes or an error, close refuses to mark the
//! store clean, and a second close does not pretend otherwise); a full disk
//! when a segment is created is a clear error the store survives, a failed
//! fsync of a new segment poisons it.

mod common;

use std::io::ErrorKind;
use std::path::Path;
use std::sync::Arc;

use folio::io::{FaultOp, FaultVfs, MemVfs};
use folio::{Config, Error, KvStore, PagedStore};

fn tiny() -> Config {
    let mut c = Config::default();
    c.cache_bytes = 4 * 8192;
    c
}

fn value(i: u32) -> Vec<u8> {
    vec![u8::try_from(i % 251).unwrap(); 8192]
}

const DIR: &str = "/store";

#[test]
fn failed_write_back_poisons_but_never_returns_wrong_bytes() {
    let mem = MemVfs::new();
    let vfs = FaultVfs::new(Arc::new(mem.clone()));
    let store = PagedStore::open_with_vfs(Arc::new(vfs.clone()), Path::new(DIR), &tiny()).unwrap();
    for i in 0..20u32 {
        store.put(&i.to_be_bytes(), &value(i)).unwrap();
    }
    vfs.fail(FaultOp::Write, ErrorKind::Other);
    let mut first_error = None;
    let mut acknowledged = 20u32;
    for i in 20..40u32 {
        if let Err(e) = store.put(&i.to_be_bytes(), &value(i)) {
            first_error = Some(e);
            break;
        }
        acknowledged = i + 1;
    }
    let err = first_error.expect("a write-back must fail with a four-frame pool");
    assert!(
        matches!(err, Error::Io { .. } | Error::Poisoned { .. }),
        "{err}"
    );
    let err = store.put(b"later", b"x").unwrap_err();
    assert!(matches!(err, Error::Poisoned { .. }), "{err}");
    assert!(err.to_string().contains("reopen"), "{err}");
    for i in 0..20u32 {
        match store.get(&i.to_be_bytes()) {
            Ok(Some(v)) => assert_eq!(v, value(i), "key {i}"),
            Ok(None) => panic!("key {i} vanished"),
            Err(e) => assert!(
                matches!(e, Error::Poisoned { .. } | Error::Io { .. }),
                "{e}"
            ),
        }
    }
    assert!(matches!(store.close(), Err(Error::Poisoned { .. })));
    assert!(
        matches!(store.close(), Err(Error::Poisoned { .. })),
        "a retried close must not succeed"
    );
    drop(store);
    vfs.heal();
    // Reopening recovers from the checkpoint and the WAL: every
    // acknowledged write is there.
    let store = PagedStore::open_with_vfs(Arc::new(mem), Path::new(DIR), &tiny()).unwrap();
    for i in 0..acknowledged {
        assert_eq!(
            store.get(&i.to_be_bytes()).unwrap(),
            Some(value(i)),
            "key {i}"
        );
    }
    store.close().unwrap();
}

/// A close whose checkpoint fails reports it, and closes all the same: the
/// directory is released (it reopens in this process while the failed
/// handle lives) and the reopen recovers every acknowledged write.
#[test]
fn failed_fsync_at_close_closes_all_the_same() {
    let mem = MemVfs::new();
    let vfs = FaultVfs::new(Arc::new(mem.clone()));
    let store = PagedStore::open_with_vfs(Arc::new(vfs.clone()), Path::new(DIR), &tiny()).unwrap();
    store.put(b"a", b"1").unwrap();
    vfs.fail(FaultOp::Sync, ErrorKind::Other);
    let err = store.close().unwrap_err();
    assert!(err.to_string().contains("fsync"), "{err}");
    vfs.heal();
    assert!(
        matches!(store.close(), Err(Error::Poisoned { .. })),
        "a retried close must not succeed"
    );
    assert!(matches!(store.put(b"b", b"2"), Err(Error::Closed)));
    let reopened =
        PagedStore::open_with_vfs(Arc::new(mem), Path::new(DIR), &tiny()).expect("released");
    assert_eq!(reopened.get(b"a").unwrap().unwrap(), b"1");
    reopened.close().unwrap();
    drop(store);
}

#[test]
fn full_disk_on_a_new_segment_is_a_clear_error_and_nothing_is_lost() {
    let mem = MemVfs::new();
    let vfs = FaultVfs::new(Arc::new(mem.clone()));
    let store =
        PagedStore::open_with_vfs(Arc::new(vfs.clone()), Path::new(DIR), &Config::default())
            .unwrap();
    store.put(b"small", b"tiny value").unwrap();
    vfs.fail(FaultOp::Write, ErrorKind::StorageFull);
    // A page image needs a segment of the one-page class: it cannot be made.
    let err = store.put(b"page", &[7u8; 8192]).unwrap_err();
    assert!(matches!(err, Error::StorageFull { .. }), "{err}");
    assert!(err.to_string().contains("no space"), "{err}");
    vfs.heal();
    store.put(b"page", &[7u8; 8192]).unwrap();
    store.close().unwrap();
    drop(store);
    let store =
        PagedStore::open_with_vfs(Arc::new(mem), Path::new(DIR), &Config::default()).unwrap();
    assert_eq!(store.get(b"small").unwrap().unwrap(), b"tiny value");
    assert_eq!(store.get(b"page").unwrap().unwrap(), vec![7u8; 8192]);
}

#[test]
fn failed_fsync_of_a_new_segment_poisons_instead_of_retrying() {
    // The first fsync after arming is the new segment file's, the second
    // its directory's: either failing must poison the store.
    for skip in 0..2 {
        let mem = MemVfs::new();
        let vfs = FaultVfs::new(Arc::new(mem.clone()));
        let mut config = Config::default();
        config.checkpoint_interval_ms = 0;
        let store =
            PagedStore::open_with_vfs(Arc::new(vfs.clone()), Path::new(DIR), &config).unwrap();
        store.put(b"small", b"tiny value").unwrap();
        vfs.fail_once_after(FaultOp::Sync, skip, ErrorKind::Other);
        // A page image needs a segment of the one-page class.
        let err = store.put(b"page", &[7u8; 8192]).unwrap_err();
        assert!(matches!(err, Error::Poisoned { .. }), "skip {skip}: {err}");
        assert!(err.to_string().contains("creating segment"), "{err}");
        assert_eq!(vfs.injected(), 1);
        let err = store.put(b"page", &[7u8; 8192]).unwrap_err();
        assert!(matches!(err, Error::Poisoned { .. }), "no retry: {err}");
        assert_eq!(store.get(b"small").unwrap().unwrap(), b"tiny value");
        assert!(matches!(store.close(), Err(Error::Poisoned { .. })));
        drop(store);
        let store = PagedStore::open_with_vfs(Arc::new(mem), Path::new(DIR), &config).unwrap();
        assert_eq!(store.get(b"small").unwrap().unwrap(), b"tiny value");
        assert_eq!(store.get(b"page").unwrap(), None);
        store.put(b"page", &[7u8; 8192]).unwrap();
        store.close().unwrap();
    }
}

#[test]
fn failed_read_is_an_error_and_the_next_read_retries() {
    let mem = MemVfs::new();
    let vfs = FaultVfs::new(Arc::new(mem.clone()));
    {
        let store =
            PagedStore::open_with_vfs(Arc::new(mem.clone()), Path::new(DIR), &tiny()).unwrap();
        store.put(b"k", &value(3)).unwrap();
        store.close().unwrap();
    }
    let store = PagedStore::open_with_vfs(Arc::new(vfs.clone()), Path::new(DIR), &tiny()).unwrap();
    vfs.fail(FaultOp::Read, ErrorKind::Other);
    assert!(matches!(store.get(b"k"), Err(Error::Io { .. })));
    vfs.heal();
    assert_eq!(store.get(b"k").unwrap().unwrap(), value(3));
    assert_eq!(store.pool().pinned(), 0);
    store.close().unwrap();
}
