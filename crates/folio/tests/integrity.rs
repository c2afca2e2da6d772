//! Damage on disk is reported as `Corruption`, never as wrong bytes; limits
//! give typed errors that name them; lifecycle errors are clear.

#![allow(clippy::cast_possible_truncation)] // test data wraps bytes on purpose

mod common;

use std::fs;
use std::path::Path;

use common::Place;
use folio::{Config, Error, KvStore, PagedStore, WriteBatch};

fn segment_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("segment-")
        })
        .collect();
    v.sort();
    v
}

fn flip_byte(path: &Path, offset: u64) {
    let mut bytes = fs::read(path).unwrap();
    bytes[offset as usize] ^= 0x40;
    fs::write(path, bytes).unwrap();
}

#[test]
fn a_flipped_byte_in_a_segment_is_a_corruption_error() {
    let place = Place::disk();
    let store = place.open(&Config::default());
    store.put(b"page", &[0x11u8; 8192]).unwrap();
    store.put(b"small", b"hello world").unwrap();
    store.close().unwrap();
    drop(store);
    // One segment per size class; the page image is in the one whose data
    // page 1 is all 0x11.
    for seg in segment_files(place.dir()) {
        let bytes = fs::read(&seg).unwrap();
        if bytes.len() > 8192 && bytes[8192] == 0x11 {
            flip_byte(&seg, 8192 + 4000);
        }
    }
    let store = place.open(&Config::default());
    let err = store.get(b"page").unwrap_err();
    assert!(matches!(err, Error::Corruption { .. }), "{err}");
    assert!(
        err.to_string().contains("segment-"),
        "error names the file: {err}"
    );
    assert_eq!(store.get(b"small").unwrap().unwrap(), b"hello world");
}

#[test]
fn every_single_byte_flip_in_a_value_is_caught() {
    let place = Place::memory();
    let Place::Memory(vfs) = &place else {
        unreachable!()
    };
    let value: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
    {
        let store = place.open(&Config::default());
        store.put(b"k", &value).unwrap();
        store.close().unwrap();
    }
    let seg = place.dir().join("segment-00000000.folio");
    for i in 0..value.len() {
        // The value sits at the start of data page 1.
        vfs.with_file_bytes(&seg, |b| b[8192 + i] ^= 1).unwrap();
        let store = place.open(&Config::default());
        assert!(store.get(b"k").unwrap_err().is_corruption(), "flip at {i}");
        store.close().unwrap();
        vfs.with_file_bytes(&seg, |b| b[8192 + i] ^= 1).unwrap();
    }
    assert_eq!(
        place.open(&Config::default()).get(b"k").unwrap().unwrap(),
        value
    );
}

#[test]
fn damaged_checkpoint_or_superblock_refuses_to_open() {
    let place = Place::disk();
    {
        let store = place.open(&Config::default());
        store.put(b"a", b"1").unwrap();
        store.close().unwrap();
    }
    let cp = fs::read_dir(place.dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("checkpoint-")
        })
        .unwrap();
    flip_byte(&cp, 30);
    let err = PagedStore::open(place.dir(), &Config::default()).unwrap_err();
    assert!(err.is_corruption(), "{err}");
    flip_byte(&cp, 30);
    PagedStore::open(place.dir(), &Config::default())
        .unwrap()
        .close()
        .unwrap();
    let sb = place.dir().join("SUPERBLOCK");
    flip_byte(&sb, 17);
    flip_byte(&sb, 4096 + 17);
    let err = PagedStore::open(place.dir(), &Config::default()).unwrap_err();
    assert!(err.is_corruption(), "{err}");
}

#[test]
fn a_store_that_was_not_closed_is_recovered_from_its_wal() {
    let place = Place::disk();
    let copy = tempfile::tempdir().unwrap();
    let store = place.open(&Config::default());
    store.put(b"a", b"1").unwrap();
    store.flush().unwrap();
    // Copy the files of the open store: what a crash would leave.
    for entry in fs::read_dir(place.dir()).unwrap() {
        let p = entry.unwrap().path();
        fs::copy(&p, copy.path().join(p.file_name().unwrap())).unwrap();
    }
    store.close().unwrap();
    let report = folio::check(copy.path()).unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("not closed cleanly")),
        "{:?}",
        report.problems
    );
    let recovered = PagedStore::open(copy.path(), &Config::default()).unwrap();
    assert_eq!(recovered.get(b"a").unwrap(), Some(b"1".to_vec()));
    recovered.close().unwrap();
    let report = folio::check(copy.path()).unwrap();
    assert!(report.is_sound(), "{:?}", report.problems);
}

#[test]
fn limits_are_typed_errors_that_name_the_limit_and_change_nothing() {
    let place = Place::memory();
    let store = place.open(&Config::default());
    store.put(b"k", b"v").unwrap();
    let err = store.put(&vec![1u8; 4097], b"v").unwrap_err();
    assert!(
        matches!(
            err,
            Error::KeyTooLarge {
                len: 4097,
                max: 4096
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("4096"), "{err}");
    let max = Config::default().max_value_bytes;
    let err = store.put(b"k", &vec![0u8; max + 1]).unwrap_err();
    assert!(matches!(err, Error::ValueTooLarge { .. }), "{err}");
    assert!(err.to_string().contains(&max.to_string()), "{err}");
    let mut batch = WriteBatch::new();
    batch
        .put(b"x".to_vec(), b"1".to_vec())
        .put(vec![0u8; 5000], b"2".to_vec());
    assert!(matches!(
        store.write_batch(&batch),
        Err(Error::KeyTooLarge { .. })
    ));
    assert_eq!(
        store.get(b"x").unwrap(),
        None,
        "a refused batch applies nothing"
    );
    assert_eq!(store.get(b"k").unwrap().unwrap(), b"v");
    // The largest value fits, and reads back.
    let big = vec![0xEEu8; max];
    store.put(b"big", &big).unwrap();
    assert_eq!(store.get(b"big").unwrap().unwrap(), big);
}

#[test]
fn lifecycle_errors() {
    let place = Place::disk();
    let store = place.open(&Config::default());
    let again = PagedStore::open(place.dir(), &Config::default()).unwrap_err();
    assert!(matches!(again, Error::Locked { .. }), "{again}");
    store.put(b"a", b"1").unwrap();
    store.close().unwrap();
    assert!(matches!(store.get(b"a"), Err(Error::Closed)));
    assert!(matches!(store.put(b"a", b"2"), Err(Error::Closed)));
    store.close().unwrap();
    drop(store);
    let err = folio::open("nope", place.dir(), &Config::default())
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("paged"),
        "lists known engines: {err}"
    );
    let store = folio::open("paged", place.dir(), &Config::default()).unwrap();
    assert_eq!(store.get(b"a").unwrap().unwrap(), b"1");
    assert!(matches!(
        folio::remove_store(place.dir()),
        Err(Error::Locked { .. })
    ));
    store.close().unwrap();
    drop(store);
    folio::remove_store(place.dir()).unwrap();
    assert!(!place.dir().exists());
}

#[test]
fn page_size_is_fixed_at_creation() {
    let place = Place::memory();
    let mut small = Config::default();
    small.page_bytes = 4096;
    {
        let store = place.open(&small);
        store.put(b"p", &[3u8; 4096]).unwrap();
        store.close().unwrap();
    }
    let store = place.open(&Config::default());
    assert_eq!(store.config().page_bytes, 4096);
    assert_eq!(store.get(b"p").unwrap().unwrap(), vec![3u8; 4096]);
}

/// A page image verified once while cached is verified again when its page
/// is evicted and read back: damage on disk is still caught.
#[test]
fn a_page_image_is_reverified_after_eviction() {
    let place = Place::memory();
    let Place::Memory(vfs) = &place else {
        unreachable!()
    };
    let mut config = Config::default();
    config.cache_bytes = 4 * 8192;
    let store = place.open(&config);
    store.put(b"img", &[9u8; 8192]).unwrap();
    assert_eq!(store.get(b"img").unwrap().unwrap(), vec![9u8; 8192]);
    assert_eq!(
        store.get(b"img").unwrap().unwrap(),
        vec![9u8; 8192],
        "verified, cached"
    );
    for i in 0..16u32 {
        store.put(&i.to_be_bytes(), &[1u8; 8192]).unwrap();
    }
    store.flush().unwrap();
    // "img" was the first one-page value: segment 0, data page 1.
    let seg = place.dir().join("segment-00000000.folio");
    vfs.with_file_bytes(&seg, |b| b[8192 + 100] ^= 0x08)
        .unwrap();
    let err = store.get(b"img").unwrap_err();
    assert!(err.is_corruption(), "{err}");
}

/// A damaged WAL record among those the checkpoint holds loses nothing:
/// the store opens with every value. But those bytes were durable, so the
/// media damaged them: `check` reports it.
#[test]
fn damage_among_checkpointed_wal_records_opens_but_fails_the_check() {
    let place = Place::disk();
    {
        let store = place.open(&Config::default());
        for i in 0..5u8 {
            store
                .put(&[b'k', i], format!("value-marker-{i}").as_bytes())
                .unwrap();
        }
        store.close().unwrap();
    }
    let wal = fs::read_dir(place.dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("wal-"))
        .expect("the tail WAL file is kept");
    let bytes = fs::read(&wal).unwrap();
    let at = bytes
        .windows(14)
        .position(|w| w == b"value-marker-2")
        .expect("the record of k2 is in the tail file");
    flip_byte(&wal, at as u64);

    let report = folio::check(place.dir()).unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("damaged WAL record") && p.contains("nothing is lost")),
        "{:?}",
        report.problems
    );
    let store = PagedStore::open(place.dir(), &Config::default()).unwrap();
    for i in 0..5u8 {
        let want = format!("value-marker-{i}");
        assert_eq!(store.get(&[b'k', i]).unwrap().unwrap(), want.as_bytes());
    }
    store.close().unwrap();
}
