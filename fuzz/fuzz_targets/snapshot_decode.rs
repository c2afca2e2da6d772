//! Any bytes as a memory-engine snapshot file: decoding never panics; what
//! it accepts has as many entries as its header says; and the windowed
//! decoder of a file (what open uses) gives the same entries, or fails
//! where the in-memory decoder fails.
#![no_main]

use std::path::Path;

use folio::io::{MemVfs, Vfs};
use folio::memory::snapshot::{decode, decode_file};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("/s/snapshot");
    let mut from_bytes = Vec::new();
    let by_bytes = decode(data, path, &mut |k, v| from_bytes.push((k.to_vec(), v.to_vec())));
    if let Ok(header) = &by_bytes {
        assert_eq!(header.entries, from_bytes.len() as u64);
    }
    let vfs = MemVfs::new();
    vfs.create_dir_all(Path::new("/s")).unwrap();
    let file = vfs.open(path, true).unwrap();
    file.write_all_at(data, 0).unwrap();
    let mut from_file = Vec::new();
    let by_file = decode_file(&*file, path, &mut |k, v| from_file.push((k.to_vec(), v.to_vec())));
    match (&by_bytes, &by_file) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(_), Err(_)) => {}
        _ => panic!("the decoders disagree: {by_bytes:?} against {by_file:?}"),
    }
    assert_eq!(from_bytes, from_file, "entries visited before any error");
});
