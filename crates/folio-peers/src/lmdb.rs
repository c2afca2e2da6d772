//! LMDB behind [`KvStore`] (feature `lmdb`, crate `heed` 0.23, LMDB
//! mdb.master).
//!
//! **Configuration**: LMDB's defaults (one environment per store
//! directory, `data.mdb` and `lock.mdb`; read transactions tied to their
//! thread) with a map size of 64 GiB. LMDB maps the whole file and grows
//! it page by page up to the map size, so the size is only an upper bound
//! on the store, not memory or disk taken up front (the file stays
//! sparse). **There is no cache to size**: LMDB reads through the memory
//! map, so the operating system's page cache is its cache, and
//! `cache_bytes` has nothing to set — which makes LMDB's memory the
//! machine's free memory, not Folio's budget.
//!
//! **Durability** (LMDB environment flags):
//!
//! | mode | write | `flush` | `close` |
//! |---|---|---|---|
//! | `Sync` | a committed write transaction (LMDB fsyncs at every commit) | — | — |
//! | `Buffered` | commit with `MDB_NOSYNC` | `mdb_env_sync` | `mdb_env_sync` |
//! | `None` | commit with `MDB_NOSYNC` | `mdb_env_sync` | `mdb_env_sync` |
//!
//! LMDB has nothing weaker than `MDB_NOSYNC` short of a writable map, so
//! `Buffered` and `None` are the same: a commit reaches the operating
//! system (a process crash loses nothing), and LMDB warns that after a
//! power loss an unsynced environment may lose its last transactions —
//! or, on a file system that reorders writes, be damaged.
//!
//! LMDB keeps no checksums: a damaged page reads back as it is, so the
//! contract's integrity clause (a mismatch is `Corruption`) holds only as
//! far as LMDB's own structure checks go.
//!
//! LMDB refuses empty keys and keys over 511 bytes (`MDB_MAXKEYSIZE`);
//! those live in a second database, `spill`, under a hash (`spill`
//! module). Every write is one write transaction, so batches are atomic
//! and a delete knows whether the key was there.

use std::convert::Infallible;
use std::ops::{Bound, ControlFlow};
use std::path::{Path, PathBuf};

use folio::{BatchOp, Config, Durability, Error, KvStore, Result, Stats, WriteBatch};
use heed::types::Bytes;
use heed::{CommitOrAbort, Env, EnvFlags, EnvOpenOptions, MdbError, RoTxn, RwTxn};

use crate::gate::Gate;
use crate::layout;
use crate::spill::{place, Bucket, Place};
use crate::walk::{walk, Chunk, CHUNK};

/// The registry name of this engine.
pub const ENGINE_NAME: &str = "lmdb";

/// The memory map's size: the largest the store can grow to.
const MAP_BYTES: usize = 64 << 30;
/// Reader slots in the lock file. LMDB keeps a slot per thread that has
/// read (not per transaction) until the thread exits, and its default of
/// 126 would fail the 127th reading thread with `MDB_READERS_FULL`; the
/// bench runs up to 1,024 threads. 64 bytes a slot.
const MAX_READERS: u32 = 4096;

type Table = heed::Database<'static, Bytes, Bytes>;

/// The open environment and its two databases.
struct Lmdb {
    env: Env,
    /// Keys LMDB can hold, as themselves.
    main: Table,
    /// Buckets of the other keys, by hash.
    spill: Table,
    /// The longest key `main` takes.
    max_key: usize,
}

/// An LMDB environment as a [`KvStore`].
pub struct LmdbStore {
    db: Gate<Lmdb>,
    path: PathBuf,
    config: Config,
}

/// Opens the environment at `path` with the flags of `durability`.
#[allow(unsafe_code)] // heed marks opening a memory-mapped file, and NO_SYNC, unsafe
fn open_env(path: &Path, durability: Durability) -> heed::Result<Env> {
    let mut options = EnvOpenOptions::new();
    options
        .map_size(MAP_BYTES)
        .max_dbs(2)
        .max_readers(MAX_READERS);
    if durability != Durability::Sync {
        // SAFETY: NO_SYNC only drops the fsync at commit; the adapter
        // documents the weaker durability, and flush and close sync.
        unsafe {
            options.flags(EnvFlags::NO_SYNC);
        }
    }
    // SAFETY: the memory map is unsound if the file is changed behind
    // LMDB's back. The store's directory belongs to this adapter (another
    // engine's directory is refused, and this one is refused to them),
    // and LMDB's lock file coordinates every process that opens it.
    unsafe { options.open(path) }
}

impl LmdbStore {
    /// Opens (or creates) the environment in the directory `path`.
    pub fn open(path: &Path, config: &Config) -> Result<Self> {
        config.validate()?;
        layout::refuse_foreign(ENGINE_NAME, path)?;
        std::fs::create_dir_all(path).map_err(|e| Error::io("create", path, e))?;
        let err = |op, e| error(op, path, e);
        let env = open_env(path, config.durability).map_err(|e| err("open", e))?;
        let wtxn = env.write_txn().map_err(|e| err("begin", e))?;
        let opened = env
            .create_databases_and_commit(wtxn, |dbs, wtxn| -> heed::Result<_> {
                let main = dbs.create_database::<Bytes, Bytes>(wtxn, Some("main"))?;
                let spill = dbs.create_database::<Bytes, Bytes>(wtxn, Some("spill"))?;
                Ok(CommitOrAbort::<_, Infallible>::Commit((main, spill)))
            })
            .map_err(|e| err("create databases", e))?;
        let (main, spill) = match opened {
            CommitOrAbort::Commit(dbs) => dbs,
            CommitOrAbort::Abort(never) => match never {},
        };
        let max_key = env.max_key_size();
        Ok(LmdbStore {
            db: Gate::new(Lmdb {
                env,
                main,
                spill,
                max_key,
            }),
            path: path.to_path_buf(),
            config: config.clone(),
        })
    }

    fn error(&self, op: &'static str, e: heed::Error) -> Error {
        error(op, &self.path, e)
    }

    /// Runs `f` in one write transaction and commits it.
    fn write<R>(&self, f: impl FnOnce(&Lmdb, &mut RwTxn) -> Result<R>) -> Result<R> {
        self.db.with(|db| {
            let mut txn = db.env.write_txn().map_err(|e| self.error("begin", e))?;
            let result = f(db, &mut txn)?;
            txn.commit().map_err(|e| self.error("commit", e))?;
            Ok(result)
        })
    }

    /// Runs `f` in a read transaction.
    fn read<R>(&self, f: impl FnOnce(&Lmdb, &RoTxn) -> Result<R>) -> Result<R> {
        self.db.with(|db| {
            let txn = db.env.read_txn().map_err(|e| self.error("begin read", e))?;
            f(db, &txn)
        })
    }

    /// The bucket stored under `hash`, if any.
    fn bucket(&self, db: &Lmdb, txn: &RoTxn, hash: &[u8]) -> Result<Option<Bucket>> {
        match db.spill.get(txn, hash).map_err(|e| self.error("get", e))? {
            Some(bytes) => Bucket::decode(bytes, &self.path).map(Some),
            None => Ok(None),
        }
    }

    /// Changes the bucket under `hash` with `f` and stores it (or removes
    /// it when empty).
    fn update_bucket<R>(
        &self,
        db: &Lmdb,
        txn: &mut RwTxn,
        hash: &[u8],
        f: impl FnOnce(&mut Bucket) -> R,
    ) -> Result<R> {
        let mut bucket = self.bucket(db, txn, hash)?.unwrap_or_default();
        let result = f(&mut bucket);
        match bucket.encode()? {
            Some(bytes) => db.spill.put(txn, hash, &bytes),
            None => db.spill.delete(txn, hash).map(drop),
        }
        .map_err(|e| self.error("write", e))?;
        Ok(result)
    }

    fn put_in(&self, db: &Lmdb, txn: &mut RwTxn, key: &[u8], value: &[u8]) -> Result<()> {
        match place(key, db.max_key) {
            Place::Main(key) => db
                .main
                .put(txn, key, value)
                .map_err(|e| self.error("put", e)),
            Place::Spill(hash) => self.update_bucket(db, txn, &hash, |b| b.set(key, value)),
        }
    }

    fn delete_in(&self, db: &Lmdb, txn: &mut RwTxn, key: &[u8]) -> Result<bool> {
        match place(key, db.max_key) {
            Place::Main(key) => db
                .main
                .delete(txn, key)
                .map_err(|e| self.error("delete", e)),
            Place::Spill(hash) => self.update_bucket(db, txn, &hash, |b| b.remove(key)),
        }
    }

    /// Up to [`CHUNK`] entries of `table` after `after`: their keys (each
    /// bucket's keys for `spill`) and the last stored key.
    fn read_chunk(&self, spill: bool, after: Option<&[u8]>) -> Result<Chunk> {
        self.read(|db, txn| {
            let table = if spill { db.spill } else { db.main };
            let start = after.map_or(Bound::Unbounded, Bound::Excluded);
            let range = table
                .range(txn, &(start, Bound::Unbounded))
                .map_err(|e| self.error("iterate", e))?;
            let (mut keys, mut last, mut read) = (Vec::new(), None, 0);
            for entry in range.take(CHUNK) {
                let (key, value) = entry.map_err(|e| self.error("iterate", e))?;
                if spill {
                    keys.extend(
                        Bucket::decode(value, &self.path)?
                            .keys()
                            .map(<[u8]>::to_vec),
                    );
                } else {
                    keys.push(key.to_vec());
                }
                last = Some(key.to_vec());
                read += 1;
            }
            Ok(Chunk::new(keys, last, read))
        })
    }

    /// Keys in the spill database.
    fn spilled_keys(&self, db: &Lmdb, txn: &RoTxn) -> Result<u64> {
        let mut n = 0u64;
        for entry in db.spill.iter(txn).map_err(|e| self.error("iterate", e))? {
            let (_, bucket) = entry.map_err(|e| self.error("iterate", e))?;
            n += Bucket::decode(bucket, &self.path)?.len() as u64;
        }
        Ok(n)
    }

    /// Syncs the environment when commits do not.
    fn sync(&self, env: &Env) -> Result<()> {
        if self.config.durability == Durability::Sync {
            return Ok(());
        }
        env.force_sync().map_err(|e| self.error("sync", e))
    }
}

/// An LMDB error as a Folio error.
fn error(op: &'static str, path: &Path, e: heed::Error) -> Error {
    match e {
        heed::Error::Io(e) => Error::io(op, path.join("data.mdb"), e),
        heed::Error::Mdb(
            e @ (MdbError::Corrupted
            | MdbError::PageNotFound
            | MdbError::Invalid
            | MdbError::VersionMismatch),
        ) => Error::corruption(path.join("data.mdb"), None, e.to_string()),
        heed::Error::Mdb(MdbError::Panic) => Error::Poisoned {
            cause: format!("LMDB failed fatally during {op}"),
        },
        heed::Error::EnvAlreadyOpened => Error::Locked {
            path: path.to_path_buf(),
        },
        other => Error::Backend {
            engine: ENGINE_NAME,
            message: format!("{op}: {other}"),
        },
    }
}

impl KvStore for LmdbStore {
    fn engine_name(&self) -> &'static str {
        ENGINE_NAME
    }

    fn max_value_bytes(&self) -> usize {
        self.config.max_value_bytes
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.config.check_put(key, value)?;
        self.write(|db, txn| self.put_in(db, txn, key, value))
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.config.check_key(key)?;
        self.read(|db, txn| match place(key, db.max_key) {
            Place::Main(key) => {
                let value = db.main.get(txn, key).map_err(|e| self.error("get", e))?;
                Ok(value.map(<[u8]>::to_vec))
            }
            Place::Spill(hash) => Ok(self
                .bucket(db, txn, &hash)?
                .and_then(|b| b.get(key).map(<[u8]>::to_vec))),
        })
    }

    fn delete(&self, key: &[u8]) -> Result<bool> {
        self.config.check_key(key)?;
        self.write(|db, txn| self.delete_in(db, txn, key))
    }

    fn write_batch(&self, batch: &WriteBatch) -> Result<()> {
        self.config.check_batch(batch)?;
        self.write(|db, txn| {
            for op in batch.ops() {
                match op {
                    BatchOp::Put { key, value } => self.put_in(db, txn, key, value)?,
                    BatchOp::Delete { key } => drop(self.delete_in(db, txn, key)?),
                }
            }
            Ok(())
        })
    }

    fn durability(&self) -> Durability {
        self.config.durability
    }

    fn flush(&self) -> Result<()> {
        self.db.with(|db| self.sync(&db.env))
    }

    fn len(&self) -> Result<u64> {
        self.read(|db, txn| {
            let main = db.main.len(txn).map_err(|e| self.error("len", e))?;
            Ok(main + self.spilled_keys(db, txn)?)
        })
    }

    fn for_each_key(&self, visit: &mut dyn FnMut(&[u8]) -> ControlFlow<()>) -> Result<()> {
        for spill in [false, true] {
            if walk(|after| self.read_chunk(spill, after), visit)?.is_break() {
                break;
            }
        }
        Ok(())
    }

    fn stats(&self) -> Stats {
        let mut stats = Stats::default();
        stats.data_file_bytes = layout::store_bytes(&self.path);
        stats
    }

    fn close(&self) -> Result<()> {
        self.db.close(|db| {
            let synced = self.sync(&db.env);
            // Wait until LMDB has really closed the environment, so the
            // store can be opened again at once (heed refuses an open
            // while the environment is still open in this process).
            db.env.prepare_for_closing().wait();
            synced
        })
    }
}
