//! [`Gate`]: a striped reader-writer lock for "operations vs. close".
//!
//! Every operation holds the gate shared for its duration; close holds it
//! exclusively, so it waits for in-flight operations and none starts during
//! it. A single `RwLock` would make every get write one shared cache line,
//! which two cores then pass back and forth; here each thread takes the read
//! side of its own cache-line-padded stripe, and the exclusive side takes all
//! stripes in order.

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::counter::stripe_of_thread;

const STRIPES: usize = 16;

#[derive(Debug, Default)]
#[repr(align(128))]
struct Stripe(RwLock<()>);

/// A striped reader-writer lock guarding no data.
#[derive(Debug, Default)]
pub struct Gate {
    stripes: [Stripe; STRIPES],
}

/// Shared hold on a [`Gate`].
#[must_use]
pub struct SharedGuard<'a>(#[allow(dead_code)] RwLockReadGuard<'a, ()>);

/// Exclusive hold on a [`Gate`].
#[must_use]
pub struct ExclusiveGuard<'a>(#[allow(dead_code)] Vec<RwLockWriteGuard<'a, ()>>);

impl Gate {
    /// Takes the gate shared (many holders at once).
    pub fn shared(&self) -> SharedGuard<'_> {
        SharedGuard(self.stripes[stripe_of_thread() % STRIPES].0.read())
    }

    /// Takes the gate exclusively, waiting for every shared holder.
    pub fn exclusive(&self) -> ExclusiveGuard<'_> {
        ExclusiveGuard(self.stripes.iter().map(|s| s.0.write()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn exclusive_waits_for_shared_holders() {
        let gate = Gate::default();
        let released = AtomicBool::new(false);
        std::thread::scope(|s| {
            let held = gate.shared();
            s.spawn(|| {
                let _x = gate.exclusive();
                assert!(
                    released.load(Ordering::SeqCst),
                    "exclusive taken while shared held"
                );
            });
            std::thread::sleep(std::time::Duration::from_millis(50));
            released.store(true, Ordering::SeqCst);
            drop(held);
        });
    }
}
