//! Any bytes as a segment header: decoding never panics, and what it
//! accepts encodes back to the same bytes.
#![no_main]

use std::path::Path;

use folio::disk::SegmentHeader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = SegmentHeader::decode(data, Path::new("segment")) {
        assert_eq!(&h.encode()[..], &data[..h.encode().len()]);
    }
});
