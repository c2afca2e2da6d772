//! Segment file header (page 0 of every segment file). Layout in
//! docs/FORMAT.md; all integers little-endian.

use std::path::Path;

use super::{ClassId, SegmentId};
use crate::error::{Error, Result};

/// Magic at the start of every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"FOLIOSEG";
/// Format version of segment files.
pub const SEGMENT_FORMAT: u32 = 1;
/// Bytes of the header that carry data (the rest of page 0 is zero).
pub const SEGMENT_HEADER_BYTES: usize = 32;

/// The decoded header of a segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// The segment's id (also in its file name).
    pub id: SegmentId,
    /// Page size of the store.
    pub page_bytes: u32,
    /// Size class of every slot in the segment.
    pub class: ClassId,
    /// Slot size of that class, as a cross-check.
    pub slot_bytes: u32,
}

/// The file name of segment `id`.
pub fn segment_file_name(id: SegmentId) -> String {
    format!("segment-{:08x}.folio", id.0)
}

impl SegmentHeader {
    /// Encodes the header into its first `SEGMENT_HEADER_BYTES` bytes.
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_BYTES] {
        let mut b = [0u8; SEGMENT_HEADER_BYTES];
        b[0..8].copy_from_slice(&SEGMENT_MAGIC);
        b[8..12].copy_from_slice(&SEGMENT_FORMAT.to_le_bytes());
        b[12..16].copy_from_slice(&self.id.0.to_le_bytes());
        b[16..20].copy_from_slice(&self.page_bytes.to_le_bytes());
        b[20..22].copy_from_slice(&self.class.0.to_le_bytes());
        b[24..28].copy_from_slice(&self.slot_bytes.to_le_bytes());
        let crc = crc32c::crc32c(&b[..28]);
        b[28..32].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes and verifies a header read from `path`.
    pub fn decode(b: &[u8], path: &Path) -> Result<Self> {
        let bad = |what: &str| Error::corruption(path, Some(0), format!("segment header: {what}"));
        if b.len() < SEGMENT_HEADER_BYTES {
            return Err(bad("file shorter than its header"));
        }
        if b[0..8] != SEGMENT_MAGIC {
            return Err(bad("bad magic"));
        }
        let crc = u32::from_le_bytes(b[28..32].try_into().expect("4 bytes"));
        if crc != crc32c::crc32c(&b[..28]) {
            return Err(bad("checksum mismatch"));
        }
        if b[22..24] != [0, 0] {
            return Err(bad("reserved bytes are not zero"));
        }
        let format = u32::from_le_bytes(b[8..12].try_into().expect("4 bytes"));
        if format != SEGMENT_FORMAT {
            return Err(Error::UnsupportedFormat {
                path: path.to_path_buf(),
                found: format,
                supported: SEGMENT_FORMAT,
            });
        }
        Ok(SegmentHeader {
            id: SegmentId(u32::from_le_bytes(b[12..16].try_into().expect("4 bytes"))),
            page_bytes: u32::from_le_bytes(b[16..20].try_into().expect("4 bytes")),
            class: ClassId(u16::from_le_bytes(b[20..22].try_into().expect("2 bytes"))),
            slot_bytes: u32::from_le_bytes(b[24..28].try_into().expect("4 bytes")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_flip_detection() {
        let h = SegmentHeader {
            id: SegmentId(7),
            page_bytes: 8192,
            class: ClassId(3),
            slot_bytes: 64,
        };
        let bytes = h.encode();
        assert_eq!(SegmentHeader::decode(&bytes, Path::new("s")).unwrap(), h);
        for i in 0..SEGMENT_HEADER_BYTES {
            let mut b = bytes;
            b[i] ^= 0x10;
            assert!(
                SegmentHeader::decode(&b, Path::new("s")).is_err(),
                "flip at {i}"
            );
        }
    }
}
