//! The key-value workloads: YCSB's core workloads A, B, C and F over
//! records of 16-byte keys, and `larger-than-cache` (workload C's reads
//! over data four times the cache budget).
//!
//! Every read is checked: the value must be one this run wrote for that
//! record, of a version already issued. An update issues the next version
//! of its record before it writes it.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

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

/// The records of a run and the newest version issued for each.
pub struct Records {
    value_bytes: usize,
    issued: Vec<AtomicU64>,
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
        }
    }

    /// Records.
    pub fn count(&self) -> u64 {
        self.issued.len() as u64
    }

    fn issued(&self, i: u64) -> &AtomicU64 {
        &self.issued[usize::try_from(i).expect("record index fits usize")]
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
        let value = store
            .get(&key(i))?
            .with_context(|| format!("record {i} is missing"))?;
        let issued = self.issued(i).load(Ordering::Acquire);
        pool.check(&value, i, self.value_bytes, |v| v <= issued)?;
        Ok(())
    }

    fn update(&self, store: &dyn KvStore, pool: &Pool, i: u64) -> anyhow::Result<()> {
        let version = self.issued(i).fetch_add(1, Ordering::AcqRel) + 1;
        self.write(store, pool, i, version)
    }

    fn write(&self, store: &dyn KvStore, pool: &Pool, i: u64, version: u64) -> anyhow::Result<()> {
        VALUE.with_borrow_mut(|value| {
            pool.fill(value, i, version, self.value_bytes);
            store.put(&key(i), value)
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn keys_are_distinct_and_sixteen_bytes() {
        let keys: HashSet<[u8; KEY_BYTES]> = (0..100_000).map(key).collect();
        assert_eq!(keys.len(), 100_000);
        assert!(key(0).starts_with(b"user"));
    }
}
