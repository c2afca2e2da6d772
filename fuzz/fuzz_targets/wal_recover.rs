//! Any bytes as one to three WAL files on an in-memory file system,
//! recovered after a checkpoint at a fuzzed LSN: recovery never panics;
//! the records it returns are the ones after the checkpoint, with
//! consecutive LSNs, and `next_lsn` follows them; sealing what it found
//! (truncating a torn file, setting aside the files past it) and
//! recovering again gives the same records and no tear.
#![no_main]

use std::path::Path;

use folio::io::{MemVfs, Vfs};
use folio::wal::{recover, seal, wal_file_name, Lsn};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [after, files, first_seq, body @ ..] = data else { return };
    let after = Lsn(u64::from(after % 16));
    let files = 1 + usize::from(files % 3);
    let first_seq = u32::from(first_seq % 2);
    let dir = Path::new("/wal");
    let vfs = MemVfs::new();
    vfs.create_dir_all(dir).unwrap();
    let chunk = body.len().div_ceil(files).max(1);
    for (i, bytes) in body.chunks(chunk).enumerate() {
        let seq = first_seq + u32::try_from(i).unwrap();
        let file = vfs.open(&dir.join(wal_file_name(seq)), true).unwrap();
        file.write_all_at(bytes, 0).unwrap();
    }
    let Ok(found) = recover(&vfs, dir, after, first_seq) else { return };
    let lsns: Vec<u64> = found.records.iter().map(|r| r.lsn.0).collect();
    for (i, &lsn) in lsns.iter().enumerate() {
        assert_eq!(lsn, after.0 + 1 + u64::try_from(i).unwrap(), "{lsns:?}");
    }
    assert_eq!(found.next_lsn.0, after.0 + 1 + u64::try_from(lsns.len()).unwrap());
    seal(&vfs, dir, &found).unwrap();
    let again = recover(&vfs, dir, after, first_seq).expect("a sealed log recovers");
    let again_lsns: Vec<u64> = again.records.iter().map(|r| r.lsn.0).collect();
    assert_eq!(again_lsns, lsns);
    assert!(again.torn.is_none(), "{:?}", again.torn);
    for (a, b) in found.records.iter().zip(&again.records) {
        assert_eq!(a.payload, b.payload);
    }
});
