//! Any bytes as a checkpoint file: decoding never panics or allocates
//! wildly; what it accepts has values that fit their slots' bounds.
#![no_main]

use std::path::Path;

use folio::store::decode_checkpoint;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(cp) = decode_checkpoint(data, Path::new("checkpoint")) {
        for (_, entry) in &cp.entries {
            assert!(entry.slot.is_some() || entry.len == 0);
        }
    }
});
