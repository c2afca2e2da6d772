//! `KvStore` adapters over the engines Folio is measured against.
//!
//! Each peer sits behind a cargo feature (`rocksdb`, `redb`, `lmdb`,
//! `fjall`; `peers` in `folio-cli` turns on all four) that CI does not
//! build by default: they are heavy to compile and only the benchmark and
//! the conformance suite need them. [`open`] opens any engine by name:
//! Folio's own through [`folio::open`], a peer through its adapter, so a
//! tool that opens engines through this crate reaches every engine the
//! build has.
//!
//! Every adapter keeps the [`KvStore`] contract as Folio's engines do:
//! the same limits ([`Config::check_put`] and its siblings, checked
//! before the engine sees the input), atomic batches, [`folio::Error::Closed`] after `close`, and
//! durability mapped onto the engine's own modes — each module says how,
//! and docs/ARCHITECTURE.md ("Peer engines") has the table. They share:
//!
//! - [`layout`]: which files mark a directory as an engine's, so no engine
//!   opens (and writes into) a directory holding another engine's store;
//! - `gate`: the open database behind a lock that `close` takes;
//! - `walk`: `for_each_key` in ordered chunks, the visitor called with no
//!   lock and no transaction held;
//! - `stripes`: per-key locks that make a delete's "was it present" atomic
//!   on engines whose delete does not say (RocksDB, fjall);
//! - `spill`: keys an engine cannot hold (LMDB: empty or over 511 bytes;
//!   fjall: empty or over 65,535 bytes) kept in a second table under a
//!   hash of the key.

use std::path::Path;

use folio::{Config, Error, KvStore, Result};

#[cfg(any(
    feature = "rocksdb",
    feature = "redb",
    feature = "lmdb",
    feature = "fjall"
))]
mod gate;
pub mod layout;
#[cfg(any(feature = "lmdb", feature = "fjall"))]
mod spill;
#[cfg(any(feature = "rocksdb", feature = "fjall"))]
mod stripes;
#[cfg(any(
    feature = "rocksdb",
    feature = "redb",
    feature = "lmdb",
    feature = "fjall"
))]
mod walk;

#[cfg(feature = "fjall")]
pub mod fjall;
#[cfg(feature = "lmdb")]
pub mod lmdb;
#[cfg(feature = "redb")]
pub mod redb;
#[cfg(feature = "rocksdb")]
pub mod rocksdb;

/// Names of every engine this build can open: Folio's own first, then the
/// peers whose features are enabled.
pub fn engines() -> Vec<&'static str> {
    let mut names = folio::ENGINES.to_vec();
    names.extend(PEERS);
    names
}

/// Names of the peer engines compiled into this build.
pub const PEERS: &[&str] = &[
    #[cfg(feature = "rocksdb")]
    crate::rocksdb::ENGINE_NAME,
    #[cfg(feature = "redb")]
    crate::redb::ENGINE_NAME,
    #[cfg(feature = "lmdb")]
    crate::lmdb::ENGINE_NAME,
    #[cfg(feature = "fjall")]
    crate::fjall::ENGINE_NAME,
];

/// Opens (or creates) the store at `path` with the engine named `engine`,
/// one of [`engines`]. A directory holding another engine's store is
/// refused ([`layout::refuse_foreign`]) before the engine touches it (the
/// adapters check in their own `open`; Folio's engines are checked here).
/// A relative `path` is resolved once, here, as [`folio::open`] does.
pub fn open(engine: &str, path: &Path, config: &Config) -> Result<Box<dyn KvStore>> {
    let absolute = std::path::absolute(path).map_err(|e| Error::io("resolve", path, e))?;
    let path = absolute.as_path();
    match engine {
        #[cfg(feature = "rocksdb")]
        crate::rocksdb::ENGINE_NAME => {
            Ok(Box::new(crate::rocksdb::RocksDbStore::open(path, config)?))
        }
        #[cfg(feature = "redb")]
        crate::redb::ENGINE_NAME => Ok(Box::new(crate::redb::RedbStore::open(path, config)?)),
        #[cfg(feature = "lmdb")]
        crate::lmdb::ENGINE_NAME => Ok(Box::new(crate::lmdb::LmdbStore::open(path, config)?)),
        #[cfg(feature = "fjall")]
        crate::fjall::ENGINE_NAME => Ok(Box::new(crate::fjall::FjallStore::open(path, config)?)),
        _ if folio::ENGINES.contains(&engine) => {
            layout::refuse_foreign(engine, path)?;
            folio::open(engine, path, config)
        }
        _ => Err(Error::UnknownEngine {
            name: engine.to_string(),
            known: engines(),
        }),
    }
}
