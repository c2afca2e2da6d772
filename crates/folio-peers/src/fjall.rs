//! fjall behind [`KvStore`] (feature `fjall`, crate `fjall` 3).
//!
//! **Configuration**: fjall's defaults (LZ4, leveled compaction, 64 MiB
//! memtables, `min(cores, 4)` worker threads) with the block cache set to
//! `cache_bytes`, Folio's buffer-pool budget (`DatabaseBuilder::cache_size`).
//! Two keyspaces: `main`, and `spill` for the keys fjall cannot hold
//! (empty, or over 65,535 bytes: its journal writes a key's length in 16
//! bits; see the `spill` module).
//!
//! **Durability**: every write is a fjall write batch (one journal record,
//! applied atomically) committed with the persist mode of the durability:
//!
//! | mode | write | `flush` | `close` |
//! |---|---|---|---|
//! | `Sync` | `PersistMode::SyncData` (fdatasync of the journal before returning) | — | `persist(SyncData)` |
//! | `Buffered` | `PersistMode::Buffer` (the journal reaches the OS; fjall's default) | `persist(SyncData)` | `persist(SyncData)` |
//! | `None` | no persist: the journal stays in fjall's 8 KiB write buffer | `persist(SyncData)` | `persist(SyncData)` |
//!
//! `SyncData` is what fjall's documentation names for durable commits
//! (fdatasync, as Folio's WAL and RocksDB use). `checkpoint` also writes
//! the memtables out as tables, so a reopen replays no journal. A delete
//! reads the key first; the key's stripe lock (`stripes`) makes the pair
//! atomic. Gets read through a snapshot (`Database::snapshot`): a plain
//! `Keyspace::get` reads at the newest sequence number and was seen to
//! return part of a batch still being applied (the conformance suite's
//! `readers_never_see_half_a_batch`). Within one batch the last operation
//! on a key wins, as the contract says: the adapter keeps only that one
//! (fjall gives every item of a batch the same sequence number).

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::ops::{Bound, ControlFlow};
use std::path::{Path, PathBuf};

use ::fjall::{Database, Keyspace, KeyspaceCreateOptions, LsmError, PersistMode, Readable};
use folio::{BatchOp, Config, Durability, Error, KvStore, Result, Stats, WriteBatch};

use crate::gate::Gate;
use crate::layout;
use crate::spill::{place, Bucket, Place, HASH_BYTES};
use crate::stripes::Stripes;
use crate::walk::{walk, Chunk, CHUNK};

/// The registry name of this engine.
pub const ENGINE_NAME: &str = "fjall";

/// The longest key `main` holds.
const MAX_KEY: usize = u16::MAX as usize;

/// The open database and its keyspaces.
struct Fjall {
    main: Keyspace,
    spill: Keyspace,
    db: Database,
}

/// A fjall database as a [`KvStore`].
pub struct FjallStore {
    db: Gate<Fjall>,
    path: PathBuf,
    config: Config,
    /// How each write batch is persisted.
    persist: Option<PersistMode>,
    stripes: Stripes,
}

/// The effect of a batch on one key of `main`: a put or a delete.
type MainEffects<'b> = HashMap<&'b [u8], Option<&'b [u8]>>;

impl FjallStore {
    /// Opens (or creates) the database in the directory `path`.
    pub fn open(path: &Path, config: &Config) -> Result<Self> {
        config.validate()?;
        layout::refuse_foreign(ENGINE_NAME, path)?;
        let err = |op, e| error(op, path, e);
        let db = Database::builder(path)
            .cache_size(u64::try_from(config.cache_bytes).unwrap_or(u64::MAX))
            .open()
            .map_err(|e| err("open", e))?;
        let main = db
            .keyspace("main", KeyspaceCreateOptions::default)
            .map_err(|e| err("open keyspace", e))?;
        let spill = db
            .keyspace("spill", KeyspaceCreateOptions::default)
            .map_err(|e| err("open keyspace", e))?;
        Ok(FjallStore {
            db: Gate::new(Fjall { main, spill, db }),
            path: path.to_path_buf(),
            config: config.clone(),
            persist: match config.durability {
                Durability::Buffered => Some(PersistMode::Buffer),
                Durability::None => None,
                _ => Some(PersistMode::SyncData),
            },
            stripes: Stripes::new(),
        })
    }

    fn error(&self, op: &'static str, e: ::fjall::Error) -> Error {
        error(op, &self.path, e)
    }

    /// The bucket stored under `hash`, or an empty one.
    fn bucket(&self, f: &Fjall, hash: &[u8]) -> Result<Bucket> {
        match f.spill.get(hash).map_err(|e| self.error("get", e))? {
            Some(bytes) => Bucket::decode(&bytes, &self.path),
            None => Ok(Bucket::default()),
        }
    }

    /// Commits the final effects of a write: on `main` keys and on spill
    /// buckets, as one fjall batch.
    fn commit(
        &self,
        f: &Fjall,
        main: MainEffects<'_>,
        buckets: HashMap<[u8; HASH_BYTES], Bucket>,
    ) -> Result<()> {
        let mut batch = f.db.batch().durability(self.persist);
        for (key, value) in main {
            match value {
                Some(value) => batch.insert(&f.main, key, value),
                None => batch.remove(&f.main, key),
            }
        }
        for (hash, bucket) in buckets {
            match bucket.encode()? {
                Some(bytes) => batch.insert(&f.spill, hash, bytes),
                None => batch.remove(&f.spill, hash),
            }
        }
        batch.commit().map_err(|e| self.error("write", e))
    }

    /// Applies `ops` under their stripes, the last operation on a key
    /// winning.
    fn apply<'b>(
        &self,
        f: &Fjall,
        ops: impl Iterator<Item = (&'b [u8], Option<&'b [u8]>)> + Clone,
    ) -> Result<()> {
        let places: Vec<Place<'b>> = ops.clone().map(|(key, _)| place(key, MAX_KEY)).collect();
        let _stripes = self.stripes.lock_all(places.iter().map(stripe_key));
        let mut main = MainEffects::new();
        let mut buckets = HashMap::new();
        for ((key, value), at) in ops.zip(places) {
            match at {
                Place::Main(key) => drop(main.insert(key, value)),
                Place::Spill(hash) => {
                    let bucket = match buckets.entry(hash) {
                        Entry::Occupied(staged) => staged.into_mut(),
                        Entry::Vacant(slot) => slot.insert(self.bucket(f, &hash)?),
                    };
                    match value {
                        Some(value) => bucket.set(key, value),
                        None => drop(bucket.remove(key)),
                    }
                }
            }
        }
        self.commit(f, main, buckets)
    }

    /// Up to [`CHUNK`] entries of a keyspace after `after`: their keys (each
    /// bucket's keys for `spill`) and the last stored key.
    fn read_chunk(&self, spill: bool, after: Option<&[u8]>) -> Result<Chunk> {
        self.db.with(|f| {
            let keyspace = if spill { &f.spill } else { &f.main };
            let start = after.map_or(Bound::Unbounded, Bound::Excluded);
            let (mut keys, mut last, mut read) = (Vec::new(), None, 0);
            for guard in keyspace
                .range::<&[u8], _>((start, Bound::Unbounded))
                .take(CHUNK)
            {
                let (key, value) = guard.into_inner().map_err(|e| self.error("iterate", e))?;
                if spill {
                    keys.extend(
                        Bucket::decode(&value, &self.path)?
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

    /// Makes everything written durable.
    fn persist_all(&self, f: &Fjall) -> Result<()> {
        f.db.persist(PersistMode::SyncData)
            .map_err(|e| self.error("persist", e))
    }
}

/// The bytes a key's stripe is chosen by: where it is stored, so keys
/// sharing a spill bucket share a stripe.
fn stripe_key<'p>(at: &'p Place<'_>) -> &'p [u8] {
    match at {
        Place::Main(key) => key,
        Place::Spill(hash) => hash,
    }
}

/// A fjall error as a Folio error.
fn error(op: &'static str, path: &Path, e: ::fjall::Error) -> Error {
    use ::fjall::Error as F;
    match e {
        F::Io(e) | F::Storage(LsmError::Io(e)) => Error::io(op, path, e),
        F::Storage(
            e @ (LsmError::ChecksumMismatch { .. }
            | LsmError::Decompress(_)
            | LsmError::InvalidTag(_)
            | LsmError::InvalidTrailer
            | LsmError::InvalidHeader(_)
            | LsmError::Unrecoverable),
        ) => Error::corruption(path, None, format!("{e:?}")),
        e @ (F::JournalRecovery(_)
        | F::Decompress(_)
        | F::InvalidTrailer
        | F::InvalidTag(_)
        | F::Unrecoverable) => Error::corruption(path, None, format!("{e:?}")),
        F::Poisoned => Error::Poisoned {
            cause: "fjall refuses writes after a failed journal write or fsync".to_string(),
        },
        F::Locked => Error::Locked {
            path: path.to_path_buf(),
        },
        other => Error::Backend {
            engine: ENGINE_NAME,
            message: format!("{op}: {other:?}"),
        },
    }
}

impl KvStore for FjallStore {
    fn engine_name(&self) -> &'static str {
        ENGINE_NAME
    }

    fn max_value_bytes(&self) -> usize {
        self.config.max_value_bytes
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.config.check_put(key, value)?;
        self.db
            .with(|f| self.apply(f, std::iter::once((key, Some(value)))))
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.config.check_key(key)?;
        self.db.with(|f| {
            // Through a snapshot: `Keyspace::get` reads at the newest
            // sequence number and can see part of a batch being applied.
            let snapshot = f.db.snapshot();
            let read = |keyspace: &Keyspace, stored: &[u8]| {
                snapshot
                    .get(keyspace, stored)
                    .map_err(|e| self.error("get", e))
            };
            match place(key, MAX_KEY) {
                Place::Main(key) => Ok(read(&f.main, key)?.map(|v| v.to_vec())),
                Place::Spill(hash) => match read(&f.spill, &hash)? {
                    Some(bucket) => Ok(Bucket::decode(&bucket, &self.path)?
                        .get(key)
                        .map(<[u8]>::to_vec)),
                    None => Ok(None),
                },
            }
        })
    }

    fn delete(&self, key: &[u8]) -> Result<bool> {
        self.config.check_key(key)?;
        self.db.with(|f| {
            let at = place(key, MAX_KEY);
            let _stripe = self.stripes.lock(stripe_key(&at));
            let mut buckets = HashMap::new();
            let mut main = MainEffects::new();
            match at {
                Place::Main(key) => {
                    if f.main.get(key).map_err(|e| self.error("get", e))?.is_none() {
                        return Ok(false);
                    }
                    main.insert(key, None);
                }
                Place::Spill(hash) => {
                    let mut bucket = self.bucket(f, &hash)?;
                    if !bucket.remove(key) {
                        return Ok(false);
                    }
                    buckets.insert(hash, bucket);
                }
            }
            self.commit(f, main, buckets)?;
            Ok(true)
        })
    }

    fn write_batch(&self, batch: &WriteBatch) -> Result<()> {
        self.config.check_batch(batch)?;
        self.db.with(|f| {
            let ops = batch.ops().iter().map(|op| match op {
                BatchOp::Put { key, value } => (key.as_slice(), Some(value.as_slice())),
                BatchOp::Delete { key } => (key.as_slice(), None),
            });
            self.apply(f, ops)
        })
    }

    fn durability(&self) -> Durability {
        self.config.durability
    }

    fn flush(&self) -> Result<()> {
        self.db.with(|f| {
            if self.config.durability == Durability::Sync {
                return Ok(()); // every batch was persisted SyncData
            }
            self.persist_all(f)
        })
    }

    fn checkpoint(&self) -> Result<()> {
        self.db.with(|f| {
            self.persist_all(f)?;
            for keyspace in [&f.main, &f.spill] {
                keyspace
                    .rotate_memtable_and_wait()
                    .map_err(|e| self.error("flush memtable", e))?;
            }
            Ok(())
        })
    }

    fn len(&self) -> Result<u64> {
        self.db.with(|f| {
            let main = f.main.len().map_err(|e| self.error("len", e))?;
            let mut n = u64::try_from(main).unwrap_or(u64::MAX);
            for guard in f.spill.iter() {
                let bucket = guard.value().map_err(|e| self.error("iterate", e))?;
                n += Bucket::decode(&bucket, &self.path)?.len() as u64;
            }
            Ok(n)
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
        self.db.close(|f| self.persist_all(&f))
    }
}
