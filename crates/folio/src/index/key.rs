//! Keys as the index stores them: short ones inside the map's entry, long
//! ones on the heap.
//!
//! Invariant: an `Inline` key's `len` is at most [`INLINE_KEY_BYTES`] and
//! only its first `len` bytes are the key; a key is `Heap` only when it is
//! longer than that. A key hashes and compares exactly as its bytes do, so
//! the map can be searched with a plain `&[u8]`.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};

/// Keys up to this many bytes are stored inside the map's entry, saving a
/// heap allocation and a dependent cache miss per lookup. It covers the page
/// store's keys (a 20-byte PostgreSQL buffer tag plus an 8-byte LSN).
pub const INLINE_KEY_BYTES: usize = 30;

/// A key as the index stores it: 32 bytes, so that a map entry (key and
/// [`super::Located`]) fits one 64-byte allocation.
#[derive(Clone)]
pub(super) enum IndexKey {
    Inline {
        len: u8,
        bytes: [u8; INLINE_KEY_BYTES],
    },
    Heap(Box<[u8]>),
}

const _: () = assert!(std::mem::size_of::<IndexKey>() == 32);

impl IndexKey {
    pub(super) fn new(key: &[u8]) -> Self {
        match u8::try_from(key.len()) {
            Ok(len) if key.len() <= INLINE_KEY_BYTES => {
                let mut bytes = [0; INLINE_KEY_BYTES];
                bytes[..key.len()].copy_from_slice(key);
                IndexKey::Inline { len, bytes }
            }
            _ => IndexKey::Heap(key.into()),
        }
    }

    pub(super) fn as_slice(&self) -> &[u8] {
        match self {
            IndexKey::Inline { len, bytes } => &bytes[..usize::from(*len)],
            IndexKey::Heap(bytes) => bytes,
        }
    }
}

impl Borrow<[u8]> for IndexKey {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Hash for IndexKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As `[u8]` hashes, so that `Borrow<[u8]>` lookups find the key.
        self.as_slice().hash(state);
    }
}

impl PartialEq for IndexKey {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for IndexKey {}

impl fmt::Debug for IndexKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_slice().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn short_keys_are_inline_and_long_ones_on_the_heap() {
        for len in [
            0,
            1,
            16,
            28,
            INLINE_KEY_BYTES,
            INLINE_KEY_BYTES + 1,
            255,
            256,
            10_000,
        ] {
            let key: Vec<u8> = (0..=u8::MAX).cycle().take(len).collect();
            let k = IndexKey::new(&key);
            let inline = matches!(k, IndexKey::Inline { .. });
            assert_eq!(inline, len <= INLINE_KEY_BYTES, "{len} bytes");
            assert_eq!(k.as_slice(), &key[..]);
        }
    }

    #[test]
    fn hashes_and_compares_as_its_bytes() {
        let state = foldhash::fast::RandomState::default();
        for key in [&b""[..], b"a", b"\0", &[0u8; 30], &[7u8; 31], &[1u8; 300]] {
            let k = IndexKey::new(key);
            assert_eq!(state.hash_one(&k), state.hash_one(key));
            assert_eq!(k, IndexKey::new(key));
        }
        // Trailing zero bytes are part of the key, not padding.
        assert_ne!(IndexKey::new(b"a"), IndexKey::new(b"a\0"));
        assert_ne!(IndexKey::new(b""), IndexKey::new(b"\0"));
    }
}
