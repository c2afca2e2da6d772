//! Snapshot files of the memory engine: every key and value at a WAL
//! position. Layout in docs/FORMAT.md (`snapshot-*.dat`); integers
//! little-endian; a CRC32C over the header and one per entry.
//!
//! Invariants: a file named `snapshot-<g>.dat` is complete and fsynced (it
//! is written under a temporary name, fsynced, renamed, and the directory
//! fsynced); its header's generation is `g`; it holds `entry count` entries
//! and nothing after them. Decoding never panics: every length is checked
//! against its ceiling and the bytes left before it is used. [`decode`]
//! allocates nothing; [`decode_file`] holds a window of the file and the
//! longest entry, never the whole file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::table::Bytes;
use crate::config::KEY_BYTES_CEILING;
use crate::error::{Error, Result};
use crate::io::{Vfs, VfsFile};

/// Longest value an entry may claim: no store holds a value of a segment
/// or more (`Config::value_ceiling`).
const VALUE_BYTES_CEILING: usize = crate::disk::SEGMENT_BYTES;

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

/// Writes snapshot `header.generation` into `dir` from `parts`, batches
/// of entries taken one at a time (the engine copies its table shard by
/// shard as they are written, so it holds one shard's pointers, not the
/// whole table's); `header.entries` is counted as they go. A temporary
/// file is written in chunks, then `before_naming` runs (the engine makes
/// its WAL durable there: the copy may hold writes not yet fsynced), then
/// the header goes in, the file is fsynced, renamed into place, and the
/// directory fsynced. After `Ok` the snapshot is durable; after an error or
/// a crash no file of that name exists, or a complete one. A failed write
/// removes its temporary file (as big as the data set). Returns the count.
pub(super) fn write(
    vfs: &dyn Vfs,
    dir: &Path,
    header: SnapshotHeader,
    parts: impl Iterator<Item = Vec<(Bytes, Bytes)>>,
    before_naming: impl FnOnce() -> Result<()>,
) -> Result<u64> {
    let path = dir.join(snapshot_file_name(header.generation));
    let tmp = path.with_extension("tmp");
    let written = write_tmp(vfs, &tmp, header, parts, before_naming)
        .and_then(|count| vfs.rename(&tmp, &path).map(|()| count));
    match written {
        Ok(count) => vfs.sync_dir(dir).map(|()| count),
        Err(e) => {
            crate::io::discard_tmp(vfs, &tmp);
            Err(e)
        }
    }
}

/// Writes the entries of `parts` after room for the header, runs
/// `before_naming`, writes the header with their count, and fsyncs.
fn write_tmp(
    vfs: &dyn Vfs,
    tmp: &Path,
    header: SnapshotHeader,
    parts: impl Iterator<Item = Vec<(Bytes, Bytes)>>,
    before_naming: impl FnOnce() -> Result<()>,
) -> Result<u64> {
    let file = vfs.open(tmp, true)?;
    file.set_len(0)?;
    let mut out = ChunkWriter {
        file: &*file,
        buf: Vec::new(),
        offset: HEADER_BYTES as u64,
    };
    let mut count = 0u64;
    for part in parts {
        for (k, v) in &part {
            encode_entry(&mut out.buf, k, v);
            count += 1;
            out.maybe_flush()?;
        }
    }
    out.flush()?;
    before_naming()?;
    let header = SnapshotHeader {
        entries: count,
        ..header
    };
    file.write_all_at(&encode_header(&header), 0)?;
    file.sync_data()?;
    Ok(count)
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
    let mut pos = HEADER_BYTES;
    for _ in 0..header.entries {
        let rest = &bytes[pos..];
        let Some(entry) = decode_entry(rest, rest.len() as u64, pos as u64, path)? else {
            return Err(truncated(path, pos as u64));
        };
        visit(entry.key, entry.value);
        pos += entry.len;
    }
    if pos != bytes.len() {
        return Err(trailing(path, pos as u64, (bytes.len() - pos) as u64));
    }
    Ok(header)
}

/// As [`decode`], reading the file `file` in windows of about
/// [`WRITE_CHUNK`] bytes rather than whole: the memory it needs is one
/// window and the longest entry, not the file's size (open builds the
/// table as it reads, so a whole-file read would double its peak).
pub fn decode_file(
    file: &dyn VfsFile,
    path: &Path,
    visit: &mut dyn FnMut(&[u8], &[u8]),
) -> Result<SnapshotHeader> {
    let size = file.size()?;
    let mut window = Window::new(file, size);
    window.fill_to(HEADER_BYTES)?;
    let header = decode_header(window.bytes(), path)?;
    window.consume(HEADER_BYTES);
    for _ in 0..header.entries {
        let at = window.offset();
        let entry_len = loop {
            let left = size - at;
            match decode_entry(window.bytes(), left, at, path)? {
                Some(entry) => {
                    visit(entry.key, entry.value);
                    break entry.len;
                }
                None if window.bytes().len() as u64 >= left => return Err(truncated(path, at)),
                None => window.fill_to(window.bytes().len() + WRITE_CHUNK)?,
            }
        };
        window.consume(entry_len);
    }
    let end = window.offset();
    if end != size {
        return Err(trailing(path, end, size - end));
    }
    Ok(header)
}

/// Bytes of a file read ahead from a position, refilled on demand.
struct Window<'a> {
    file: &'a dyn VfsFile,
    size: u64,
    /// File offset of `buf[start]`.
    offset: u64,
    buf: Vec<u8>,
    start: usize,
}

impl<'a> Window<'a> {
    fn new(file: &'a dyn VfsFile, size: u64) -> Self {
        Window {
            file,
            size,
            offset: 0,
            buf: Vec::new(),
            start: 0,
        }
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    fn offset(&self) -> u64 {
        self.offset
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        self.offset += n as u64;
    }

    /// Reads until `want` bytes from the offset are held, or the file ends.
    fn fill_to(&mut self, want: usize) -> Result<()> {
        self.buf.drain(..self.start);
        self.start = 0;
        let end = self.offset.saturating_add(want as u64).min(self.size);
        let have = self.offset + self.buf.len() as u64;
        if end <= have {
            return Ok(());
        }
        let more = usize::try_from(end - have).expect("a window fits memory");
        let old_len = self.buf.len();
        self.buf.resize(old_len + more, 0);
        let mut filled = old_len;
        while filled < self.buf.len() {
            let read = self
                .file
                .read_at(&mut self.buf[filled..], self.offset + filled as u64)?;
            if read == 0 {
                break; // the file shrank: what is missing reads as truncated
            }
            filled += read;
        }
        self.buf.truncate(filled);
        Ok(())
    }
}

/// One decoded entry, borrowed from the bytes it was read from.
struct Entry<'b> {
    key: &'b [u8],
    value: &'b [u8],
    /// Bytes the entry takes: lengths, key, value, CRC.
    len: usize,
}

/// The entry at the start of `bytes` (file offset `offset`, `left` bytes
/// of the file from there): `Ok(None)` when `bytes` ends first. Lengths
/// are checked before they are used: a key over [`KEY_BYTES_CEILING`], a
/// value over [`VALUE_BYTES_CEILING`] or an entry past the file's end is
/// damage, and nothing is read or held for it.
fn decode_entry<'b>(
    bytes: &'b [u8],
    left: u64,
    offset: u64,
    path: &Path,
) -> Result<Option<Entry<'b>>> {
    let Some(lengths) = bytes.get(..8) else {
        return Ok(None);
    };
    let key_len = le_u32(&lengths[..4]) as usize;
    let value_len = le_u32(&lengths[4..]) as usize;
    if key_len > KEY_BYTES_CEILING {
        return Err(corrupt(
            path,
            offset,
            format!("key length {key_len} over {KEY_BYTES_CEILING}"),
        ));
    }
    if value_len > VALUE_BYTES_CEILING {
        return Err(corrupt(
            path,
            offset,
            format!("value length {value_len} over {VALUE_BYTES_CEILING}"),
        ));
    }
    let body_len = 8 + key_len + value_len;
    let len = body_len + 4;
    if len as u64 > left {
        return Err(truncated(path, offset));
    }
    let Some(entry) = bytes.get(..len) else {
        return Ok(None);
    };
    let (body, crc) = entry.split_at(body_len);
    if crc32c::crc32c(body) != le_u32(crc) {
        return Err(corrupt(path, offset, "entry checksum mismatch".to_string()));
    }
    Ok(Some(Entry {
        key: &body[8..8 + key_len],
        value: &body[8 + key_len..],
        len,
    }))
}

fn corrupt(path: &Path, offset: u64, what: String) -> Error {
    Error::corruption(path, Some(offset), format!("snapshot: {what}"))
}

fn truncated(path: &Path, offset: u64) -> Error {
    corrupt(path, offset, "truncated entry".to_string())
}

fn trailing(path: &Path, offset: u64, bytes: u64) -> Error {
    corrupt(path, offset, format!("{bytes} bytes after the last entry"))
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

    type Owned = Vec<(Vec<u8>, Vec<u8>)>;

    /// `bytes` as a file on a `MemVfs`, decoded by [`decode_file`].
    fn decode_as_file(bytes: &[u8]) -> Result<(SnapshotHeader, Owned)> {
        use crate::io::MemVfs;
        let vfs = MemVfs::new();
        vfs.create_dir_all(Path::new("/d")).unwrap();
        let file = vfs.open(Path::new("/d/s"), true).unwrap();
        file.write_all_at(bytes, 0).unwrap();
        let mut entries = Vec::new();
        let header = decode_file(&*file, Path::new("s"), &mut |k, v| {
            entries.push((k.to_vec(), v.to_vec()));
        })?;
        Ok((header, entries))
    }

    /// Reading in windows gives what decoding the whole file gives, with
    /// entries across window edges and one longer than a window.
    #[test]
    fn the_file_decoder_agrees_with_the_slice_decoder() {
        let header = SnapshotHeader {
            generation: 9,
            lsn: 1,
            wal_seq: 0,
            entries: 0,
        };
        let values: Vec<Vec<u8>> = [10usize, 700_000, 3 << 20, 0, 600_000, 5]
            .iter()
            .enumerate()
            .map(|(i, &n)| vec![u8::try_from(i).unwrap(); n])
            .collect();
        let keys: Vec<Vec<u8>> = (0..values.len())
            .map(|i| format!("key{i}").into_bytes())
            .collect();
        let pairs: Vec<(&[u8], &[u8])> = keys
            .iter()
            .zip(&values)
            .map(|(k, v)| (&k[..], &v[..]))
            .collect();
        let bytes = encode(header, &pairs);
        let (from_file, file_entries) = decode_as_file(&bytes).unwrap();
        let (from_slice, slice_entries) = decode_entries(&bytes, Path::new("s")).unwrap();
        assert_eq!(from_file, from_slice);
        assert_eq!(file_entries.len(), 6);
        for ((fk, fv), (sk, sv)) in file_entries.iter().zip(&slice_entries) {
            assert_eq!((&fk[..], &fv[..]), (&sk[..], &sv[..]));
        }
        // Damage deep in the long value, a cut mid-entry, a byte more.
        let mut damaged = bytes.clone();
        damaged[HEADER_BYTES + 800_000 + 2_000_000] ^= 1;
        assert!(decode_as_file(&damaged).unwrap_err().is_corruption());
        assert!(decode_as_file(&bytes[..bytes.len() - 3])
            .unwrap_err()
            .is_corruption());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_as_file(&longer).unwrap_err().is_corruption());
    }

    #[test]
    fn the_file_decoder_detects_every_flip_and_every_cut() {
        let bytes = sample();
        assert_eq!(decode_as_file(&bytes).unwrap().1.len(), 3);
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            assert!(decode_as_file(&b).is_err(), "flip at {i}");
            assert!(decode_as_file(&bytes[..i]).is_err(), "cut at {i}");
        }
    }

    /// A length no store could write is damage, refused before anything
    /// is read for it (a 4 GiB claim must not become a 4 GiB buffer).
    #[test]
    fn an_absurd_value_length_is_damage() {
        let mut bytes = sample();
        let first_value_len = HEADER_BYTES + 4;
        bytes[first_value_len..first_value_len + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        for err in [
            decode(&bytes, Path::new("s"), &mut |_, _| {}).unwrap_err(),
            decode_as_file(&bytes).unwrap_err(),
        ] {
            assert!(err.to_string().contains("value length"), "{err}");
        }
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(parse_snapshot_name(&snapshot_file_name(0xab)), Some(0xab));
        assert_eq!(parse_snapshot_name("snapshot-00000000000000AB.dat"), None);
        assert_eq!(parse_snapshot_name("snapshot-0000000000000001.tmp"), None);
    }
}
