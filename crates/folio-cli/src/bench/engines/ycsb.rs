//! The key-value workloads: YCSB's core workloads A, B, C and F over
//! records of 16-byte keys, and `larger-than-cache` (workload C's reads
//! over data four times the cache budget).
//!
//! Every read is checked: the value must be one this run wrote for that
//! record, no older than the newest version whose put had returned when
//! the read began, and no newer than the newest version issued when it
//! ended. An update issues the next version of its record and writes it
//! holding the record's lock (one of [`UPDATE_LOCKS`] stripes), so the
//! store sees each record's versions in order — a harness cost the same
//! for every engine — and a stale read or a lost update fails the run.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use anyhow::Context;
use folio::KvStore;
use rand::Rng;

use super::measure::{self, Measured};
use super::values::Pool;
use super::zipf::Chooser;

/// Key bytes: `user` and twelve digits.
pub const KEY_BYTES: usize = 16;
const KEY_SPACE: u128 = 1_000_000_000_000;

/// The key of record `i`: `user` and 12 digits of `i` scattered by a
/// bijection of 0..10^12, so records load in no key order.
pub fn key(i: u64) -> [u8; KEY_BYTES] {
    // 0x5DEECE66D is odd and not a multiple of 5: coprime to 10^12.
    let scattered = (u128::from(i) * 0x5_DEEC_E66D) % KEY_SPACE;
    let mut out = [0u8; KEY_BYTES];
    out[..4].copy_from_slice(b"user");
    out[4..].copy_from_slice(format!("{scattered:012}").as_bytes());
    out
}

/// Lock stripes that keep each record's updates one at a time.
const UPDATE_LOCKS: usize = 1024;

/// The records of a run: for each the newest version issued, and the
/// newest whose put has returned.
pub struct Records {
    value_bytes: usize,
    issued: Vec<AtomicU64>,
    acked: Vec<AtomicU64>,
    update_locks: Vec<Mutex<()>>,
}

/// Operation mix of a YCSB workload, as fractions of reads, updates and
/// read-modify-writes.
#[derive(Debug, Clone, Copy)]
pub struct Mix {
    /// Reads.
    pub read: f64,
    /// Updates (the rest are read-modify-writes).
    pub update: f64,
}

impl Mix {
    /// Workload A: update heavy.
    pub const A: Mix = Mix {
        read: 0.5,
        update: 0.5,
    };
    /// Workload B: read mostly.
    pub const B: Mix = Mix {
        read: 0.95,
        update: 0.05,
    };
    /// Workload C: read only.
    pub const C: Mix = Mix {
        read: 1.0,
        update: 0.0,
    };
    /// Workload F: read-modify-write.
    pub const F: Mix = Mix {
        read: 0.5,
        update: 0.0,
    };
}

thread_local! {
    static VALUE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl Records {
    /// `count` records of `value_bytes`, none loaded yet.
    pub fn new(count: u64, value_bytes: usize) -> Records {
        Records {
            value_bytes,
            issued: (0..count).map(|_| AtomicU64::new(0)).collect(),
            acked: (0..count).map(|_| AtomicU64::new(0)).collect(),
            update_locks: (0..UPDATE_LOCKS).map(|_| Mutex::new(())).collect(),
        }
    }

    /// Records.
    pub fn count(&self) -> u64 {
        self.issued.len() as u64
    }

    fn issued(&self, i: u64) -> &AtomicU64 {
        &self.issued[index(i)]
    }

    fn acked(&self, i: u64) -> &AtomicU64 {
        &self.acked[index(i)]
    }

    /// Writes version 0 of every record; `label` names the phase on the
    /// progress bar.
    pub fn load(
        &self,
        store: &dyn KvStore,
        pool: &Pool,
        label: &str,
        threads: usize,
        seed: u64,
    ) -> anyhow::Result<Measured> {
        measure::run(label, self.count(), threads, seed, |_, i| {
            self.write(store, pool, i, 0)
        })
    }

    /// Runs `ops` operations of `mix`, records picked by `chooser`.
    pub fn run(
        &self,
        store: &dyn KvStore,
        pool: &Pool,
        mix: Mix,
        chooser: Chooser,
        (label, ops, threads, seed): (&str, u64, usize, u64),
    ) -> anyhow::Result<Measured> {
        measure::run(label, ops, threads, seed, |rng, _| {
            let i = chooser.next(rng);
            let dice: f64 = rng.gen();
            if dice < mix.read {
                self.read(store, pool, i)
            } else if dice < mix.read + mix.update {
                self.update(store, pool, i)
            } else {
                self.read(store, pool, i)?;
                self.update(store, pool, i)
            }
        })
    }

    /// Reads record `i` and checks its value.
    pub fn read(&self, store: &dyn KvStore, pool: &Pool, i: u64) -> anyhow::Result<()> {
        let acked = self.acked(i).load(Ordering::Acquire);
        let value = store
            .get(&key(i))?
            .with_context(|| format!("record {i} is missing"))?;
        let issued = self.issued(i).load(Ordering::Acquire);
        pool.check(&value, i, self.value_bytes, acked..=issued)?;
        Ok(())
    }

    fn update(&self, store: &dyn KvStore, pool: &Pool, i: u64) -> anyhow::Result<()> {
        let stripe = index(i) % UPDATE_LOCKS;
        // A panicked holder fails its run: the lock guards nothing else.
        let _one_at_a_time = self.update_locks[stripe]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let version = self.issued(i).fetch_add(1, Ordering::AcqRel) + 1;
        self.write(store, pool, i, version)?;
        self.acked(i).store(version, Ordering::Release);
        Ok(())
    }

    fn write(&self, store: &dyn KvStore, pool: &Pool, i: u64, version: u64) -> anyhow::Result<()> {
        VALUE.with_borrow_mut(|value| {
            pool.fill(value, i, version, self.value_bytes);
            store.put(&key(i), value)
        })?;
        Ok(())
    }
}

fn index(i: u64) -> usize {
    usize::try_from(i).expect("record index fits usize")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn a_stale_read_fails_the_check() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = folio::open("memory", dir.path(), &folio::Config::default()).expect("open");
        let pool = Pool::new(7);
        let records = Records::new(4, 64);
        for i in 0..4 {
            records.write(&*store, &pool, i, 0).expect("load");
        }
        records.update(&*store, &pool, 2).expect("update");
        records.read(&*store, &pool, 2).expect("the new version");
        // The store loses the update: version 0 again.
        records.write(&*store, &pool, 2, 0).expect("put back");
        let err = records.read(&*store, &pool, 2).expect_err("stale");
        assert!(err.to_string().contains("read version 0"), "{err}");
        records.read(&*store, &pool, 1).expect("untouched record");
        store.close().expect("close");
    }

    #[test]
    fn keys_are_distinct_and_sixteen_bytes() {
        let keys: HashSet<[u8; KEY_BYTES]> = (0..100_000).map(key).collect();
        assert_eq!(keys.len(), 100_000);
        assert!(key(0).starts_with(b"user"));
    }
}
