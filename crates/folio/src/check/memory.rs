//! `folio check` of a memory store: the newest snapshot, whose every entry
//! carries a CRC32C, and the WAL after it. An older snapshot cannot stand
//! in for a damaged newest one (the WAL before the newest may be retired),
//! so only the newest is read.

use std::collections::HashSet;
use std::path::Path;

use super::{show_key, verify_wal, CheckReport};
use crate::error::Result;
use crate::io::Vfs;
pub(super) use crate::memory::snapshot::newest_snapshot;
use crate::memory::snapshot::{self, snapshot_file_name};

/// Verifies the closed memory store in `dir` whose newest snapshot is
/// `generation`.
pub(super) fn check(vfs: &dyn Vfs, dir: &Path, generation: u64) -> Result<CheckReport> {
    let _lock = vfs.lock_dir(dir)?;
    let mut report = CheckReport::default();
    let path = dir.join(snapshot_file_name(generation));
    let file = match vfs.open(&path, false) {
        Ok(file) => file,
        Err(e) => return Ok(report.with_problem(e)),
    };
    let mut seen = HashSet::new();
    let mut twice = Vec::new();
    let (mut keys, mut value_bytes) = (0u64, 0u64);
    let decoded = snapshot::decode_file(&*file, &path, &mut |key, value| {
        if !seen.insert(key.to_vec()) {
            twice.push(show_key(key));
        }
        keys += 1;
        value_bytes += value.len() as u64;
    });
    for key in twice {
        report
            .problems
            .push(format!("key {key} appears twice in the snapshot"));
    }
    let header = match decoded {
        Ok(header) => header,
        Err(e) => return Ok(report.with_problem(e)),
    };
    (report.keys_checked, report.bytes_checked) = (keys, value_bytes);
    if header.generation != generation {
        report.problems.push(format!(
            "{}: the snapshot says generation {}",
            path.display(),
            header.generation
        ));
    }
    verify_wal(vfs, dir, header.lsn, header.wal_seq, &mut report);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use crate::io::MemVfs;
    use crate::{check_with_vfs, Config, KvStore, MemoryStore};

    #[test]
    fn a_sound_memory_store_passes_and_a_damaged_snapshot_is_reported() {
        let vfs = MemVfs::new();
        let dir = Path::new("/m");
        let store =
            MemoryStore::open_with_vfs(Arc::new(vfs.clone()), dir, &Config::default()).unwrap();
        store.put(b"a", &[1u8; 300]).unwrap();
        store.put(b"b", b"tiny").unwrap();
        store.close().unwrap();
        drop(store);
        let report = check_with_vfs(Arc::new(vfs.clone()), dir).unwrap();
        assert!(report.is_sound(), "{:?}", report.problems);
        assert_eq!((report.keys_checked, report.bytes_checked), (2, 304));

        let names = crate::io::Vfs::list(&vfs, dir).unwrap();
        let generation = super::newest_snapshot(&names).expect("a snapshot");
        let path = dir.join(super::snapshot_file_name(generation));
        vfs.with_file_bytes(&path, |b| {
            // The last value's last byte, just before its entry's CRC.
            let at = b.len() - 5;
            b[at] ^= 0xff;
        })
        .unwrap();
        let report = check_with_vfs(Arc::new(vfs), dir).unwrap();
        assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
        assert!(
            report.problems[0].contains("checksum mismatch"),
            "{:?}",
            report.problems
        );
    }

    #[test]
    fn a_directory_with_no_store_cannot_be_checked() {
        let vfs = MemVfs::new();
        crate::io::Vfs::create_dir_all(&vfs, Path::new("/empty")).unwrap();
        let err = check_with_vfs(Arc::new(vfs), Path::new("/empty")).expect_err("no store");
        assert!(err.to_string().contains("no store here"), "{err}");
    }
}
