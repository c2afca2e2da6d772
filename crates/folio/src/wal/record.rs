//! One WAL record: a 32-byte header and a payload. Layout in
//! docs/FORMAT.md; integers little-endian.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | payload length |
//! | 4 | 4 | CRC32C of bytes 0..4, 8..32 and the payload |
//! | 8 | 8 | LSN (1, 2, 3, ... across all WAL files) |
//! | 16 | 8 | synced: the highest LSN known durable when this was written |
//! | 24 | 4 | sequence number of the WAL file the record was written to |
//! | 28 | 1 | kind |
//! | 29 | 3 | zero |
//!
//! The file sequence makes records left over in a recycled file read as the
//! end of the log rather than as data; an all-zero header (preallocated
//! space) is the end of the log too. `synced` lets recovery tell a torn tail
//! (damage no later record vouches for) from damage in the middle (a later
//! valid record says the damaged LSN had been made durable).

use super::Lsn;

/// Bytes of a record header.
pub const HEADER_BYTES: usize = 32;
/// Offset of the kind byte in the header; never zero in a valid record.
pub const KIND_OFFSET: usize = 28;
/// Largest payload a record may carry (a write batch is one record).
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024 * 1024;

/// What a record says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordKind {
    /// A put; the payload encodes key and value.
    Put,
    /// A delete; the payload encodes the key.
    Delete,
    /// A write batch, applied atomically.
    Batch,
}

impl RecordKind {
    fn to_byte(self) -> u8 {
        match self {
            RecordKind::Put => 1,
            RecordKind::Delete => 2,
            RecordKind::Batch => 3,
        }
    }

    fn from_byte(b: u8) -> Option<Self> {
        match b {
            1 => Some(RecordKind::Put),
            2 => Some(RecordKind::Delete),
            3 => Some(RecordKind::Batch),
            _ => None,
        }
    }
}

/// A decoded record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its LSN.
    pub lsn: Lsn,
    /// The highest LSN known durable when it was written.
    pub synced: Lsn,
    /// Its kind.
    pub kind: RecordKind,
    /// Its payload.
    pub payload: Vec<u8>,
}

/// What [`decode`] found at an offset.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A valid record of this file, and the bytes it takes.
    Record(Record, usize),
    /// An all-zero header, or a record of an older file: the log ends here.
    End,
    /// The bytes end inside the record (a write cut short).
    Truncated,
    /// The bytes are not a valid record.
    Invalid(&'static str),
}

/// Appends the encoding of a record to `out`.
pub fn encode(
    out: &mut Vec<u8>,
    lsn: Lsn,
    synced: Lsn,
    file_seq: u32,
    kind: RecordKind,
    payload: &[u8],
) {
    assert!(
        payload.len() <= MAX_PAYLOAD_BYTES,
        "record payload over the limit"
    );
    let start = out.len();
    let len = u32::try_from(payload.len()).expect("payload under 256 MiB");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&[0u8; 4]); // CRC, below
    out.extend_from_slice(&lsn.0.to_le_bytes());
    out.extend_from_slice(&synced.0.to_le_bytes());
    out.extend_from_slice(&file_seq.to_le_bytes());
    out.extend_from_slice(&[kind.to_byte(), 0, 0, 0]);
    out.extend_from_slice(payload);
    let crc = checksum(&out[start..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// CRC32C of a record's bytes, the CRC field excluded.
fn checksum(record: &[u8]) -> u32 {
    let crc = crc32c::crc32c(&record[0..4]);
    crc32c::crc32c_append(crc, &record[8..])
}

/// Decodes the record at the start of `bytes`, expected to belong to WAL
/// file `file_seq`.
pub fn decode(bytes: &[u8], file_seq: u32) -> Decoded {
    if bytes.len() < HEADER_BYTES {
        return if bytes.iter().all(|&b| b == 0) {
            Decoded::End
        } else {
            Decoded::Truncated
        };
    }
    let header = &bytes[..HEADER_BYTES];
    if header.iter().all(|&b| b == 0) {
        return Decoded::End;
    }
    let len = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes")) as usize;
    if len > MAX_PAYLOAD_BYTES {
        return Decoded::Invalid("payload length over the limit");
    }
    let Some(record) = bytes.get(..HEADER_BYTES + len) else {
        return Decoded::Truncated;
    };
    let crc = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
    if crc != checksum(record) {
        return Decoded::Invalid("checksum mismatch");
    }
    let lsn = Lsn(u64::from_le_bytes(
        header[8..16].try_into().expect("8 bytes"),
    ));
    let synced = Lsn(u64::from_le_bytes(
        header[16..24].try_into().expect("8 bytes"),
    ));
    let seq = u32::from_le_bytes(header[24..28].try_into().expect("4 bytes"));
    if seq != file_seq {
        // A whole, valid record of an older file: recycled space.
        return Decoded::End;
    }
    let Some(kind) = RecordKind::from_byte(header[KIND_OFFSET]) else {
        return Decoded::Invalid("unknown record kind");
    };
    if header[29..32] != [0, 0, 0] || lsn.0 == 0 || lsn.0 == u64::MAX || synced >= lsn {
        return Decoded::Invalid("malformed header");
    }
    let payload = record[HEADER_BYTES..].to_vec();
    Decoded::Record(
        Record {
            lsn,
            synced,
            kind,
            payload,
        },
        HEADER_BYTES + len,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(lsn: u64, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode(
            &mut out,
            Lsn(lsn),
            Lsn(lsn - 1),
            seq,
            RecordKind::Put,
            payload,
        );
        out
    }

    #[test]
    fn round_trip() {
        let bytes = one(7, 3, b"hello");
        match decode(&bytes, 3) {
            Decoded::Record(r, n) => {
                assert_eq!(
                    (r.lsn, r.synced, r.kind, &r.payload[..], n),
                    (Lsn(7), Lsn(6), RecordKind::Put, &b"hello"[..], 37)
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_flipped_bit_is_invalid_or_ends_the_log() {
        let bytes = one(9, 1, b"some payload bytes");
        for i in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[i / 8] ^= 1 << (i % 8);
            assert!(
                !matches!(decode(&b, 1), Decoded::Record(..)),
                "flip of bit {i} went unnoticed"
            );
        }
    }

    #[test]
    fn every_truncation_is_truncated_and_zeros_end_the_log() {
        let bytes = one(9, 1, b"some payload bytes");
        for cut in 1..bytes.len() {
            assert_eq!(decode(&bytes[..cut], 1), Decoded::Truncated, "cut at {cut}");
        }
        assert_eq!(decode(&[0u8; 64], 1), Decoded::End);
        assert_eq!(decode(&[], 1), Decoded::End);
    }

    #[test]
    fn a_record_of_an_older_file_ends_the_log() {
        assert_eq!(decode(&one(5, 1, b"old"), 2), Decoded::End);
    }

    #[test]
    fn random_bytes_never_panic() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        for _ in 0..20_000 {
            let len = rng.gen_range(0..96);
            let mut b = vec![0u8; len];
            rng.fill(&mut b[..]);
            if len >= 4 && rng.gen_bool(0.5) {
                b[..4].copy_from_slice(&(rng.gen_range(0..64u32)).to_le_bytes());
            }
            let _ = decode(&b, rng.gen_range(0..3));
        }
    }
}
