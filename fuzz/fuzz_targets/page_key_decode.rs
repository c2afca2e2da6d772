//! Any bytes as a page store key: decoding never panics, and what decodes
//! (page id and LSN) encodes back to the same bytes.
#![no_main]

use folio::page::key::{decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((id, lsn)) = decode(data) {
        assert_eq!(encode(id, lsn), data);
    }
});
