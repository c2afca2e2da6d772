//! [`ReuseClock`]: when a freed slot may be written over.
//!
//! Folio never overwrites a byte that the durable state of the store still
//! needs. The durable state is the last checkpoint plus the durable WAL;
//! the checkpoint may name a slot that has since been freed by an overwrite
//! or a delete. Writing a new value into that slot before the freeing
//! operation is durable would leave, after a crash, a checkpoint entry
//! pointing at someone else's bytes — and no log record to replay over it.
//! This is the WAL rule of an out-of-place store: *a freed slot is reused
//! only once the operation that freed it is durable*.
//!
//! The clock holds two numbers: `issued`, the newest stamp handed to an
//! operation, and `durable`, the newest stamp made durable. A slot freed
//! while `issued` is `s` waits in limbo until `durable >= s`. With a WAL the
//! stamps are LSNs (the writer issues and syncs them); without one they are
//! checkpoint epochs (a slot waits for the next checkpoint), and a slot no
//! checkpoint could name skips the wait (`disk/born.rs`).
//!
//! Invariant: `durable` and `issued` only grow.

use std::sync::atomic::{AtomicU64, Ordering};

/// Issued and durable stamps; shared by the WAL (or the checkpointer) and
/// the disk manager's free lists.
#[derive(Debug, Default)]
pub struct ReuseClock {
    issued: AtomicU64,
    durable: AtomicU64,
}

impl ReuseClock {
    /// A clock for which everything is durable at once: for tools and
    /// tests that free slots with no durability to respect.
    pub fn immediate() -> Self {
        ReuseClock {
            issued: AtomicU64::new(0),
            durable: AtomicU64::new(u64::MAX),
        }
    }

    /// The stamp a slot freed now must wait for.
    pub fn stamp(&self) -> u64 {
        self.issued.load(Ordering::Acquire)
    }

    /// True when everything stamped `stamp` or lower is durable.
    pub fn is_durable(&self, stamp: u64) -> bool {
        stamp <= self.durable.load(Ordering::Acquire)
    }

    /// Records that stamp `stamp` was handed out.
    pub fn issue(&self, stamp: u64) {
        self.issued.fetch_max(stamp, Ordering::AcqRel);
    }

    /// Records that everything up to `stamp` is durable.
    pub fn make_durable(&self, stamp: u64) {
        self.durable.fetch_max(stamp, Ordering::AcqRel);
    }

    /// The newest durable stamp.
    pub fn durable(&self) -> u64 {
        self.durable.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_is_durable_once_the_clock_reaches_it() {
        let clock = ReuseClock::default();
        clock.issue(5);
        let s = clock.stamp();
        assert!(!clock.is_durable(s));
        clock.make_durable(4);
        assert!(!clock.is_durable(s));
        clock.make_durable(7);
        clock.make_durable(6); // never goes back
        assert!(clock.is_durable(s));
        assert_eq!(clock.durable(), 7);
        assert!(ReuseClock::immediate().is_durable(u64::MAX));
    }
}
