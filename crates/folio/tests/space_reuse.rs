//! Overwriting the same 4,000 keys (`FOLIO_REUSE_KEYS`) 20 times must not grow the data files
//! after the first rounds: freed slots are reused.

#![allow(clippy::cast_possible_truncation)] // test data wraps bytes on purpose

mod common;

use common::{env_size, Place};
use folio::{Config, KvStore};

#[test]
fn overwriting_in_a_loop_reuses_space() {
    let keys = env_size("FOLIO_REUSE_KEYS", 4_000) as u32;
    let rounds = 20;
    let place = Place::disk();
    let mut config = Config::default();
    config.cache_bytes = 4 << 20;
    let store = place.open(&config);
    let mut sizes = Vec::new();
    for round in 0..rounds {
        for k in 0..keys {
            // Per key a fixed size (a mix of small values and page images);
            // the content changes every round.
            let len = if k % 5 == 0 {
                8192
            } else {
                100 + (k % 7) as usize * 50
            };
            let value = vec![(round as u8).wrapping_add(k as u8); len];
            store.put(&k.to_be_bytes(), &value).unwrap();
        }
        // A checkpoint writes back every dirty page: the file sizes then
        // count every slot handed out.
        store.checkpoint().unwrap();
        sizes.push(store.stats().data_file_bytes);
    }
    eprintln!("data file bytes per round: {sizes:?}");
    // Round 2 may need one extra slot per size class in flight (a put
    // allocates before it frees); from then on the files do not grow.
    let classes_used = 8;
    assert!(sizes[1] <= sizes[0] + classes_used * 8192, "{sizes:?}");
    assert!(
        sizes[2..].iter().all(|&s| s == sizes[1]),
        "files grew after round 2: {sizes:?}"
    );
    for k in (0..keys).step_by(97) {
        let v = store.get(&k.to_be_bytes()).unwrap().unwrap();
        assert!(v
            .iter()
            .all(|&b| b == ((rounds - 1) as u8).wrapping_add(k as u8)));
    }
    store.close().unwrap();
}

/// A scan that rewrites every key from inside `for_each_key` must reuse
/// space as a plain loop does: the scan must not hold back reclamation.
#[test]
fn rewriting_keys_from_a_scan_reuses_space() {
    let keys = 2_000u32;
    let place = Place::memory();
    let store = place.open(&Config::default());
    for k in 0..keys {
        store.put(&k.to_be_bytes(), &[1u8; 8192]).unwrap();
    }
    store.flush().unwrap();
    let before = store.stats().data_file_bytes;
    store
        .for_each_key(&mut |key| {
            store.put(key, &[2u8; 8192]).unwrap();
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
    store.flush().unwrap();
    let after = store.stats().data_file_bytes;
    eprintln!("data file bytes before the scan {before}, after {after}");
    // Reclamation is batched per thread (papaya retires 32 values at a
    // time), so a few dozen slots may be in flight; never a second copy.
    assert!(
        after <= before + 64 * 8192,
        "scan grew the files from {before} to {after}"
    );
    assert_eq!(
        store.get(&7u32.to_be_bytes()).unwrap().unwrap(),
        vec![2u8; 8192]
    );
}

/// Without a WAL, a freed slot that a checkpoint named waits for the next
/// checkpoint; one handed out after the last checkpoint copied the index
/// is reused at once: overwriting keys no checkpoint saw leaves no slots
/// waiting, with no checkpoint taken. (Before, 70 rounds over 1,000 keys
/// left 69,000 freed slots.)
#[test]
fn without_a_wal_slots_no_checkpoint_named_are_reused_at_once() {
    let keys = 1_000u32;
    let place = Place::memory();
    let mut config = Config::default();
    config.durability = folio::Durability::None;
    let store = place.open(&config);
    let put_all = |round: u8| {
        for k in 0..keys {
            store.put(&k.to_be_bytes(), &[round; 100]).unwrap();
        }
    };
    // Freed slots: on the free lists or waiting for a checkpoint.
    let freed = || store.stats().free_slots;
    for round in 0..70 {
        put_all(round);
    }
    assert!(freed() < u64::from(keys), "{:?}", store.stats());
    assert_eq!(store.stats().checkpoints, 0, "none needed");
    // After a checkpoint names them, the slots of then wait (one per key);
    // the rounds after it reuse each other's.
    store.checkpoint().unwrap();
    for round in 70..140 {
        put_all(round);
    }
    assert!(freed() < 2 * u64::from(keys), "{:?}", store.stats());
    assert_eq!(
        store.get(&7u32.to_be_bytes()).unwrap().unwrap(),
        vec![139; 100]
    );
    store.close().unwrap();
}

/// Without a WAL the slots a checkpoint named wait for the next one. When
/// more of them wait than there are keys (and at least 65,536: deletes
/// after a checkpoint), the background checkpointer takes one and the
/// slots come back without waiting for `checkpoint_wal_bytes` of writes;
/// then the checkpoints stop.
#[test]
fn without_a_wal_deletes_trigger_a_checkpoint_that_frees_their_slots() {
    let keys = 70_000u32;
    let deleted = 66_000u32;
    let place = Place::memory();
    let mut config = Config::default();
    config.durability = folio::Durability::None;
    let store = place.open(&config);
    for k in 0..keys {
        store.put(&k.to_be_bytes(), &[1; 100]).unwrap();
    }
    store.checkpoint().unwrap();
    let checkpoints = store.stats().checkpoints;
    for k in 0..deleted {
        assert!(store.delete(&k.to_be_bytes()).unwrap());
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while store.stats().checkpoints == checkpoints {
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint while {} slots wait: {:?}",
            store.stats().free_slots,
            store.stats()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Once it is durable the slots stop waiting: no more checkpoints come
    // (before, the slots stayed counted until their class allocated again,
    // and a checkpoint followed every 100 ms).
    std::thread::sleep(std::time::Duration::from_millis(300));
    let settled = store.stats().checkpoints;
    std::thread::sleep(std::time::Duration::from_millis(600));
    assert_eq!(
        store.stats().checkpoints,
        settled,
        "checkpoints go on with nothing left waiting: {:?}",
        store.stats()
    );
    // The checkpoint made the waiting slots reusable: putting the keys
    // back takes them instead of new ones (slots still waiting would stay
    // counted while fresh ones were taken).
    let before = store.stats().free_slots;
    for k in 0..deleted {
        store.put(&k.to_be_bytes(), &[2; 100]).unwrap();
    }
    let after = store.stats().free_slots;
    assert!(
        after + u64::from(deleted) / 2 < before,
        "{before} freed slots before, {after} after: {:?}",
        store.stats()
    );
    assert_eq!(
        store.get(&7u32.to_be_bytes()).unwrap().unwrap(),
        vec![2; 100]
    );
    store.close().unwrap();
}
