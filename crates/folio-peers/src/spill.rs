//! Keys an engine cannot hold, kept in a second table under a hash.
//!
//! Folio's contract takes any key from empty up to `max_key_bytes` (4 KiB
//! by default, at most 64 KiB). LMDB refuses empty keys and keys over 511
//! bytes (its compiled-in `MDB_MAXKEYSIZE`); fjall panics on an empty key
//! and writes a key's length as 16 bits. Such a key is stored in the
//! engine's *spill* table under the 16-byte xxh3-128 hash of the key, in a
//! bucket holding every (key, value) with that hash — one, unless two keys
//! collide, which the bucket then resolves. Keys the engine can hold go to
//! its main table unchanged, so the common path costs nothing.
//!
//! A bucket's bytes: for each entry, the key's length (u32, little-endian),
//! the key, the value's length (u32, little-endian), the value. A bucket
//! that does not parse is `Corruption`. An empty bucket is removed, never
//! stored.

use std::path::Path;

use folio::{Error, Result};

/// Bytes of a spill table's key.
pub(crate) const HASH_BYTES: usize = 16;

/// Where a key is stored.
pub(crate) enum Place<'k> {
    /// In the main table, as itself.
    Main(&'k [u8]),
    /// In the spill table, in the bucket with this key.
    Spill([u8; HASH_BYTES]),
}

/// The place of `key` for an engine holding keys of 1 to `max` bytes.
pub(crate) fn place(key: &[u8], max: usize) -> Place<'_> {
    if !key.is_empty() && key.len() <= max {
        Place::Main(key)
    } else {
        Place::Spill(xxhash_rust::xxh3::xxh3_128(key).to_be_bytes())
    }
}

/// The entries of one spill bucket.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Bucket {
    entries: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Bucket {
    /// Parses a stored bucket of the store at `path`.
    pub(crate) fn decode(mut bytes: &[u8], path: &Path) -> Result<Self> {
        let mut entries = Vec::new();
        while !bytes.is_empty() {
            let key = take_field(&mut bytes).ok_or_else(|| malformed(path))?;
            let value = take_field(&mut bytes).ok_or_else(|| malformed(path))?;
            entries.push((key.to_vec(), value.to_vec()));
        }
        if entries.is_empty() {
            return Err(malformed(path));
        }
        Ok(Bucket { entries })
    }

    /// The stored form; `None` for an empty bucket (remove it).
    pub(crate) fn encode(&self) -> Result<Option<Vec<u8>>> {
        if self.entries.is_empty() {
            return Ok(None);
        }
        let mut out = Vec::new();
        for (key, value) in &self.entries {
            put_field(&mut out, key)?;
            put_field(&mut out, value)?;
        }
        Ok(Some(out))
    }

    /// The value of `key`, if the bucket holds it.
    pub(crate) fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
    }

    /// Inserts or overwrites `key`.
    pub(crate) fn set(&mut self, key: &[u8], value: &[u8]) {
        match self.entries.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value.to_vec(),
            None => self.entries.push((key.to_vec(), value.to_vec())),
        }
    }

    /// Removes `key`; whether it was there.
    pub(crate) fn remove(&mut self, key: &[u8]) -> bool {
        let before = self.entries.len();
        self.entries.retain(|(k, _)| k != key);
        self.entries.len() != before
    }

    /// The keys held.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &[u8]> {
        self.entries.iter().map(|(k, _)| k.as_slice())
    }

    /// Number of keys held.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// Splits one length-prefixed field off the front of `bytes`.
fn take_field<'b>(bytes: &mut &'b [u8]) -> Option<&'b [u8]> {
    let (len, rest) = bytes.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_le_bytes(*len)).ok()?;
    if rest.len() < len {
        return None;
    }
    let (field, rest) = rest.split_at(len);
    *bytes = rest;
    Some(field)
}

fn put_field(out: &mut Vec<u8>, field: &[u8]) -> Result<()> {
    // Folio's limits keep keys and values far below 4 GiB; refuse rather
    // than write a wrong length if that ever changes.
    let len = u32::try_from(field.len()).map_err(|_| Error::ValueTooLarge {
        len: field.len(),
        max: u32::MAX as usize,
    })?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(field);
    Ok(())
}

fn malformed(path: &Path) -> Error {
    Error::corruption(path, None, "a spilled key's bucket does not parse")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_round_trip_and_resolve_collisions() {
        let path = Path::new("/store");
        let mut bucket = Bucket::default();
        assert_eq!(bucket.encode().unwrap(), None);
        bucket.set(b"", b"empty key");
        bucket.set(&[7u8; 600], b"");
        bucket.set(b"", b"again");
        assert_eq!(bucket.len(), 2);
        let bytes = bucket.encode().unwrap().unwrap();
        let back = Bucket::decode(&bytes, path).unwrap();
        assert_eq!(back, bucket);
        assert_eq!(back.get(b""), Some(&b"again"[..]));
        assert_eq!(back.get(&[7u8; 600]), Some(&b""[..]));
        assert_eq!(back.get(b"x"), None);
        let mut back = back;
        assert!(back.remove(b""));
        assert!(!back.remove(b""));
        assert_eq!(back.keys().collect::<Vec<_>>(), vec![&[7u8; 600][..]]);
    }

    #[test]
    fn damaged_buckets_are_corruption() {
        let path = Path::new("/store");
        let mut bucket = Bucket::default();
        bucket.set(b"key", b"value");
        let bytes = bucket.encode().unwrap().unwrap();
        for cut in [0, 3, 5, bytes.len() - 1] {
            let err = Bucket::decode(&bytes[..cut], path).unwrap_err();
            assert!(err.is_corruption(), "cut at {cut}: {err}");
        }
    }

    #[test]
    fn only_keys_the_engine_cannot_hold_spill() {
        assert!(matches!(place(b"k", 511), Place::Main(b"k")));
        assert!(matches!(place(&[1; 511], 511), Place::Main(_)));
        assert!(matches!(place(b"", 511), Place::Spill(_)));
        assert!(matches!(place(&[1; 512], 511), Place::Spill(_)));
    }
}
