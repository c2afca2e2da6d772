//! The stored form of a value: a one-byte tag, the expiry deadline when the
//! key has one, then the client's bytes.
//!
//! | tag    | then                                   |
//! |--------|----------------------------------------|
//! | `0x00` | the value                              |
//! | `0x01` | deadline (u64 BE, Unix ms), the value  |
//!
//! The deadline lives in the value so that a write and its expiry reach the
//! disk in one engine write: a crash never leaves a value with someone
//! else's deadline. Any other tag, or a value too short for its header, is
//! not ours and decodes to an error, never to wrong bytes.

use bytes::Bytes;

/// Tag of a value with no expiry.
const TAG_PLAIN: u8 = 0x00;
/// Tag of a value preceded by its deadline.
const TAG_EXPIRING: u8 = 0x01;
/// Bytes of the deadline.
const DEADLINE_BYTES: usize = 8;
/// The longest header: tag and deadline.
pub(crate) const MAX_HEADER_BYTES: usize = 1 + DEADLINE_BYTES;

/// A decoded value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stored {
    /// The client's bytes.
    pub value: Bytes,
    /// Unix time in ms after which the key is gone; `None`: never.
    pub deadline_ms: Option<u64>,
}

/// Why stored bytes are not a value of ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// The value is empty: not even a tag.
    Empty,
    /// The first byte is no tag this server writes.
    UnknownTag(u8),
    /// The header says there is a deadline but the bytes end first.
    Truncated {
        /// Bytes stored.
        len: usize,
    },
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Empty => f.write_str("the stored value is empty (no format tag)"),
            DecodeError::UnknownTag(tag) => write!(
                f,
                "the stored value has format tag {tag:#04x}; this server writes 0x00 and 0x01"
            ),
            DecodeError::Truncated { len } => write!(
                f,
                "the stored value is {len} bytes, shorter than its {MAX_HEADER_BYTES}-byte header"
            ),
        }
    }
}

/// Length of the header `encode` puts before a value with this deadline.
pub(crate) fn header_len(deadline_ms: Option<u64>) -> usize {
    match deadline_ms {
        None => 1,
        Some(_) => MAX_HEADER_BYTES,
    }
}

/// The stored form of `value` with `deadline_ms`.
pub(crate) fn encode(value: &[u8], deadline_ms: Option<u64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(header_len(deadline_ms) + value.len());
    match deadline_ms {
        None => out.push(TAG_PLAIN),
        Some(deadline) => {
            out.push(TAG_EXPIRING);
            out.extend_from_slice(&deadline.to_be_bytes());
        }
    }
    out.extend_from_slice(value);
    out
}

/// Decodes stored bytes without copying the value.
pub(crate) fn decode(stored: Vec<u8>) -> Result<Stored, DecodeError> {
    let deadline_ms = deadline(&stored)?;
    let value = Bytes::from(stored).slice(header_len(deadline_ms)..);
    Ok(Stored { value, deadline_ms })
}

/// The deadline in stored bytes, reading only the header.
pub(crate) fn deadline(stored: &[u8]) -> Result<Option<u64>, DecodeError> {
    match stored.first() {
        None => Err(DecodeError::Empty),
        Some(&TAG_PLAIN) => Ok(None),
        Some(&TAG_EXPIRING) => {
            let bytes = stored
                .get(1..MAX_HEADER_BYTES)
                .ok_or(DecodeError::Truncated { len: stored.len() })?;
            let mut deadline = [0u8; DEADLINE_BYTES];
            deadline.copy_from_slice(bytes);
            Ok(Some(u64::from_be_bytes(deadline)))
        }
        Some(&tag) => Err(DecodeError::UnknownTag(tag)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_and_without_deadline() {
        for deadline in [None, Some(0), Some(1_700_000_000_000), Some(u64::MAX)] {
            for value in [&b""[..], b"v", &[0u8, 1, 0xff][..]] {
                let stored = encode(value, deadline);
                assert_eq!(stored.len(), header_len(deadline) + value.len());
                let decoded = decode(stored).unwrap();
                assert_eq!(decoded.value, value);
                assert_eq!(decoded.deadline_ms, deadline);
            }
        }
    }

    #[test]
    fn refuses_what_it_did_not_write() {
        assert_eq!(decode(vec![]), Err(DecodeError::Empty));
        assert_eq!(
            decode(b"hello".to_vec()),
            Err(DecodeError::UnknownTag(b'h'))
        );
        assert_eq!(
            decode(vec![TAG_EXPIRING, 0, 0, 0]),
            Err(DecodeError::Truncated { len: 4 })
        );
        assert!(DecodeError::UnknownTag(7).to_string().contains("0x07"));
    }

    proptest::proptest! {
        /// Any stored bytes (the engine's, read back from disk): decoding
        /// never panics, and what it accepts is exactly what `encode`
        /// writes for the value and deadline it found.
        #[test]
        fn any_stored_bytes_decode_to_what_encodes_them_or_are_refused(
            stored in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)
        ) {
            match decode(stored.clone()) {
                Ok(found) => {
                    proptest::prop_assert_eq!(encode(&found.value, found.deadline_ms), stored.clone());
                    proptest::prop_assert_eq!(deadline(&stored), Ok(found.deadline_ms));
                }
                Err(e) => proptest::prop_assert_eq!(deadline(&stored), Err(e)),
            }
        }
    }
}
