//! [`SparseArray`]: up to `capacity` cells, each set at most once, read
//! without locks.
//!
//! Two levels of `OnceLock`: a fixed top array of chunk pointers, and chunks
//! of [`CHUNK`] cells allocated on first use. Reading a cell is two
//! `OnceLock` loads: nothing is written to shared memory, so readers on
//! different cores never contend. Used for the segment table (segments are
//! only ever added) and the buffer pool's page table (one array of frame
//! numbers per segment).

use std::sync::OnceLock;

/// Cells per chunk.
pub const CHUNK: usize = 1024;

/// A chunk of cells, allocated on first use.
type Chunk<T> = Box<[OnceLock<T>]>;

/// A sparse array of set-once cells.
#[derive(Debug)]
pub struct SparseArray<T> {
    chunks: Box<[OnceLock<Chunk<T>>]>,
}

impl<T> SparseArray<T> {
    /// An array of at least `capacity` empty cells (rounded up to a whole
    /// chunk).
    pub fn new(capacity: usize) -> Self {
        SparseArray {
            chunks: (0..capacity.div_ceil(CHUNK))
                .map(|_| OnceLock::new())
                .collect(),
        }
    }

    /// The value of cell `i`, if it is set (`None` also past the capacity).
    pub fn get(&self, i: usize) -> Option<&T> {
        self.chunks.get(i / CHUNK)?.get()?[i % CHUNK].get()
    }

    /// The value of cell `i`, setting it with `init` if it is empty; `None`
    /// past the capacity.
    pub fn get_or_init(&self, i: usize, init: impl FnOnce() -> T) -> Option<&T> {
        let chunk = self
            .chunks
            .get(i / CHUNK)?
            .get_or_init(|| (0..CHUNK).map(|_| OnceLock::new()).collect());
        Some(chunk[i % CHUNK].get_or_init(init))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_set_once_and_read_back() {
        let a: SparseArray<u32> = SparseArray::new(3000);
        assert_eq!(a.get(5), None);
        assert_eq!(a.get_or_init(5, || 9), Some(&9));
        assert_eq!(a.get_or_init(5, || 10), Some(&9), "set once");
        assert_eq!(a.get(5), Some(&9));
        assert_eq!(a.get(2047), None);
        assert_eq!(a.get_or_init(3071, || 1), Some(&1));
        assert_eq!(a.get_or_init(3072, || 1), None, "past the capacity");
        assert_eq!(a.get(1 << 40), None);
    }
}
