//! What WAL records carry: the operations of a put, a delete or a batch.
//! Layout in docs/FORMAT.md; integers little-endian.
//!
//! | kind | payload |
//! |---|---|
//! | put | key length u32, key, value length u32, value |
//! | delete | key length u32, key |
//! | batch | operation count u32, then per operation a tag u8 (1 put, 2 delete) and the put or delete payload |
//!
//! Decoding is strict — lengths bounded by the record, no trailing bytes —
//! because the bytes come from disk; the record's CRC has been checked
//! already, so a failure here means a bug or a forged file, reported as
//! corruption by the caller.

use super::RecordKind;
use crate::kv::{BatchOp, WriteBatch};

/// Why a payload could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadError(pub &'static str);

impl std::fmt::Display for PayloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed WAL payload: {}", self.0)
    }
}

impl std::error::Error for PayloadError {}

const TAG_PUT: u8 = 1;
const TAG_DELETE: u8 = 2;

/// Framing bytes per operation, at most: a batch's tag and two lengths.
const OP_FRAMING_BYTES: usize = 9;

/// Bytes a record of `ops` operations carrying `key_value_bytes` bytes of
/// keys and values takes in the log, at most (header and framing
/// included): what the checkpoint trigger counts, so that a stream of
/// small or empty keys and values adds up too.
pub fn record_bytes(ops: usize, key_value_bytes: usize) -> u64 {
    (super::HEADER_BYTES + 4 + OP_FRAMING_BYTES * ops + key_value_bytes) as u64
}

/// The payload of a put.
pub fn encode_put(key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + key.len() + value.len());
    put_bytes(&mut out, key);
    put_bytes(&mut out, value);
    out
}

/// The payload of a delete.
pub fn encode_delete(key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + key.len());
    put_bytes(&mut out, key);
    out
}

/// The payload of a batch.
pub fn encode_batch(batch: &WriteBatch) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + batch.payload_bytes() + OP_FRAMING_BYTES * batch.len());
    let count = u32::try_from(batch.len()).expect("batches are limited far below 4G operations");
    out.extend_from_slice(&count.to_le_bytes());
    for op in batch.ops() {
        match op {
            BatchOp::Put { key, value } => {
                out.push(TAG_PUT);
                put_bytes(&mut out, key);
                put_bytes(&mut out, value);
            }
            BatchOp::Delete { key } => {
                out.push(TAG_DELETE);
                put_bytes(&mut out, key);
            }
        }
    }
    out
}

/// Decodes the operations of a record of `kind`.
pub fn decode(kind: RecordKind, payload: &[u8]) -> Result<Vec<BatchOp>, PayloadError> {
    let mut r = Reader { bytes: payload };
    let ops = match kind {
        RecordKind::Put => vec![r.put()?],
        RecordKind::Delete => vec![BatchOp::Delete { key: r.bytes()? }],
        RecordKind::Batch => {
            let count = r.u32()? as usize;
            // Every operation takes at least 5 bytes: no allocation beyond
            // what the payload can hold.
            if count > r.bytes.len() / 5 {
                return Err(PayloadError("operation count larger than the payload"));
            }
            let mut ops = Vec::with_capacity(count);
            for _ in 0..count {
                ops.push(match r.u8()? {
                    TAG_PUT => r.put()?,
                    TAG_DELETE => BatchOp::Delete { key: r.bytes()? },
                    _ => return Err(PayloadError("unknown operation tag")),
                });
            }
            ops
        }
    };
    if !r.bytes.is_empty() {
        return Err(PayloadError("trailing bytes"));
    }
    Ok(ops)
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).expect("keys and values are under 4 GiB");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(bytes);
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], PayloadError> {
        if n > self.bytes.len() {
            return Err(PayloadError("length runs past the end"));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, PayloadError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, PayloadError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn bytes(&mut self) -> Result<Vec<u8>, PayloadError> {
        let n = self.u32()? as usize;
        Ok(self.take(n)?.to_vec())
    }

    fn put(&mut self) -> Result<BatchOp, PayloadError> {
        let key = self.bytes()?;
        let value = self.bytes()?;
        Ok(BatchOp::Put { key, value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let put = encode_put(b"k\0ey", b"");
        assert_eq!(
            decode(RecordKind::Put, &put).unwrap(),
            vec![BatchOp::Put {
                key: b"k\0ey".to_vec(),
                value: vec![]
            }]
        );
        let del = encode_delete(b"");
        assert_eq!(
            decode(RecordKind::Delete, &del).unwrap(),
            vec![BatchOp::Delete { key: vec![] }]
        );
        let mut batch = WriteBatch::new();
        batch
            .put(b"a".to_vec(), vec![7u8; 9000])
            .delete(b"b".to_vec())
            .put(Vec::new(), b"x".to_vec());
        assert_eq!(
            decode(RecordKind::Batch, &encode_batch(&batch)).unwrap(),
            batch.ops()
        );
        assert!(decode(RecordKind::Batch, &encode_batch(&WriteBatch::new()))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn every_truncation_and_extension_is_refused() {
        let mut batch = WriteBatch::new();
        batch
            .put(b"key".to_vec(), b"value".to_vec())
            .delete(b"gone".to_vec());
        let bytes = encode_batch(&batch);
        for cut in 0..bytes.len() {
            assert!(
                decode(RecordKind::Batch, &bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            decode(RecordKind::Batch, &longer),
            Err(PayloadError("trailing bytes"))
        );
        assert!(decode(RecordKind::Put, &encode_delete(b"k")).is_err());
    }

    #[test]
    fn a_huge_count_does_not_allocate() {
        let bytes = u32::MAX.to_le_bytes();
        assert!(decode(RecordKind::Batch, &bytes).is_err());
    }
}
