//! Snapshot files of the memory engine: every key and value at a WAL
//! position. Layout in docs/FORMAT.md (`snapshot-*.dat`); integers
//! little-endian; a CRC32C over the header and one per entry.
//!
//! Invariants: a file named `snapshot-<g>.dat` is complete and fsynced (it
//! is written under a temporary name, fsynced, renamed, and the directory
//! fsynced); its header's generation is `g`; it holds `entry count` entries
//! and nothing after them. Decoding allocates nothing and never panics: every
//! length is checked against the bytes left before it is used.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::table::Bytes;
use crate::config::KEY_BYTES_CEILING;
use crate::error::{Error, Result};
use crate::io::{Vfs, VfsFile};

/// Magic at the start of a snapshot file.
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"FOLIOMEM";
/// Format version of snapshot files.
pub const SNAPSHOT_FORMAT: u32 = 1;
/// Bytes of the header, its CRC included.
pub const HEADER_BYTES: usize = 48;
/// File-name prefix of snapshot files.
pub const SNAPSHOT_PREFIX: &str = "snapshot-";
const SNAPSHOT_SUFFIX: &str = ".dat";
/// Bytes buffered before a write to the temporary file.
const WRITE_CHUNK: usize = 1 << 20;

/// What a snapshot says besides its entries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SnapshotHeader {
    /// The snapshot's generation (also in its file name).
    pub generation: u64,
    /// Every WAL record up to this LSN is reflected; recovery replays the
    /// records after it.
    pub lsn: u64,
    /// The first WAL file recovery reads; earlier files are retired.
    pub wal_seq: u32,
    /// Number of entries.
    pub entries: u64,
}

/// The file name of snapshot generation `generation`.
pub fn snapshot_file_name(generation: u64) -> String {
    format!("{SNAPSHOT_PREFIX}{generation:016x}{SNAPSHOT_SUFFIX}")
}

/// The generation of the newest snapshot among the file `names`, if any.
pub fn newest_snapshot(names: &[String]) -> Option<u64> {
    names.iter().filter_map(|n| parse_snapshot_name(n)).max()
}

/// The generation in a snapshot file name, if `name` is one.
pub fn parse_snapshot_name(name: &str) -> Option<u64> {
    let hex = name
        .strip_prefix(SNAPSHOT_PREFIX)?
        .strip_suffix(SNAPSHOT_SUFFIX)?;
    let canonical = hex.len() == 16 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    canonical
        .then(|| u64::from_str_radix(hex, 16).ok())
        .flatten()
}

fn encode_header(h: &SnapshotHeader) -> [u8; HEADER_BYTES] {
    let mut b = [0u8; HEADER_BYTES];
    b[0..8].copy_from_slice(&SNAPSHOT_MAGIC);
    b[8..12].copy_from_slice(&SNAPSHOT_FORMAT.to_le_bytes());
    b[12..16].copy_from_slice(&h.wal_seq.to_le_bytes());
    b[16..24].copy_from_slice(&h.generation.to_le_bytes());
    b[24..32].copy_from_slice(&h.lsn.to_le_bytes());
    b[32..40].copy_from_slice(&h.entries.to_le_bytes());
    let crc = crc32c::crc32c(&b[..44]);
    b[44..48].copy_from_slice(&crc.to_le_bytes());
    b
}

/// Appends one entry: lengths, key, value, CRC32C of all three.
fn encode_entry(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    let lengths = entry_lengths(key, value);
    let crc = crc32c::crc32c_append(crc32c::crc32c_append(crc32c::crc32c(&lengths), key), value);
    out.extend_from_slice(&lengths);
    out.extend_from_slice(key);
    out.extend_from_slice(value);
    out.extend_from_slice(&crc.to_le_bytes());
}

fn entry_lengths(key: &[u8], value: &[u8]) -> [u8; 8] {
    let k = u32::try_from(key.len()).expect("keys are under 64 KiB");
    let v = u32::try_from(value.len()).expect("values are under 4 GiB");
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&k.to_le_bytes());
    b[4..].copy_from_slice(&v.to_le_bytes());
    b
}

/// Encodes a whole snapshot in memory (for tests and tools; the engine
/// streams with [`write`]).
pub fn encode(header: SnapshotHeader, entries: &[(&[u8], &[u8])]) -> Vec<u8> {
    let header = SnapshotHeader {
        entries: entries.len() as u64,
        ..header
    };
    let mut out = encode_header(&header).to_vec();
    for (k, v) in entries {
        encode_entry(&mut out, k, v);
    }
    out
}

/// Writes snapshot `header.generation` of `entries` into `dir`: a
/// temporary file written in chunks, fsynced, renamed into place, and the
/// directory fsynced. After `Ok` the snapshot is durable; after an error
/// or a crash no file of that name exists, or a complete one. A failed
/// write removes its temporary file (as big as the data set).
pub(super) fn write(
    vfs: &dyn Vfs,
    dir: &Path,
    header: SnapshotHeader,
    entries: &[(Bytes, Bytes)],
) -> Result<()> {
    debug_assert_eq!(header.entries, entries.len() as u64);
    let path = dir.join(snapshot_file_name(header.generation));
    let tmp = path.with_extension("tmp");
    if let Err(e) = write_tmp(vfs, &tmp, header, entries).and_then(|()| vfs.rename(&tmp, &path)) {
        crate::io::discard_tmp(vfs, &tmp);
        return Err(e);
    }
    vfs.sync_dir(dir)
}

/// Writes and fsyncs the snapshot into `tmp`.
fn write_tmp(
    vfs: &dyn Vfs,
    tmp: &Path,
    header: SnapshotHeader,
    entries: &[(Bytes, Bytes)],
) -> Result<()> {
    let file = vfs.open(tmp, true)?;
    file.set_len(0)?;
    let mut out = ChunkWriter {
        file: &*file,
        buf: encode_header(&header).to_vec(),
        offset: 0,
    };
    for (k, v) in entries {
        encode_entry(&mut out.buf, k, v);
        out.maybe_flush()?;
    }
    out.flush()?;
    file.sync_data()
}

/// Buffers encoded bytes and writes them at increasing offsets.
struct ChunkWriter<'a> {
    file: &'a dyn VfsFile,
    buf: Vec<u8>,
    offset: u64,
}

impl ChunkWriter<'_> {
    fn maybe_flush(&mut self) -> Result<()> {
        if self.buf.len() >= WRITE_CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.file.write_all_at(&self.buf, self.offset)?;
        self.offset += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }
}

/// A bounds-checked reader that reports the offset of what it cannot read.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(self.error(format!("truncated {what}")));
        };
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(
            self.take(4, what)?.try_into().expect("4 bytes"),
        ))
    }

    fn error(&self, what: String) -> Error {
        Error::corruption(
            self.path,
            Some(self.pos as u64),
            format!("snapshot: {what}"),
        )
    }
}

fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes(b.try_into().expect("4 bytes"))
}

fn le_u64(b: &[u8]) -> u64 {
    u64::from_le_bytes(b.try_into().expect("8 bytes"))
}

/// Decodes and verifies the header of a snapshot read from `path`.
pub fn decode_header(bytes: &[u8], path: &Path) -> Result<SnapshotHeader> {
    let path_buf: PathBuf = path.to_path_buf();
    let Some(h) = bytes.get(..HEADER_BYTES) else {
        return Err(Error::corruption(
            path_buf,
            Some(0),
            "snapshot: truncated header",
        ));
    };
    if h[0..8] != SNAPSHOT_MAGIC {
        return Err(Error::corruption(path_buf, Some(0), "snapshot: bad magic"));
    }
    if crc32c::crc32c(&h[..44]) != le_u32(&h[44..48]) {
        return Err(Error::corruption(
            path_buf,
            Some(0),
            "snapshot: header checksum mismatch",
        ));
    }
    let format = le_u32(&h[8..12]);
    if format != SNAPSHOT_FORMAT {
        return Err(Error::UnsupportedFormat {
            path: path_buf,
            found: format,
            supported: SNAPSHOT_FORMAT,
        });
    }
    if h[40..44] != [0; 4] {
        return Err(Error::corruption(
            path_buf,
            Some(40),
            "snapshot: reserved bytes are not zero",
        ));
    }
    Ok(SnapshotHeader {
        wal_seq: le_u32(&h[12..16]),
        generation: le_u64(&h[16..24]),
        lsn: le_u64(&h[24..32]),
        entries: le_u64(&h[32..40]),
    })
}

/// Decodes and verifies a snapshot read from `path`, calling `visit` with
/// each key and value in file order. A damaged or truncated file is
/// [`Error::Corruption`] with the offset; entries before the damage may
/// have been visited.
pub fn decode(
    bytes: &[u8],
    path: &Path,
    visit: &mut dyn FnMut(&[u8], &[u8]),
) -> Result<SnapshotHeader> {
    let header = decode_header(bytes, path)?;
    let mut c = Cursor {
        bytes,
        pos: HEADER_BYTES,
        path,
    };
    for _ in 0..header.entries {
        let start = c.pos;
        let key_len = c.u32("key length")? as usize;
        let value_len = c.u32("value length")? as usize;
        if key_len > KEY_BYTES_CEILING {
            c.pos = start;
            return Err(c.error(format!("key length {key_len} over {KEY_BYTES_CEILING}")));
        }
        c.take(key_len, "key")?;
        c.take(value_len, "value")?;
        let body = &bytes[start..c.pos];
        let crc = c.u32("entry checksum")?;
        if crc32c::crc32c(body) != crc {
            c.pos = start;
            return Err(c.error("entry checksum mismatch".to_string()));
        }
        let key = &body[8..8 + key_len];
        visit(key, &body[8 + key_len..]);
    }
    if c.pos != bytes.len() {
        return Err(c.error(format!(
            "{} bytes after the last entry",
            bytes.len() - c.pos
        )));
    }
    Ok(header)
}

/// Decodes a snapshot into owned entries (for tools and tests).
pub fn decode_entries(bytes: &[u8], path: &Path) -> Result<(SnapshotHeader, Vec<(Bytes, Bytes)>)> {
    let mut entries = Vec::new();
    let header = decode(bytes, path, &mut |k, v| {
        entries.push((Arc::from(k), Arc::from(v)));
    })?;
    Ok((header, entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let header = SnapshotHeader {
            generation: 3,
            lsn: 77,
            wal_seq: 2,
            entries: 0,
        };
        encode(
            header,
            &[(b"k1", b"v1"), (b"", b""), (b"\0\0", &[9u8; 300])],
        )
    }

    #[test]
    fn round_trip() {
        let (h, entries) = decode_entries(&sample(), Path::new("s")).unwrap();
        assert_eq!((h.generation, h.lsn, h.wal_seq, h.entries), (3, 77, 2, 3));
        assert_eq!(&*entries[0].0, b"k1");
        assert_eq!(&*entries[1].1, b"");
        assert_eq!(entries[2].1.len(), 300);
    }

    #[test]
    fn every_flipped_byte_and_every_truncation_is_detected() {
        let bytes = sample();
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            let err = decode(&b, Path::new("s"), &mut |_, _| {}).unwrap_err();
            assert!(
                err.is_corruption() || matches!(err, Error::UnsupportedFormat { .. }),
                "flip at {i}"
            );
            assert!(
                decode(&bytes[..i], Path::new("s"), &mut |_, _| {}).is_err(),
                "cut at {i}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer, Path::new("s"), &mut |_, _| {}).is_err());
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(parse_snapshot_name(&snapshot_file_name(0xab)), Some(0xab));
        assert_eq!(parse_snapshot_name("snapshot-00000000000000AB.dat"), None);
        assert_eq!(parse_snapshot_name("snapshot-0000000000000001.tmp"), None);
    }
}
