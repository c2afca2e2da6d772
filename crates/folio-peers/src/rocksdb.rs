//! RocksDB behind [`KvStore`] (feature `rocksdb`, crate `rocksdb` 0.25,
//! RocksDB 11).
//!
//! **Configuration**, after RocksDB's "Setup Options and Basic Tuning":
//! one LRU block cache of `cache_bytes` (Folio's buffer-pool budget) set
//! on the block-based table options, with index and filter blocks cached
//! in it and level-0's pinned; 16 KiB blocks; a 10-bit Bloom filter;
//! `increase_parallelism(cores)`; `bytes_per_sync` 1 MiB; dynamic level
//! sizes; LZ4, and ZSTD for the bottommost level. Memtables (64 MiB write
//! buffers) come on top of the cache, as they do in any RocksDB setup.
//!
//! **Durability** ([`Durability`]):
//!
//! | mode | write | `flush` | `close` |
//! |---|---|---|---|
//! | `Sync` | WAL write with `sync = true` (fdatasync before returning) | sync the WAL | sync the WAL |
//! | `Buffered` | WAL write, no sync (RocksDB's default) | sync the WAL | sync the WAL |
//! | `None` | `disable_wal`: memtable only | flush the memtables to SST files | flush the memtables |
//!
//! `checkpoint` flushes the memtables in every mode, so a reopen replays
//! no WAL. A delete reads the key first to say whether it was there; the
//! key's stripe lock (`stripes`) makes the pair atomic. Batches are one
//! RocksDB `WriteBatch`: atomic for readers and for recovery. `len` counts
//! by iterating (RocksDB only estimates).

use std::io;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use ::rocksdb::{
    BlockBasedOptions, Cache, DBCompressionType, ErrorKind, Options, WriteBatch as RocksBatch,
    WriteOptions, DB,
};
use folio::{BatchOp, Config, Durability, Error, KvStore, Result, Stats, WriteBatch};

use crate::gate::Gate;
use crate::layout;
use crate::stripes::Stripes;
use crate::walk::{walk, Chunk, CHUNK};

/// The registry name of this engine.
pub const ENGINE_NAME: &str = "rocksdb";

/// A RocksDB database as a [`KvStore`].
pub struct RocksDbStore {
    db: Gate<DB>,
    path: PathBuf,
    config: Config,
    write: WriteOptions,
    stripes: Stripes,
}

impl RocksDbStore {
    /// Opens (or creates) the database in the directory `path`.
    pub fn open(path: &Path, config: &Config) -> Result<Self> {
        config.validate()?;
        layout::refuse_foreign(ENGINE_NAME, path)?;
        let db = DB::open(&options(config), path).map_err(|e| error("open", path, e))?;
        Ok(RocksDbStore {
            db: Gate::new(db),
            path: path.to_path_buf(),
            config: config.clone(),
            write: write_options(config.durability),
            stripes: Stripes::new(),
        })
    }

    /// Makes every write so far durable: the WAL synced, or without a WAL
    /// the memtables flushed.
    fn persist(&self, db: &DB) -> Result<()> {
        if self.config.durability == Durability::None {
            db.flush().map_err(|e| self.error("flush", e))
        } else {
            db.flush_wal(true).map_err(|e| self.error("sync WAL", e))
        }
    }

    fn error(&self, op: &'static str, e: ::rocksdb::Error) -> Error {
        error(op, &self.path, e)
    }

    /// Up to [`CHUNK`] keys after `after`, in key order.
    fn read_chunk(&self, db: &DB, after: Option<&[u8]>) -> Result<Chunk> {
        let mut it = db.raw_iterator();
        match after {
            Some(after) => {
                it.seek(after);
                if it.key() == Some(after) {
                    it.next();
                }
            }
            None => it.seek_to_first(),
        }
        let mut keys = Vec::new();
        while keys.len() < CHUNK {
            let Some(key) = it.key() else { break };
            keys.push(key.to_vec());
            it.next();
        }
        it.status().map_err(|e| self.error("iterate", e))?;
        let (read, last) = (keys.len(), keys.last().cloned());
        Ok(Chunk::new(keys, last, read))
    }
}

/// The database options: RocksDB's basic tuning, with the block cache
/// sized by `cache_bytes`.
fn options(config: &Config) -> Options {
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(&Cache::new_lru_cache(config.cache_bytes));
    table.set_cache_index_and_filter_blocks(true);
    table.set_pin_l0_filter_and_index_blocks_in_cache(true);
    table.set_block_size(16 * 1024);
    table.set_bloom_filter(10.0, false);
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.increase_parallelism(i32::try_from(cores).unwrap_or(i32::MAX));
    opts.set_bytes_per_sync(1024 * 1024);
    opts.set_level_compaction_dynamic_level_bytes(true);
    opts.set_compression_type(DBCompressionType::Lz4);
    opts.set_bottommost_compression_type(DBCompressionType::Zstd);
    opts.set_block_based_table_factory(&table);
    opts
}

/// The write options of a durability mode.
fn write_options(durability: Durability) -> WriteOptions {
    let mut write = WriteOptions::default();
    match durability {
        Durability::Buffered => {}
        Durability::None => write.disable_wal(true),
        _ => write.set_sync(true),
    }
    write
}

/// A RocksDB error as a Folio error: corruption, a full disk, a held lock
/// and other I/O errors by kind, the rest as `Backend`.
fn error(op: &'static str, path: &Path, e: ::rocksdb::Error) -> Error {
    let kind = e.kind();
    let message = e.into_string();
    match kind {
        ErrorKind::Corruption => Error::corruption(path, None, message),
        ErrorKind::IOError if message.contains("No space left") => Error::StorageFull {
            op,
            path: path.to_path_buf(),
        },
        ErrorKind::IOError if message.contains("While lock file") => Error::Locked {
            path: path.to_path_buf(),
        },
        ErrorKind::IOError => Error::io(op, path, io::Error::other(message)),
        _ => Error::Backend {
            engine: ENGINE_NAME,
            message: format!("{op}: {message}"),
        },
    }
}

impl KvStore for RocksDbStore {
    fn engine_name(&self) -> &'static str {
        ENGINE_NAME
    }

    fn max_value_bytes(&self) -> usize {
        self.config.max_value_bytes
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.config.check_put(key, value)?;
        self.db.with(|db| {
            let _stripe = self.stripes.lock(key);
            db.put_opt(key, value, &self.write)
                .map_err(|e| self.error("put", e))
        })
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.config.check_key(key)?;
        self.db.with(|db| {
            let value = db.get_pinned(key).map_err(|e| self.error("get", e))?;
            Ok(value.map(|v| v.to_vec()))
        })
    }

    fn delete(&self, key: &[u8]) -> Result<bool> {
        self.config.check_key(key)?;
        self.db.with(|db| {
            let _stripe = self.stripes.lock(key);
            if db
                .get_pinned(key)
                .map_err(|e| self.error("get", e))?
                .is_none()
            {
                return Ok(false);
            }
            db.delete_opt(key, &self.write)
                .map_err(|e| self.error("delete", e))?;
            Ok(true)
        })
    }

    fn write_batch(&self, batch: &WriteBatch) -> Result<()> {
        self.config.check_batch(batch)?;
        self.db.with(|db| {
            let _stripes = self.stripes.lock_all(batch.ops().iter().map(BatchOp::key));
            let mut rocks = RocksBatch::default();
            for op in batch.ops() {
                match op {
                    BatchOp::Put { key, value } => rocks.put(key, value),
                    BatchOp::Delete { key } => rocks.delete(key),
                }
            }
            db.write_opt(rocks, &self.write)
                .map_err(|e| self.error("write batch", e))
        })
    }

    fn durability(&self) -> Durability {
        self.config.durability
    }

    fn flush(&self) -> Result<()> {
        self.db.with(|db| self.persist(db))
    }

    fn checkpoint(&self) -> Result<()> {
        self.db
            .with(|db| db.flush().map_err(|e| self.error("flush", e)))
    }

    fn len(&self) -> Result<u64> {
        self.db.with(|db| {
            let mut it = db.raw_iterator();
            it.seek_to_first();
            let mut n = 0u64;
            while it.valid() {
                n += 1;
                it.next();
            }
            it.status().map_err(|e| self.error("iterate", e))?;
            Ok(n)
        })
    }

    fn for_each_key(&self, visit: &mut dyn FnMut(&[u8]) -> ControlFlow<()>) -> Result<()> {
        walk(|after| self.db.with(|db| self.read_chunk(db, after)), visit).map(drop)
    }

    fn stats(&self) -> Stats {
        let mut stats = Stats::default();
        stats.data_file_bytes = layout::store_bytes(&self.path);
        stats
    }

    fn close(&self) -> Result<()> {
        self.db.close(|db| self.persist(&db))
    }
}
