//! Checkpoint files: the whole index and the segment table, written at close
//! (and, with the WAL, periodically). Layout in docs/FORMAT.md; integers
//! little-endian; a CRC32C of everything before it ends the file.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::xxh3_64;

use super::superblock::Superblock;
use crate::disk::{ClassId, SegmentId, SegmentMeta, SlotAddr, SlotNo};
use crate::error::{Error, Result};
use crate::index::Entry;
use crate::io::{read_file, Vfs};

/// Magic at the start of a checkpoint file.
pub const CHECKPOINT_MAGIC: [u8; 8] = *b"FOLIOCKP";
/// Format version of checkpoint files.
pub const CHECKPOINT_FORMAT: u32 = 2;

/// The file name of checkpoint generation `generation`.
pub fn checkpoint_file_name(generation: u64) -> String {
    format!("checkpoint-{generation:016x}.folio")
}

/// The decoded contents of a checkpoint.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// Page size of the store.
    pub page_bytes: u32,
    /// The checkpoint's generation (also in its file name).
    pub generation: u64,
    /// Every WAL record up to this LSN is reflected in the checkpoint;
    /// recovery replays the records after it.
    pub lsn: u64,
    /// The first WAL file recovery reads; earlier files are retired.
    pub wal_seq: u32,
    /// Every segment, in id order.
    pub segments: Vec<SegmentMeta>,
    /// Every key with its entry.
    pub entries: Vec<(Box<[u8]>, Entry)>,
}

/// What a checkpoint says besides its segments and entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointHeader {
    /// Page size of the store.
    pub page_bytes: u32,
    /// The checkpoint's generation.
    pub generation: u64,
    /// LSN the checkpoint reflects.
    pub lsn: u64,
    /// First WAL file to read at recovery.
    pub wal_seq: u32,
}

/// A checkpoint's entries, encoded as they are pushed.
#[derive(Debug, Default)]
pub struct EntrySink {
    bytes: Vec<u8>,
    count: u64,
}

impl EntrySink {
    /// Adds `key` with its entry. A key pushed more than once must be
    /// resolved with [`EntrySink::keep_last_of_each_key`] before encoding.
    pub fn push(&mut self, key: &[u8], e: &Entry) {
        self.count += 1;
        encode_entry(&mut self.bytes, key, e);
    }

    /// Keeps only the last entry of each key pushed more than once; returns
    /// how many entries it dropped. A copy of the index taken while writers
    /// go on can meet a key twice: papaya's iterator walks the table by
    /// position, and a key removed and inserted again during the walk lands
    /// further along its probe sequence (the removal leaves a tombstone).
    /// With a WAL any of its entries would do (replay after the checkpoint
    /// redoes its writes), but a checkpoint names each key and slot once;
    /// the last entry met is the newest. Costs a pass over the entries and
    /// 8 bytes per entry while it runs; the entries are copied again only
    /// when a key did repeat.
    pub fn keep_last_of_each_key(&mut self) -> u64 {
        let mut hashes = Vec::with_capacity(usize::try_from(self.count).unwrap_or(0));
        self.for_each_key(|_, key| hashes.push(xxh3_64(key)));
        hashes.sort_unstable();
        let repeated: HashSet<u64> = hashes
            .windows(2)
            .filter(|w| w[0] == w[1])
            .map(|w| w[0])
            .collect();
        drop(hashes);
        if repeated.is_empty() {
            return 0;
        }
        // The position of the last entry of every key whose hash repeats.
        let mut last: HashMap<Box<[u8]>, u64> = HashMap::new();
        self.for_each_key(|at, key| {
            if repeated.contains(&xxh3_64(key)) {
                last.insert(key.into(), at);
            }
        });
        let mut kept = Vec::with_capacity(self.bytes.len());
        let (mut rest, mut at, mut dropped) = (&self.bytes[..], 0u64, 0u64);
        while let Some((key, after)) = split_entry(rest) {
            let whole = &rest[..rest.len() - after.len()];
            if last.get(key).is_none_or(|&newest| newest == at) {
                kept.extend_from_slice(whole);
            } else {
                dropped += 1;
            }
            rest = after;
            at += 1;
        }
        self.bytes = kept;
        self.count -= dropped;
        dropped
    }

    /// Calls `visit` with the position and key of every entry pushed.
    fn for_each_key(&self, mut visit: impl FnMut(u64, &[u8])) {
        let (mut rest, mut at) = (&self.bytes[..], 0u64);
        while let Some((key, after)) = split_entry(rest) {
            visit(at, key);
            rest = after;
            at += 1;
        }
    }

    /// The keys pushed so far for which `wanted` holds: one pass over
    /// every entry pushed.
    pub fn pushed_among(&self, wanted: impl Fn(&[u8]) -> bool) -> Vec<Box<[u8]>> {
        let mut found = Vec::new();
        self.for_each_key(|_, key| {
            if wanted(key) {
                found.push(key.into());
            }
        });
        found
    }
}

/// The key of the first entry `encode_entry` wrote at the start of
/// `bytes`, and the bytes after that entry.
fn split_entry(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let key_len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?);
    let key_end = 4 + usize::try_from(key_len).ok()?;
    let key = bytes.get(4..key_end)?;
    // Value length (4), checksum (8), slot tag (1), then the slot (4 + 4).
    let tag_at = key_end + 12;
    let end = match bytes.get(tag_at)? {
        0 => tag_at + 1,
        _ => tag_at + 9,
    };
    Some((key, bytes.get(end..)?))
}

/// Encodes a checkpoint from its parts. The segment table is taken after
/// the entries were pushed, so its fresh marks and segments cover every
/// slot an entry names even while writers allocate.
pub fn encode(
    header: CheckpointHeader,
    push_entries: impl FnOnce(&mut EntrySink),
    segments: impl FnOnce() -> Vec<SegmentMeta>,
) -> Vec<u8> {
    let mut sink = EntrySink::default();
    push_entries(&mut sink);
    let EntrySink {
        bytes: entries,
        count: written,
    } = sink;
    let segments = segments();
    let mut b = Vec::with_capacity(64 + 12 * segments.len() + entries.len());
    b.extend_from_slice(&CHECKPOINT_MAGIC);
    b.extend_from_slice(&CHECKPOINT_FORMAT.to_le_bytes());
    b.extend_from_slice(&header.page_bytes.to_le_bytes());
    b.extend_from_slice(&header.generation.to_le_bytes());
    b.extend_from_slice(&header.lsn.to_le_bytes());
    b.extend_from_slice(&header.wal_seq.to_le_bytes());
    let segment_count = u32::try_from(segments.len()).expect("segment count fits u32");
    b.extend_from_slice(&segment_count.to_le_bytes());
    b.extend_from_slice(&written.to_le_bytes());
    for s in &segments {
        b.extend_from_slice(&s.id.0.to_le_bytes());
        b.extend_from_slice(&s.class.0.to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&s.fresh.to_le_bytes());
    }
    b.extend_from_slice(&entries);
    let crc = crc32c::crc32c(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    b
}

fn encode_entry(b: &mut Vec<u8>, key: &[u8], e: &Entry) {
    let key_len = u32::try_from(key.len()).expect("keys are under 64 KiB");
    b.extend_from_slice(&key_len.to_le_bytes());
    b.extend_from_slice(key);
    b.extend_from_slice(&e.len.to_le_bytes());
    b.extend_from_slice(&e.checksum.to_le_bytes());
    match e.slot {
        None => b.push(0),
        Some(slot) => {
            b.push(1);
            b.extend_from_slice(&slot.segment.0.to_le_bytes());
            b.extend_from_slice(&slot.slot.0.to_le_bytes());
        }
    }
}

/// Reads, decodes and verifies the checkpoint the superblock `sb` names in
/// `dir`, and checks that it agrees with the superblock.
pub fn load(vfs: &dyn Vfs, dir: &Path, sb: &Superblock) -> Result<Checkpoint> {
    let path = dir.join(checkpoint_file_name(sb.checkpoint));
    let bytes = read_file(vfs, &path)?;
    let cp = decode(&bytes, &path, crate::config::KEY_BYTES_CEILING)?;
    if cp.generation != sb.checkpoint || cp.page_bytes != sb.page_bytes {
        return Err(Error::corruption(
            &path,
            Some(0),
            format!(
                "checkpoint says generation {} page size {}, the superblock {} and {}",
                cp.generation, cp.page_bytes, sb.checkpoint, sb.page_bytes
            ),
        ));
    }
    Ok(cp)
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
    fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &str) -> Result<u16> {
        Ok(u16::from_le_bytes(
            self.take(2, what)?.try_into().expect("2 bytes"),
        ))
    }
    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(
            self.take(4, what)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(
            self.take(8, what)?.try_into().expect("8 bytes"),
        ))
    }
    fn error(&self, what: String) -> Error {
        Error::corruption(
            self.path,
            Some(self.pos as u64),
            format!("checkpoint: {what}"),
        )
    }
}

/// Decodes and verifies a checkpoint read from `path`. `max_key_bytes`
/// bounds each key so a damaged length cannot make it allocate wildly.
pub fn decode(bytes: &[u8], path: &Path, max_key_bytes: usize) -> Result<Checkpoint> {
    let path_buf: PathBuf = path.to_path_buf();
    if bytes.len() < 4 {
        return Err(Error::corruption(
            &path_buf,
            Some(0),
            "checkpoint: file too short",
        ));
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    if crc32c::crc32c(body) != u32::from_le_bytes(crc.try_into().expect("4 bytes")) {
        return Err(Error::corruption(
            &path_buf,
            None,
            "checkpoint: checksum mismatch",
        ));
    }
    let mut c = Cursor {
        bytes: body,
        pos: 0,
        path,
    };
    if c.take(8, "magic")? != CHECKPOINT_MAGIC {
        return Err(Error::corruption(
            &path_buf,
            Some(0),
            "checkpoint: bad magic",
        ));
    }
    let format = c.u32("format")?;
    if format != CHECKPOINT_FORMAT {
        return Err(Error::UnsupportedFormat {
            path: path_buf,
            found: format,
            supported: CHECKPOINT_FORMAT,
        });
    }
    let page_bytes = c.u32("page size")?;
    let generation = c.u64("generation")?;
    let lsn = c.u64("checkpoint LSN")?;
    let wal_seq = c.u32("first WAL file")?;
    let segment_count = c.u32("segment count")?;
    let entry_count = c.u64("entry count")?;
    let mut cp = Checkpoint {
        page_bytes,
        generation,
        lsn,
        wal_seq,
        ..Checkpoint::default()
    };
    for _ in 0..segment_count {
        let id = SegmentId(c.u32("segment id")?);
        let class = ClassId(c.u16("segment class")?);
        if c.u16("reserved")? != 0 {
            return Err(c.error("reserved bytes are not zero".to_string()));
        }
        let fresh = c.u32("segment fresh mark")?;
        cp.segments.push(SegmentMeta { id, class, fresh });
    }
    for _ in 0..entry_count {
        let key_len = c.u32("key length")? as usize;
        if key_len > max_key_bytes {
            return Err(c.error(format!(
                "key length {key_len} over the limit {max_key_bytes}"
            )));
        }
        let key: Box<[u8]> = c.take(key_len, "key")?.into();
        let len = c.u32("value length")?;
        let checksum = c.u64("value checksum")?;
        let slot = match c.u8("slot tag")? {
            0 => None,
            1 => Some(SlotAddr {
                segment: SegmentId(c.u32("segment")?),
                slot: SlotNo(c.u32("slot")?),
            }),
            tag => return Err(c.error(format!("bad slot tag {tag}"))),
        };
        if slot.is_none() && len != 0 {
            return Err(c.error(format!("value of {len} bytes without a slot")));
        }
        cp.entries.push((
            key,
            Entry {
                slot,
                len,
                checksum,
            },
        ));
    }
    if c.pos != body.len() {
        return Err(c.error(format!("{} trailing bytes", body.len() - c.pos)));
    }
    Ok(cp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let segments = [SegmentMeta {
            id: SegmentId(0),
            class: ClassId(5),
            fresh: 3,
        }];
        let entries: Vec<(Vec<u8>, Entry)> = vec![
            (
                b"k1".to_vec(),
                Entry {
                    slot: Some(SlotAddr {
                        segment: SegmentId(0),
                        slot: SlotNo(2),
                    }),
                    len: 90,
                    checksum: 7,
                },
            ),
            (
                Vec::new(),
                Entry {
                    slot: None,
                    len: 0,
                    checksum: 1,
                },
            ),
        ];
        let header = CheckpointHeader {
            page_bytes: 8192,
            generation: 4,
            lsn: 77,
            wal_seq: 3,
        };
        encode(
            header,
            |sink| {
                for (k, e) in &entries {
                    sink.push(k, e);
                }
            },
            || segments.to_vec(),
        )
    }

    #[test]
    fn a_key_met_twice_keeps_its_last_entry_only() {
        let at = |slot: u32| Entry {
            slot: Some(SlotAddr {
                segment: SegmentId(0),
                slot: SlotNo(slot),
            }),
            len: 3,
            checksum: u64::from(slot),
        };
        let bytes = encode(
            CheckpointHeader {
                page_bytes: 8192,
                generation: 1,
                lsn: 5,
                wal_seq: 1,
            },
            |sink| {
                let pushes: [(&[u8], u32); 6] = [
                    (b"k", 1),
                    (b"a", 2),
                    (b"k", 3),
                    (b"", 4),
                    (b"b", 5),
                    (b"k", 6),
                ];
                for (key, slot) in pushes {
                    sink.push(key, &at(slot));
                }
                assert_eq!(sink.keep_last_of_each_key(), 2);
                assert_eq!(sink.keep_last_of_each_key(), 0, "nothing repeats now");
            },
            Vec::new,
        );
        let cp = decode(&bytes, Path::new("c"), 4096).unwrap();
        let kept: Vec<(&[u8], u32)> = cp
            .entries
            .iter()
            .map(|(k, e)| (&k[..], e.slot.unwrap().slot.0))
            .collect();
        let expected: [(&[u8], u32); 4] = [(b"a", 2), (b"", 4), (b"b", 5), (b"k", 6)];
        assert_eq!(kept, expected);
    }

    #[test]
    fn a_sink_finds_the_keys_pushed_to_it() {
        let mut sink = EntrySink::default();
        let located = Entry {
            slot: Some(SlotAddr {
                segment: SegmentId(3),
                slot: SlotNo(9),
            }),
            len: 5,
            checksum: 1,
        };
        let empty = Entry {
            slot: None,
            len: 0,
            checksum: 2,
        };
        for i in 0..100u32 {
            let key = format!("key{i}");
            sink.push(key.as_bytes(), if i % 3 == 0 { &empty } else { &located });
        }
        sink.push(b"", &located);
        let found = sink.pushed_among(|k| k.ends_with(b"7") || k.is_empty());
        let mut names: Vec<&[u8]> = found.iter().map(|k| &**k).collect();
        names.sort_unstable();
        let mut expected: Vec<Vec<u8>> = (0..100u32)
            .map(|i| format!("key{i}").into_bytes())
            .filter(|k| k.ends_with(b"7"))
            .chain([Vec::new()])
            .collect();
        expected.sort_unstable();
        assert_eq!(
            names,
            expected.iter().map(Vec::as_slice).collect::<Vec<_>>()
        );
    }

    #[test]
    fn round_trip() {
        let cp = decode(&sample(), Path::new("c"), 4096).unwrap();
        assert_eq!((cp.generation, cp.lsn, cp.wal_seq), (4, 77, 3));
        assert_eq!(cp.segments.len(), 1);
        assert_eq!(cp.entries.len(), 2);
        assert_eq!(&*cp.entries[0].0, b"k1");
    }

    #[test]
    fn every_flipped_byte_and_every_truncation_is_detected() {
        let bytes = sample();
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            assert!(decode(&b, Path::new("c"), 4096).is_err(), "flip at {i}");
            assert!(
                decode(&bytes[..i], Path::new("c"), 4096).is_err(),
                "truncated at {i}"
            );
        }
    }
}
