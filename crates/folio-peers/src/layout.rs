//! Which files mark a directory as an engine's store.
//!
//! Every engine keeps its store in a directory of its own, and each leaves
//! a file there from the moment the store is created that no other engine
//! writes. Opening a directory that holds another engine's mark is refused
//! with an error naming that engine, before anything is written: an engine
//! that created its files next to another's would leave a directory
//! neither can use cleanly. The marks are known whatever features the
//! build has, so a build without RocksDB still refuses a RocksDB directory.

use std::io;
use std::path::Path;

use folio::{Error, Result};

/// How an engine's mark is recognised among a directory's entries.
enum Mark {
    /// An entry with exactly this name.
    Named(&'static str),
    /// An entry whose name starts with this.
    Prefix(&'static str),
}

/// Every engine's mark: Folio's own and the peers'.
const MARKS: &[(&str, Mark)] = &[
    ("paged", Mark::Named(folio::store::SUPERBLOCK_FILE)),
    ("memory", Mark::Prefix(folio::memory::SNAPSHOT_PREFIX)),
    ("rocksdb", Mark::Named("CURRENT")),
    ("redb", Mark::Named(REDB_FILE)),
    ("lmdb", Mark::Named("data.mdb")),
    ("fjall", Mark::Named("keyspaces")),
];

/// The redb adapter's database file, inside the store's directory.
pub const REDB_FILE: &str = "data.redb";

impl Mark {
    fn matches(&self, name: &str) -> bool {
        match self {
            Mark::Named(n) => name == *n,
            Mark::Prefix(p) => name.starts_with(p),
        }
    }
}

/// Refuses `path` when it holds another engine's store: `InvalidConfig`
/// on field `engine`, naming the engine whose file was found. A missing
/// directory is fine (the engine creates it).
pub fn refuse_foreign(engine: &str, path: &Path) -> Result<()> {
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("list", path, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list", path, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let owner = MARKS
            .iter()
            .find(|(owner, mark)| *owner != engine && mark.matches(&name));
        if let Some((owner, _)) = owner {
            return Err(Error::InvalidConfig {
                field: "engine",
                reason: format!(
                    "{} holds a store of another engine ({name}); open it with engine {owner:?}",
                    path.display()
                ),
            });
        }
    }
    Ok(())
}

/// Bytes of every file under `path`, for [`folio::Stats::data_file_bytes`];
/// 0 for what cannot be read (a file removed while counting).
pub fn store_bytes(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(m) if m.is_dir() => store_bytes(&entry.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_foreign_mark_is_refused_and_names_its_engine() {
        let dir = tempfile::tempdir().unwrap();
        refuse_foreign("redb", dir.path()).unwrap();
        refuse_foreign("redb", &dir.path().join("absent")).unwrap();
        std::fs::write(dir.path().join("CURRENT"), b"MANIFEST-000001\n").unwrap();
        refuse_foreign("rocksdb", dir.path()).unwrap();
        let err = refuse_foreign("redb", dir.path()).unwrap_err().to_string();
        assert!(err.contains("\"rocksdb\""), "{err}");
        std::fs::remove_file(dir.path().join("CURRENT")).unwrap();
        std::fs::write(dir.path().join("snapshot-00000001.dat"), b"").unwrap();
        let err = refuse_foreign("paged", dir.path()).unwrap_err().to_string();
        assert!(err.contains("\"memory\""), "{err}");
        assert_eq!(store_bytes(dir.path()), 0);
    }
}
