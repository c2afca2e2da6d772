//! The `kvstore` handle: a key-value store, and a page store beside it
//! opened on first use.
//!
//! Keys live in the store at `path`; page versions in a second store at
//! `path/pages`, as `folio serve` lays them out, because a `PageStore` must
//! own every key of the store under it.
//!
//! The page store opens lazily, on the first page call, not at init: a
//! program that only uses the five key-value functions then gets one store,
//! one directory, one buffer pool and one WAL, not two. The price is that a
//! page store that cannot open fails that first page call (retried by the
//! next one) rather than `kvstore_init`. Opening is serialised by a mutex;
//! once open, the page store is read through a `OnceLock` without locking.
//!
//! The page store's background thread is off: it vacuums to the horizon
//! that compute nodes' heartbeats set, and the C ABI has no heartbeat, so
//! it would never have work; vacuum is the explicit `kvstore_vacuum_pages`.
//!
//! Thread safety: every method takes `&self`; the engines are `Send + Sync`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use folio::page::key::{check_page_id, page_store_config};
use folio::{Config, KvStore, PageLsn, PageOptions, PageStore};

use crate::options::Options;
use crate::status::Failure;

/// The page store's directory inside the store's.
pub const PAGES_DIR: &str = "pages";

/// What `kvstore *` points at.
pub struct Kvstore {
    engine: String,
    config: Config,
    pages_dir: PathBuf,
    kv: Box<dyn KvStore>,
    pages: OnceLock<PageStore>,
    /// Held while the page store is being opened, so only one thread opens it.
    opening_pages: Mutex<()>,
}

// The C header promises a handle any number of threads may share.
const _: () = {
    const fn shared_between_threads<T: Send + Sync>() {}
    shared_between_threads::<Kvstore>();
};

impl Kvstore {
    /// Opens (or creates) the key-value store at `path`.
    ///
    /// A relative `path` is resolved here, once: a later `chdir` of the
    /// program moves neither store.
    pub fn open(path: &Path, options: Options) -> Result<Self, Failure> {
        let path = &std::path::absolute(path)
            .map_err(|e| Failure::from(folio::Error::io("resolve", path, e)))?;
        let kv = folio::open(&options.engine, path, &options.config).map_err(|e| {
            Failure::from(e).context(format!("cannot open the store in {}", path.display()))
        })?;
        Ok(Kvstore {
            engine: options.engine,
            config: options.config,
            pages_dir: path.join(PAGES_DIR),
            kv,
            pages: OnceLock::new(),
            opening_pages: Mutex::new(()),
        })
    }

    /// Inserts or overwrites `key`.
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<(), Failure> {
        Ok(self.kv.put(key, value)?)
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Failure> {
        Ok(self.kv.get(key)?)
    }

    /// Removes `key`; whether it was present.
    pub fn delete(&self, key: &[u8]) -> Result<bool, Failure> {
        Ok(self.kv.delete(key)?)
    }

    /// Stores version `lsn` of page `id` (a repeat of a stored version is
    /// a no-op). A bad id or an image over the limit is refused before the
    /// page store opens: a refused call leaves no directory behind.
    pub fn put_page(&self, id: &[u8], lsn: u64, image: &[u8]) -> Result<(), Failure> {
        check_page_id(id)?;
        self.config.check_value(image)?;
        self.pages()?.put_page(id, PageLsn(lsn), image)?;
        Ok(())
    }

    /// The newest version of page `id` at or below `lsn`.
    pub fn get_page(&self, id: &[u8], lsn: u64) -> Result<Option<(u64, Vec<u8>)>, Failure> {
        check_page_id(id)?;
        let found = self.pages()?.get_page(id, PageLsn(lsn))?;
        Ok(found.map(|(lsn, image)| (lsn.0, image)))
    }

    /// Vacuums every page at `horizon`; the number of versions removed.
    pub fn vacuum_pages(&self, horizon: u64) -> Result<u64, Failure> {
        Ok(self.pages()?.vacuum(PageLsn(horizon))?.versions_removed)
    }

    /// Closes both stores (a close makes everything durable: no flush
    /// before it, which would make a memory store write its snapshot
    /// twice), reporting the first failure; both are closed whatever
    /// happens.
    pub fn close(self) -> Result<(), Failure> {
        let pages_closed = match self.pages.into_inner() {
            Some(pages) => pages.close().map_err(Failure::from),
            None => Ok(()),
        };
        let kv_closed = self.kv.close().map_err(Failure::from);
        match pages_closed.err().or(kv_closed.err()) {
            Some(failure) => Err(failure.context("closing the store")),
            None => Ok(()),
        }
    }

    /// The page store, opened on first use.
    fn pages(&self) -> Result<&PageStore, Failure> {
        if let Some(pages) = self.pages.get() {
            return Ok(pages);
        }
        // A panic while opening poisons the mutex but leaves nothing half
        // done (the OnceLock is still empty), so the poison is ignored.
        let _opening = self
            .opening_pages
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(pages) = self.pages.get() {
            return Ok(pages);
        }
        let pages = self.open_pages().map_err(|f| {
            f.context(format!(
                "cannot open the page store in {}",
                self.pages_dir.display()
            ))
        })?;
        Ok(self.pages.get_or_init(|| pages))
    }

    fn open_pages(&self) -> Result<PageStore, Failure> {
        let config = page_store_config(&self.config);
        let kv = folio::open(&self.engine, &self.pages_dir, &config)?;
        let mut options = PageOptions::default();
        options.background = false;
        Ok(PageStore::open(Arc::from(kv), options)?)
    }
}
