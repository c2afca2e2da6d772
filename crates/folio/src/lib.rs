//! Folio: a crash-safe key-value and multi-version page store.
//!
//! The engine crate: no async runtime, no network. Backends implement
//! [`KvStore`]; [`open`] picks one by name. The native engine,
//! [`PagedStore`], has three layers:
//!
//! 1. [`index`]: a lock-free concurrent hash map from key to value location;
//! 2. [`buffer`]: a buffer pool of page frames with a pluggable replacer;
//! 3. [`disk`]: segment files of 16 MiB holding slots of one size class,
//!    with free lists;
//!
//! all reaching the disk through one I/O trait, [`io::Vfs`]. The second
//! engine, [`MemoryStore`] (`"memory"`), keeps everything in a sharded hash
//! table, made durable by the same WAL and by snapshots.
//!
//! ```
//! use folio::{Config, KvStore};
//! let dir = tempfile::tempdir().unwrap();
//! let store = folio::open("paged", dir.path(), &Config::default()).unwrap();
//! store.put(b"page:1", &[7u8; 8192]).unwrap();
//! assert_eq!(store.get(b"page:1").unwrap().unwrap(), vec![7u8; 8192]);
//! store.close().unwrap();
//! ```

mod ack;
pub mod buffer;
mod check;
pub mod clock;
pub mod config;
mod counter;
pub mod disk;
pub mod error;
mod gate;
pub mod index;
pub mod io;
mod keylocks;
pub mod kv;
mod limits;
pub mod liveness;
pub mod memory;
pub mod page;
mod periodic;
mod registry;
mod reuse;
mod sparse;
pub mod store;
pub mod wal;

pub use check::{check, check_with_vfs, CheckReport};
pub use config::{Config, Durability, ReplacerKind};
pub use error::{Error, Result};
pub use kv::{AckListener, AckMark, BatchOp, DeferredAck, KvStore, Stats, WriteBatch};
pub use memory::MemoryStore;
pub use page::{PageError, PageLsn, PageOptions, PageStore};
pub use registry::{open, open_with_vfs, remove_store, ENGINES};
pub use store::PagedStore;
