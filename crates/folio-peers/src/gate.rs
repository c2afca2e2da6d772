//! The open database of an adapter, behind the lock that `close` takes.
//!
//! Every call holds the lock shared for as long as it uses the database;
//! `close` takes it exclusively, so it waits for the calls in flight and
//! no call starts on a closed database: later calls find nothing and
//! return [`Error::Closed`]. Nothing that can call back into the store
//! (a `for_each_key` visitor) runs under the lock, so no thread asks for
//! it shared while holding it.

use folio::{Error, Result};
use parking_lot::RwLock;

/// An adapter's database, until it is closed.
pub(crate) struct Gate<T> {
    open: RwLock<Option<T>>,
}

impl<T> Gate<T> {
    /// An open gate over `db`.
    pub(crate) fn new(db: T) -> Self {
        Gate {
            open: RwLock::new(Some(db)),
        }
    }

    /// Runs `f` on the database, or returns `Closed`.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&T) -> Result<R>) -> Result<R> {
        match &*self.open.read() {
            Some(db) => f(db),
            None => Err(Error::Closed),
        }
    }

    /// Closes: `finish` makes everything durable and closes the database
    /// (it consumes it), and says how that went; the database is gone
    /// whatever it returns, as after a failed fsync nothing is retried.
    /// Closing a closed gate is `Ok`.
    pub(crate) fn close(&self, finish: impl FnOnce(T) -> Result<()>) -> Result<()> {
        match self.open.write().take() {
            Some(db) => finish(db),
            None => Ok(()),
        }
    }
}
