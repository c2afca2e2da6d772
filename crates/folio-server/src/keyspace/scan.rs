//! `SCAN`'s cursor: a position in the 64-bit space of a seeded hash of the
//! keys.
//!
//! The engine's hash table has no stable order to resume from, so each call
//! visits every key, keeps those whose hash is at or past the cursor, and
//! returns the ones with the smallest hashes; the next cursor is the hash
//! after the last one returned. The hash ranges of successive calls do not
//! overlap and together cover the space, so a key present for the whole
//! iteration is returned exactly once (Redis promises at least once), and a
//! key with the same hash as the last one returned is returned with it.
//!
//! Cost: each call reads the whole key set, so a call returns at least
//! 1/[`MIN_PASSES_FRACTION`] of it whatever `COUNT` says (`COUNT` is a hint
//! in Redis too): a full iteration costs at most that many passes over the
//! keys rather than one per `COUNT` keys.

use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::{Keyspace, Result};

/// A call returns at least 1/this of the keys.
pub(crate) const MIN_PASSES_FRACTION: u64 = 64;

/// One page of a `SCAN` iteration.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ScanPage {
    /// Where the next call starts; 0 when the iteration is over.
    pub next_cursor: u64,
    /// Keys of this page, expired ones left out.
    pub keys: Vec<Vec<u8>>,
}

/// The page of `keyspace` starting at hash `cursor` (0: the beginning).
pub(super) fn scan(
    keyspace: &Keyspace,
    cursor: u64,
    count: usize,
    now_ms: u64,
) -> Result<ScanPage> {
    let total = keyspace.store.len()?;
    let wanted = usize::try_from(total.div_ceil(MIN_PASSES_FRACTION))
        .unwrap_or(usize::MAX)
        .max(count)
        .max(1);
    let mut candidates: Vec<(u64, Vec<u8>)> = Vec::new();
    keyspace.store.for_each_key(&mut |key| {
        let hash = xxh3_64_with_seed(key, keyspace.scan_seed);
        if hash >= cursor {
            candidates.push((hash, key.to_vec()));
        }
        std::ops::ControlFlow::Continue(())
    })?;
    let next_cursor = if candidates.len() > wanted {
        let (_, boundary, _) = candidates.select_nth_unstable_by_key(wanted - 1, |(h, _)| *h);
        let last = boundary.0;
        candidates.retain(|(hash, _)| *hash <= last);
        // Past u64::MAX there is nothing left: the iteration is over.
        last.checked_add(1).unwrap_or(0)
    } else {
        0
    };
    let keys = candidates
        .into_iter()
        .filter(|(_, key)| !keyspace.expiries.is_key_expired(key, now_ms))
        .map(|(_, key)| key)
        .collect();
    Ok(ScanPage { next_cursor, keys })
}
