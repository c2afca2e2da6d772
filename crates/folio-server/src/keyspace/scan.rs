//! `SCAN`'s cursor: a position in the 63-bit space of a seeded hash of the
//! keys (63 bits, so that every cursor fits the signed 64-bit integer many
//! client libraries parse cursors into).
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

/// Most key bytes one page holds (each key counted with
/// [`KEY_OVERHEAD_BYTES`]); a page over it ends early, at a hash boundary.
pub(crate) const MAX_PAGE_BYTES: usize = 256 * 1024 * 1024;

/// What a listed key costs besides its bytes (its reply and allocation).
pub(crate) const KEY_OVERHEAD_BYTES: usize = 64;

/// The position of `key` in the cursor space.
fn position(key: &[u8], seed: u64) -> u64 {
    xxh3_64_with_seed(key, seed) >> 1
}

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
        let hash = position(key, keyspace.scan_seed);
        if hash >= cursor {
            candidates.push((hash, key.to_vec()));
        }
        std::ops::ControlFlow::Continue(())
    })?;
    let mut next_cursor = if candidates.len() > wanted {
        let (_, boundary, _) = candidates.select_nth_unstable_by_key(wanted - 1, |(h, _)| *h);
        let last = boundary.0;
        candidates.retain(|(hash, _)| *hash <= last);
        // Positions are below 2^63, so `last + 1` cannot overflow.
        last + 1
    } else {
        0
    };
    if let Some(cut) = cut_at_page_limit(&mut candidates, MAX_PAGE_BYTES) {
        next_cursor = cut;
    }
    let keys = candidates
        .into_iter()
        .filter(|(_, key)| !keyspace.expiries.is_key_expired(key, now_ms))
        .map(|(_, key)| key)
        .collect();
    Ok(ScanPage { next_cursor, keys })
}

/// Keeps the page within `max_bytes`: sorts it by position and, when it is
/// over, drops the tail from the first position that does not fit (all
/// keys of one position stay together) and returns that position as the
/// next cursor.
fn cut_at_page_limit(candidates: &mut Vec<(u64, Vec<u8>)>, max_bytes: usize) -> Option<u64> {
    let bytes: usize = candidates
        .iter()
        .map(|(_, k)| k.len() + KEY_OVERHEAD_BYTES)
        .sum();
    if bytes <= max_bytes {
        return None;
    }
    candidates.sort_unstable_by_key(|(hash, _)| *hash);
    let mut total = 0usize;
    let mut end = 0usize;
    while end < candidates.len() {
        let hash = candidates[end].0;
        let group_end = end
            + candidates[end..]
                .iter()
                .take_while(|(h, _)| *h == hash)
                .count();
        let group: usize = candidates[end..group_end]
            .iter()
            .map(|(_, k)| k.len() + KEY_OVERHEAD_BYTES)
            .sum();
        // The first group always goes, so the iteration moves on.
        if end > 0 && total + group > max_bytes {
            break;
        }
        total += group;
        end = group_end;
    }
    let next = candidates.get(end).map(|(hash, _)| *hash)?;
    candidates.truncate(end);
    Some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_over_the_limit_ends_at_a_position_boundary() {
        let key = |hash: u64, byte: u8| (hash, vec![byte; 36]); // 100 bytes each
        let mut page = vec![key(9, 1), key(3, 2), key(5, 3), key(5, 4), key(7, 5)];
        assert_eq!(cut_at_page_limit(&mut page, 1000), None, "under the limit");
        assert_eq!(
            cut_at_page_limit(&mut page, 250),
            Some(5),
            "the 5s go together"
        );
        assert_eq!(page, vec![key(3, 2)]);
        let mut page = vec![key(4, 1), key(4, 2), key(8, 3)];
        assert_eq!(
            cut_at_page_limit(&mut page, 50),
            Some(8),
            "the first group always goes"
        );
        assert_eq!(page.len(), 2);
    }
}
