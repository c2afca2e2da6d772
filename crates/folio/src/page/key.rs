//! Page-version keys: how a (page id, LSN) pair is spelled as a store key.
//!
//! A version's key is the page id followed by its LSN as 8 big-endian bytes,
//! so the versions of one page sort by LSN in any ordered backend. Page ids
//! are opaque bytes, 1 to [`MAX_PAGE_ID_BYTES`] long, which makes every page
//! key 9 to 72 bytes long. Keys shorter than 9 bytes are free for the page
//! store's own metadata ([`HORIZON_KEY`]): they can never collide with a
//! version.

use super::error::{PageError, PageResult};
use crate::config::Config;

/// Longest page id, in bytes (a PostgreSQL buffer tag is 20).
pub const MAX_PAGE_ID_BYTES: usize = 64;

/// Bytes of the LSN suffix of a version key.
pub const LSN_BYTES: usize = 8;

/// Longest version key: the longest page id and its LSN.
pub const MAX_VERSION_KEY_BYTES: usize = MAX_PAGE_ID_BYTES + LSN_BYTES;

/// The metadata key holding the vacuum horizon (7 bytes: never a page key).
pub const HORIZON_KEY: &[u8] = b"\0vacuum";

/// Bytes of the stored horizon's value (a big-endian LSN).
const HORIZON_VALUE_BYTES: usize = LSN_BYTES;

/// The config of the store under a page store, from `config`, the one
/// given for the keys beside it: the limits that a page store's own keys
/// must fit are raised to fit them, so a small `max_key_bytes` cannot
/// refuse a valid page id, nor a small `max_batch_bytes` every delete of
/// a vacuum (which would then never free a version). Page images stay
/// bound by `config`'s `max_value_bytes`, raised only to the stored
/// horizon's 8 bytes.
pub fn page_store_config(config: &Config) -> Config {
    let mut raised = config.clone();
    raised.max_key_bytes = raised.max_key_bytes.max(MAX_VERSION_KEY_BYTES);
    raised.max_value_bytes = raised.max_value_bytes.max(HORIZON_VALUE_BYTES);
    raised.max_batch_bytes = raised
        .max_batch_bytes
        .max(MAX_VERSION_KEY_BYTES.max(HORIZON_KEY.len() + HORIZON_VALUE_BYTES));
    raised
}

/// A log sequence number of the compute side: the position in the
/// database's log at which a page version was produced, or at which a
/// compute node reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PageLsn(pub u64);

impl std::fmt::Display for PageLsn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Checks that `id` is a valid page id.
pub fn check_page_id(id: &[u8]) -> PageResult<()> {
    if id.is_empty() || id.len() > MAX_PAGE_ID_BYTES {
        return Err(PageError::InvalidPageId { len: id.len() });
    }
    Ok(())
}

/// The store key of version `lsn` of page `id` (`id` must be valid).
pub fn encode(id: &[u8], lsn: PageLsn) -> Vec<u8> {
    let mut key = Vec::with_capacity(id.len() + LSN_BYTES);
    key.extend_from_slice(id);
    key.extend_from_slice(&lsn.0.to_be_bytes());
    key
}

/// Splits a store key into page id and LSN; `None` when `key` cannot be a
/// version key (its length is outside 9..=72).
pub fn decode(key: &[u8]) -> Option<(&[u8], PageLsn)> {
    if key.len() <= LSN_BYTES || key.len() > MAX_VERSION_KEY_BYTES {
        return None;
    }
    let (id, lsn) = key.split_at(key.len() - LSN_BYTES);
    let lsn: [u8; LSN_BYTES] = lsn.try_into().ok()?;
    Some((id, PageLsn(u64::from_be_bytes(lsn))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_sorts_by_lsn() {
        let a = encode(b"rel", PageLsn(255));
        let b = encode(b"rel", PageLsn(256));
        assert!(a < b, "big-endian LSNs sort numerically");
        assert_eq!(decode(&a), Some((&b"rel"[..], PageLsn(255))));
        let long = vec![9u8; MAX_PAGE_ID_BYTES];
        assert_eq!(
            decode(&encode(&long, PageLsn(u64::MAX))),
            Some((&long[..], PageLsn(u64::MAX)))
        );
    }

    #[test]
    fn rejects_what_cannot_be_a_version_key() {
        assert_eq!(decode(HORIZON_KEY), None);
        assert_eq!(decode(&[0u8; LSN_BYTES]), None);
        assert_eq!(decode(&[0u8; MAX_PAGE_ID_BYTES + LSN_BYTES + 1]), None);
        assert!(check_page_id(b"").is_err());
        assert!(check_page_id(&[1u8; MAX_PAGE_ID_BYTES + 1]).is_err());
        assert!(check_page_id(&[1u8; MAX_PAGE_ID_BYTES]).is_ok());
    }
}
