//! Any bytes as a memory-engine snapshot file: decoding never panics or
//! allocates; what it accepts has as many entries as its header says.
#![no_main]

use std::path::Path;

use folio::memory::snapshot::decode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut visited = 0u64;
    if let Ok(header) = decode(data, Path::new("snapshot"), &mut |_, _| visited += 1) {
        assert_eq!(header.entries, visited);
    }
});
