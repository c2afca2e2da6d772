//! The superblock: the small root file that says whether the store was
//! closed cleanly and which checkpoint holds its state.
//!
//! Two copies live in one file, at offsets 0 and [`COPY_BYTES`]; generation
//! `g` is written to copy `g % 2`, so a torn write of the newest copy leaves
//! the previous one intact. Open reads both and takes the valid copy with
//! the highest generation. Layout in docs/FORMAT.md.

use std::path::Path;

use crate::error::{Error, Result};
use crate::io::{read_full, VfsFile};

/// File name of the superblock.
pub const SUPERBLOCK_FILE: &str = "SUPERBLOCK";
/// Magic at the start of each copy.
pub const SUPERBLOCK_MAGIC: [u8; 8] = *b"FOLIOSUP";
/// Format version of the superblock (and of the store as a whole).
pub const SUPERBLOCK_FORMAT: u32 = 1;
/// Distance between the two copies (one disk sector of 4 KiB each).
pub const COPY_BYTES: u64 = 4096;
const ENCODED_BYTES: usize = 40;

/// The decoded superblock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Superblock {
    /// Page size the store was created with.
    pub page_bytes: u32,
    /// Increases by one on every write of the superblock.
    pub generation: u64,
    /// Generation of the checkpoint holding the store's state; 0 for none.
    pub checkpoint: u64,
    /// True when the store was closed cleanly after that checkpoint.
    pub clean: bool,
}

impl Superblock {
    /// Encodes one copy.
    pub fn encode(&self) -> [u8; ENCODED_BYTES] {
        let mut b = [0u8; ENCODED_BYTES];
        b[0..8].copy_from_slice(&SUPERBLOCK_MAGIC);
        b[8..12].copy_from_slice(&SUPERBLOCK_FORMAT.to_le_bytes());
        b[12..16].copy_from_slice(&self.page_bytes.to_le_bytes());
        b[16..24].copy_from_slice(&self.generation.to_le_bytes());
        b[24..32].copy_from_slice(&self.checkpoint.to_le_bytes());
        b[32] = u8::from(self.clean);
        let crc = crc32c::crc32c(&b[..36]);
        b[36..40].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes one copy; `Ok(None)` when it is blank or fails its checksum
    /// (a torn or never-written copy), an error for a newer format.
    pub fn decode(b: &[u8], path: &Path) -> Result<Option<Self>> {
        if b.len() < ENCODED_BYTES || b[0..8] != SUPERBLOCK_MAGIC {
            return Ok(None);
        }
        let crc = u32::from_le_bytes(b[36..40].try_into().expect("4 bytes"));
        if crc != crc32c::crc32c(&b[..36]) || b[32] > 1 || b[33..36] != [0, 0, 0] {
            return Ok(None);
        }
        let format = u32::from_le_bytes(b[8..12].try_into().expect("4 bytes"));
        if format != SUPERBLOCK_FORMAT {
            return Err(Error::UnsupportedFormat {
                path: path.to_path_buf(),
                found: format,
                supported: SUPERBLOCK_FORMAT,
            });
        }
        let page_bytes = u32::from_le_bytes(b[12..16].try_into().expect("4 bytes"));
        if let Err(e) = crate::config::check_page_bytes(page_bytes as usize) {
            return Err(Error::corruption(
                path,
                None,
                format!("superblock page size field: {e}"),
            ));
        }
        Ok(Some(Superblock {
            page_bytes,
            generation: u64::from_le_bytes(b[16..24].try_into().expect("8 bytes")),
            checkpoint: u64::from_le_bytes(b[24..32].try_into().expect("8 bytes")),
            clean: b[32] == 1,
        }))
    }

    /// Reads both copies and returns the newest valid one; `Corruption`
    /// when neither is valid.
    pub fn read(file: &dyn VfsFile) -> Result<Self> {
        let mut best: Option<Superblock> = None;
        for copy in 0..2u64 {
            let mut buf = [0u8; ENCODED_BYTES];
            let n = read_full(file, &mut buf, copy * COPY_BYTES)?;
            if let Some(sb) = Self::decode(&buf[..n], file.path())? {
                if best.is_none_or(|b| sb.generation > b.generation) {
                    best = Some(sb);
                }
            }
        }
        best.ok_or_else(|| {
            Error::corruption(file.path(), Some(0), "neither superblock copy is valid")
        })
    }

    /// Writes this superblock to its copy and makes it durable.
    pub fn write(&self, file: &dyn VfsFile) -> Result<()> {
        let offset = (self.generation % 2) * COPY_BYTES;
        file.write_all_at(&self.encode(), offset)?;
        file.sync_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{MemVfs, Vfs};

    /// A copy whose checksum holds but whose page size no store can have
    /// is corruption, not a page size to adopt (a 32 MiB page would leave
    /// a segment no room for a value).
    #[test]
    fn an_impossible_page_size_is_corruption() {
        for page_bytes in [0, 1000, 1 << 25] {
            let sb = Superblock {
                page_bytes,
                generation: 1,
                checkpoint: 0,
                clean: true,
            };
            let err = Superblock::decode(&sb.encode(), Path::new("SUPERBLOCK")).unwrap_err();
            assert!(err.is_corruption(), "{err}");
            assert!(err.to_string().contains("page size"), "{err}");
        }
    }

    #[test]
    fn newest_valid_copy_wins_and_a_torn_copy_falls_back() {
        let vfs = MemVfs::new();
        vfs.create_dir_all(Path::new("/s")).unwrap();
        let path = Path::new("/s/SUPERBLOCK");
        let file = vfs.open(path, true).unwrap();
        let sb = |generation| Superblock {
            page_bytes: 8192,
            generation,
            checkpoint: generation,
            clean: true,
        };
        sb(1).write(&*file).unwrap();
        sb(2).write(&*file).unwrap();
        assert_eq!(Superblock::read(&*file).unwrap(), sb(2));
        // Tear copy 0 (generation 2): the reader falls back to generation 1.
        vfs.with_file_bytes(path, |b| b[20] ^= 0xff).unwrap();
        assert_eq!(Superblock::read(&*file).unwrap(), sb(1));
        vfs.with_file_bytes(path, |b| b[4096 + 3] ^= 0xff).unwrap();
        assert!(Superblock::read(&*file).unwrap_err().is_corruption());
    }
}
