//! `for_each_key` in ordered chunks.
//!
//! An adapter reads up to [`CHUNK`] entries after a position, in key order,
//! under its gate and one read transaction; the visitor then sees them
//! with no lock and no transaction held, so it may call back into the
//! store (LMDB allows one transaction per thread; a long read transaction
//! would also pin old pages). The next chunk starts after the last entry
//! read, so a key present for the whole walk is seen exactly once.

use std::ops::ControlFlow;

use folio::Result;

/// Entries read per chunk.
pub(crate) const CHUNK: usize = 256;

/// One chunk: the keys to visit and where the next chunk starts (after
/// this stored key), or `None` when the table is exhausted.
pub(crate) struct Chunk {
    /// The caller's keys, in the order read.
    pub(crate) keys: Vec<Vec<u8>>,
    /// The last stored key read, when more may follow.
    pub(crate) resume: Option<Vec<u8>>,
}

impl Chunk {
    /// A chunk of `keys` from `read` stored entries ending at `last`; more
    /// may follow when the read stopped at [`CHUNK`] entries.
    pub(crate) fn new(keys: Vec<Vec<u8>>, last: Option<Vec<u8>>, read: usize) -> Self {
        Chunk {
            keys,
            resume: if read >= CHUNK { last } else { None },
        }
    }
}

/// Visits every key `read` yields, chunk by chunk, until `visit` breaks.
/// `read(after)` returns the chunk after the stored key `after` (from the
/// start for `None`).
pub(crate) fn walk(
    mut read: impl FnMut(Option<&[u8]>) -> Result<Chunk>,
    visit: &mut dyn FnMut(&[u8]) -> ControlFlow<()>,
) -> Result<ControlFlow<()>> {
    let mut after: Option<Vec<u8>> = None;
    loop {
        let chunk = read(after.as_deref())?;
        for key in &chunk.keys {
            if visit(key).is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
        match chunk.resume {
            Some(last) => after = Some(last),
            None => return Ok(ControlFlow::Continue(())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table of 0..n read through `walk`, chunk by chunk.
    fn visit_all(n: u32, stop_at: Option<u32>) -> (Vec<u32>, ControlFlow<()>) {
        let table: Vec<Vec<u8>> = (0..n).map(|i| i.to_be_bytes().to_vec()).collect();
        let read = |after: Option<&[u8]>| {
            let rest: Vec<Vec<u8>> = table
                .iter()
                .filter(|k| after.is_none_or(|a| k.as_slice() > a))
                .take(CHUNK)
                .cloned()
                .collect();
            let (n, last) = (rest.len(), rest.last().cloned());
            Ok(Chunk::new(rest, last, n))
        };
        let mut seen = Vec::new();
        let flow = walk(read, &mut |k| {
            let i = u32::from_be_bytes(k.try_into().unwrap());
            seen.push(i);
            if Some(i) == stop_at {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
        (seen, flow)
    }

    #[test]
    fn every_key_once_across_chunks_and_break_stops() {
        for n in [0, 1, 255, 256, 257, 1000] {
            let (seen, flow) = visit_all(n, None);
            assert_eq!(seen, (0..n).collect::<Vec<_>>(), "{n} keys");
            assert!(flow.is_continue());
        }
        let (seen, flow) = visit_all(1000, Some(300));
        assert_eq!(seen.len(), 301);
        assert!(flow.is_break());
    }
}
