//! redb behind [`KvStore`] (feature `redb`, crate `redb` 4).
//!
//! **Configuration**: redb's defaults (`Builder::new`: 4 KiB pages,
//! one-phase commits with checksums, no quick-repair) with the cache set
//! to `cache_bytes`, Folio's buffer-pool budget (`Builder::set_cache_size`).
//! The database is one file, `data.redb`, in the store's directory, with
//! one table of byte keys and byte values.
//!
//! **Durability**: redb has no log, only two commit levels
//! ([`redb::Durability`]), so every write is one write transaction:
//!
//! | mode | write commits with | `flush` | `close` |
//! |---|---|---|---|
//! | `Sync` | `Immediate` (fsynced when `commit` returns) | — (already durable) | `Database::close` |
//! | `Buffered` | `None` | an empty `Immediate` commit | `Database::close` (makes pending commits durable) |
//! | `None` | `None` | an empty `Immediate` commit | `Database::close` |
//!
//! redb checksums its pages, but verifies them at recovery (and in
//! `check_integrity`), not on every read.
//!
//! A `None` commit is kept in redb's memory until a later `Immediate` one,
//! so with `Buffered` a process crash — not only a power loss — loses the
//! writes since the last `flush`: redb has nothing between the two.
//! Batches are one write transaction (atomic); a delete says whether the
//! key was there from the transaction's own `remove`.

use std::ops::{Bound, ControlFlow};
use std::path::{Path, PathBuf};

use ::redb::{
    Builder, Database, ReadableDatabase, ReadableTableMetadata, TableDefinition, WriteTransaction,
};
use folio::{BatchOp, Config, Durability, Error, KvStore, Result, Stats, WriteBatch};

use crate::gate::Gate;
use crate::layout::{self, REDB_FILE};
use crate::walk::{walk, Chunk, CHUNK};

/// The registry name of this engine.
pub const ENGINE_NAME: &str = "redb";

/// The one table.
const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("folio");

/// A redb database as a [`KvStore`].
pub struct RedbStore {
    db: Gate<Database>,
    path: PathBuf,
    config: Config,
}

impl RedbStore {
    /// Opens (or creates) the database in the directory `path`.
    pub fn open(path: &Path, config: &Config) -> Result<Self> {
        config.validate()?;
        layout::refuse_foreign(ENGINE_NAME, path)?;
        std::fs::create_dir_all(path).map_err(|e| Error::io("create", path, e))?;
        let db = Builder::new()
            .set_cache_size(config.cache_bytes)
            .create(path.join(REDB_FILE))
            .map_err(|e| error("open", path, e))?;
        let store = RedbStore {
            db: Gate::new(db),
            path: path.to_path_buf(),
            config: config.clone(),
        };
        // Create the table durably, so reads of a new store find it.
        store.db.with(|db| {
            let txn = store.begin(db, true)?;
            txn.open_table(TABLE)
                .map_err(|e| store.error("create table", e))?;
            store.commit(txn)
        })?;
        Ok(store)
    }

    /// A write transaction; `durable` commits with `Immediate`, otherwise
    /// the mode decides.
    fn begin(&self, db: &Database, durable: bool) -> Result<WriteTransaction> {
        let mut txn = db.begin_write().map_err(|e| self.error("begin", e))?;
        let level = match self.config.durability {
            Durability::Buffered | Durability::None if !durable => ::redb::Durability::None,
            _ => ::redb::Durability::Immediate,
        };
        txn.set_durability(level)
            .map_err(|e| self.error("set durability", e))?;
        Ok(txn)
    }

    fn commit(&self, txn: WriteTransaction) -> Result<()> {
        txn.commit().map_err(|e| self.error("commit", e))
    }

    /// Runs `f` on the table in one write transaction and commits it.
    fn write<R>(&self, f: impl FnOnce(&mut ::redb::Table<&[u8], &[u8]>) -> Result<R>) -> Result<R> {
        self.db.with(|db| {
            let txn = self.begin(db, false)?;
            let result = {
                let mut table = txn
                    .open_table(TABLE)
                    .map_err(|e| self.error("open table", e))?;
                f(&mut table)?
            };
            self.commit(txn)?;
            Ok(result)
        })
    }

    /// Runs `f` on the table in a read transaction.
    fn read<R>(
        &self,
        f: impl FnOnce(&::redb::ReadOnlyTable<&[u8], &[u8]>) -> Result<R>,
    ) -> Result<R> {
        self.db.with(|db| {
            let txn = db.begin_read().map_err(|e| self.error("begin read", e))?;
            let table = txn
                .open_table(TABLE)
                .map_err(|e| self.error("open table", e))?;
            f(&table)
        })
    }

    fn error(&self, op: &'static str, e: impl Into<::redb::Error>) -> Error {
        error(op, &self.path, e)
    }

    /// Up to [`CHUNK`] keys after `after`, in key order.
    fn read_chunk(&self, after: Option<&[u8]>) -> Result<Chunk> {
        self.read(|table| {
            let start = after.map_or(Bound::Unbounded, Bound::Excluded);
            let range = table
                .range::<&[u8]>((start, Bound::Unbounded))
                .map_err(|e| self.error("iterate", e))?;
            let mut keys = Vec::new();
            for entry in range.take(CHUNK) {
                let (key, _) = entry.map_err(|e| self.error("iterate", e))?;
                keys.push(key.value().to_vec());
            }
            let (read, last) = (keys.len(), keys.last().cloned());
            Ok(Chunk::new(keys, last, read))
        })
    }
}

/// A redb error as a Folio error.
fn error(op: &'static str, path: &Path, e: impl Into<::redb::Error>) -> Error {
    let file = path.join(REDB_FILE);
    match e.into() {
        ::redb::Error::Io(e) => Error::io(op, file, e),
        ::redb::Error::Corrupted(what) => Error::corruption(file, None, what),
        ::redb::Error::DatabaseAlreadyOpen => Error::Locked {
            path: path.to_path_buf(),
        },
        ::redb::Error::PreviousIo => Error::Poisoned {
            cause: format!("an earlier I/O error on {}", file.display()),
        },
        other => Error::Backend {
            engine: ENGINE_NAME,
            message: format!("{op}: {other}"),
        },
    }
}

impl KvStore for RedbStore {
    fn engine_name(&self) -> &'static str {
        ENGINE_NAME
    }

    fn max_value_bytes(&self) -> usize {
        self.config.max_value_bytes
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.config.check_put(key, value)?;
        self.write(|table| {
            table
                .insert(key, value)
                .map_err(|e| self.error("put", e))
                .map(drop)
        })
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.config.check_key(key)?;
        self.read(|table| {
            let value = table.get(key).map_err(|e| self.error("get", e))?;
            Ok(value.map(|v| v.value().to_vec()))
        })
    }

    fn delete(&self, key: &[u8]) -> Result<bool> {
        self.config.check_key(key)?;
        self.write(|table| {
            let old = table.remove(key).map_err(|e| self.error("delete", e))?;
            Ok(old.is_some())
        })
    }

    fn write_batch(&self, batch: &WriteBatch) -> Result<()> {
        self.config.check_batch(batch)?;
        self.write(|table| {
            for op in batch.ops() {
                match op {
                    BatchOp::Put { key, value } => {
                        table
                            .insert(key.as_slice(), value.as_slice())
                            .map_err(|e| self.error("put", e))?;
                    }
                    BatchOp::Delete { key } => {
                        table
                            .remove(key.as_slice())
                            .map_err(|e| self.error("delete", e))?;
                    }
                }
            }
            Ok(())
        })
    }

    fn durability(&self) -> Durability {
        self.config.durability
    }

    fn flush(&self) -> Result<()> {
        self.db.with(|db| {
            if self.config.durability == Durability::Sync {
                return Ok(()); // every commit was Immediate
            }
            // An empty Immediate commit makes the None commits before it
            // durable.
            self.commit(self.begin(db, true)?)
        })
    }

    fn len(&self) -> Result<u64> {
        self.read(|table| table.len().map_err(|e| self.error("len", e)))
    }

    fn for_each_key(&self, visit: &mut dyn FnMut(&[u8]) -> ControlFlow<()>) -> Result<()> {
        walk(|after| self.read_chunk(after), visit).map(drop)
    }

    fn stats(&self) -> Stats {
        let mut stats = Stats::default();
        stats.data_file_bytes = layout::store_bytes(&self.path);
        stats
    }

    fn close(&self) -> Result<()> {
        self.db
            .close(|db| db.close().map_err(|e| error("close", &self.path, e)))
    }
}
