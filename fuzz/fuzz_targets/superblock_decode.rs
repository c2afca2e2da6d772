//! Any bytes as a superblock copy: decoding never panics, and what it
//! accepts encodes back to the same bytes.
#![no_main]

use std::path::Path;

use folio::store::Superblock;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(sb)) = Superblock::decode(data, Path::new("SUPERBLOCK")) {
        assert_eq!(&sb.encode()[..], &data[..sb.encode().len()]);
    }
});
