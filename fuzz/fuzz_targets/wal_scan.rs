//! Any bytes as a WAL file: scanning never panics, and every record it
//! returns has the LSN after the previous one.
#![no_main]

use std::path::Path;

use folio::wal::{scan_file, Lsn};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&seq, bytes)) = data.split_first() else { return };
    if let Ok(scan) = scan_file(bytes, u32::from(seq % 4), None, Path::new("wal")) {
        for pair in scan.records.windows(2) {
            assert_eq!(pair[1].lsn, Lsn(pair[0].lsn.0 + 1));
        }
        assert!(scan.valid_bytes as usize <= bytes.len());
    }
});
