//! Recovery: reading WAL files back, deciding where the log ends.
//!
//! Records are read in order; each must have the LSN after the previous
//! one. The log ends at an all-zero header, at a record of an older file
//! (recycled space), or at damage. Damage at LSN `e` is a **torn tail** —
//! cut, reported, recovery goes on — unless a later valid record says LSN
//! `e` had already been made durable (its `synced` is at least `e`): then
//! the damage is in the middle of the durable log, and recovery fails with
//! `Error::Corruption` naming the file and offset. Recovery cases, each with
//! a test below:
//!
//! | what the file holds after the last good record | outcome |
//! |---|---|
//! | nothing, or zeros | clean end |
//! | a record cut short | torn tail, cut |
//! | a damaged record, nothing valid after it | torn tail, cut |
//! | a damaged record, then a record written in the same unsynced batch | torn tail, cut |
//! | a damaged record, then a record written after it was fsynced | corruption |
//! | a valid record with the wrong LSN | treated as damage (same two rules) |
//! | a record of an older file (recycled) | clean end |
//! | damage or zeros where only records the checkpoint holds can be missing, then a record of this file that can come next | skipped: the scan goes on at that record |
//! | bytes that are not a record, then a whole record of an older file | clean end (the new records of a recycled file end mid-way through an old one) |
//!
//! Across files: a file ends where its records end. A damaged-looking end
//! of a file followed by a file whose first record has the next LSN is the
//! end of that file's records, not a tear: the writer fsyncs a full file
//! before it starts the next, so nothing written to it can be missing.

use std::path::{Path, PathBuf};

use super::record::{decode, Decoded, Record, HEADER_BYTES, KIND_OFFSET};
use super::{wal_file_name, Lsn, WAL_FILE_PREFIX, WAL_FILE_SUFFIX};
use crate::error::{Error, Result};
use crate::io::{read_file, Vfs};

/// How a WAL file ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanEnd {
    /// At an all-zero header, the end of the bytes, or recycled space.
    Clean,
    /// At damage no later record vouches for: the tail was cut.
    Torn {
        /// Offset of the first byte that was cut.
        offset: u64,
        /// What was wrong there.
        reason: &'static str,
    },
}

/// The records of one WAL file and where they end.
#[derive(Debug)]
pub struct FileScan {
    /// The valid records, in LSN order.
    pub records: Vec<Record>,
    /// Bytes taken by the valid records from the start of the file.
    pub valid_bytes: u64,
    /// How the file ended.
    pub end: ScanEnd,
    /// Offsets of damage skipped because only records the checkpoint holds
    /// could be there: nothing is lost, but the bytes were durable once,
    /// so the media damaged them (`folio check` reports each).
    pub skipped: Vec<u64>,
}

/// Scans the bytes of WAL file `file_seq`. `expected` is the LSN the first
/// record must have, when known (the one after the previous file's last).
pub fn scan_file(
    bytes: &[u8],
    file_seq: u32,
    expected: Option<Lsn>,
    path: &Path,
) -> Result<FileScan> {
    scan(bytes, file_seq, expected, Lsn(1), None, path)
}

/// As [`scan_file`]. `floor` is the lowest LSN whose loss matters (the one
/// after the checkpoint): assumed for damage where the LSN is unknown, and
/// LSNs below it may be skipped (the checkpoint holds them). With no
/// `expected` LSN, `first_at_most` bounds the first record's LSN.
fn scan(
    bytes: &[u8],
    file_seq: u32,
    expected: Option<Lsn>,
    floor: Lsn,
    first_at_most: Option<Lsn>,
    path: &Path,
) -> Result<FileScan> {
    let mut records: Vec<Record> = Vec::new();
    let mut skipped = Vec::new();
    let mut pos = 0usize;
    let mut expected = expected;
    let in_sequence = |lsn: Lsn, expected: Option<Lsn>| match expected {
        Some(e) => lsn == e || (lsn > e && lsn <= floor),
        None => first_at_most.is_none_or(|m| lsn <= m),
    };
    loop {
        let decoded = decode(&bytes[pos..], file_seq);
        let fits = matches!(&decoded, Decoded::Record(r, _) if in_sequence(r.lsn, expected));
        if !fits {
            // Damage (or zeros) where only records the checkpoint holds can
            // be missing: go on at the next record of this file that fits.
            if let Some(next) = skip_covered(bytes, pos, file_seq, expected, floor) {
                skipped.push(pos as u64);
                pos = next;
                continue;
            }
        }
        let (reason, lost) = match decoded {
            Decoded::Record(record, len) if in_sequence(record.lsn, expected) => {
                expected = Some(record.lsn.next());
                records.push(record);
                pos += len;
                continue;
            }
            Decoded::Record(..) => ("LSN out of sequence", expected),
            Decoded::End => {
                // Zeros, or an older file's record: the end — unless a later
                // record of this file says what should be here was durable.
                let lost = expected.unwrap_or(floor);
                if let Some(witness) = vouched_after(bytes, pos, file_seq, lost) {
                    return Err(Error::corruption(
                        path,
                        Some(pos as u64),
                        format!(
                            "the WAL ends early (zeroed or overwritten) but LSN {} had been \
                             made durable: record LSN {} further on says so",
                            lost.0, witness.0
                        ),
                    ));
                }
                return Ok(FileScan {
                    records,
                    valid_bytes: pos as u64,
                    end: ScanEnd::Clean,
                    skipped,
                });
            }
            Decoded::Truncated => ("record cut short", expected),
            Decoded::Invalid(why) => (why, expected),
        };
        let lost = lost.unwrap_or(floor);
        if let Some(witness) = vouched_after(bytes, pos, file_seq, lost) {
            return Err(Error::corruption(
                path,
                Some(pos as u64),
                format!(
                    "WAL record damaged ({reason}) but LSN {} had been made durable: \
                     record LSN {} further on says so",
                    lost.0, witness.0
                ),
            ));
        }
        if older_record_after(bytes, pos, file_seq) {
            return Ok(FileScan {
                records,
                valid_bytes: pos as u64,
                end: ScanEnd::Clean,
                skipped,
            });
        }
        let end = ScanEnd::Torn {
            offset: pos as u64,
            reason,
        };
        return Ok(FileScan {
            records,
            valid_bytes: pos as u64,
            end,
            skipped,
        });
    }
}

/// When the record expected at `from` (`expected`; unknown at the start of
/// the log) is below `floor`, the checkpoint holds it and whatever follows
/// it below `floor`: the offset of the first valid record of this file
/// after `from` that can come next (LSN above `expected`, at most
/// `floor`), if any. A record of this file further on was written after
/// the damaged bytes, so nothing the checkpoint lacks is skipped.
fn skip_covered(
    bytes: &[u8],
    from: usize,
    file_seq: u32,
    expected: Option<Lsn>,
    floor: Lsn,
) -> Option<usize> {
    if expected.is_some_and(|e| e >= floor) {
        return None;
    }
    let last_start = last_record_start(bytes)?;
    (from + 1..=last_start).find(|&p| {
        let h = &bytes[p..p + HEADER_BYTES];
        // Cheap filters before the CRC: this file, an LSN that can come next.
        let seq = u32::from_le_bytes(h[24..28].try_into().expect("4 bytes"));
        let lsn = Lsn(u64::from_le_bytes(h[8..16].try_into().expect("8 bytes")));
        if seq != file_seq || lsn > floor || expected.is_some_and(|e| lsn <= e) {
            return false;
        }
        matches!(decode(&bytes[p..], file_seq), Decoded::Record(r, _) if r.lsn == lsn)
    })
}

/// The LSN of a valid record of this file at or after `from` whose `synced`
/// is at least `lost`, if any.
fn vouched_after(bytes: &[u8], from: usize, file_seq: u32, lost: Lsn) -> Option<Lsn> {
    let last_start = last_record_start(bytes)?;
    (from..=last_start).find_map(|p| {
        let h = &bytes[p..p + HEADER_BYTES];
        // Cheap filters before the CRC: this file, durable LSN covers `lost`.
        let seq = u32::from_le_bytes(h[24..28].try_into().expect("4 bytes"));
        let synced = u64::from_le_bytes(h[16..24].try_into().expect("8 bytes"));
        if seq != file_seq || synced < lost.0 {
            return None;
        }
        match decode(&bytes[p..], file_seq) {
            Decoded::Record(r, _) if r.lsn > lost => Some(r.lsn),
            _ => None,
        }
    })
}

/// True when a whole, valid record of an older file starts after `from`:
/// the bytes at `from` are the remains of a recycled file's old contents,
/// not a write torn by a crash.
fn older_record_after(bytes: &[u8], from: usize, file_seq: u32) -> bool {
    let Some(last_start) = last_record_start(bytes) else {
        return false;
    };
    (from + 1..=last_start).any(|p| {
        let h = &bytes[p..p + HEADER_BYTES];
        // Cheap filters before the CRC: an older file, a sane header.
        let seq = u32::from_le_bytes(h[24..28].try_into().expect("4 bytes"));
        let len = u32::from_le_bytes(h[0..4].try_into().expect("4 bytes")) as usize;
        if seq >= file_seq || h[29..32] != [0, 0, 0] || len > bytes.len() - p - HEADER_BYTES {
            return false;
        }
        matches!(decode(&bytes[p..], seq), Decoded::Record(..))
    })
}

/// The last offset where a record could start, if any. Preallocated files
/// are mostly zeros, so the search for later records stops early: every
/// record's kind byte (header offset [`KIND_OFFSET`]) is non-zero, and
/// everything after it may be zero (an empty batch, a delete of the empty
/// key), so no record starts more than `KIND_OFFSET` bytes before the last
/// non-zero byte.
fn last_record_start(bytes: &[u8]) -> Option<usize> {
    let last_non_zero = bytes.iter().rposition(|&b| b != 0)?;
    let last_whole = bytes.len().checked_sub(HEADER_BYTES)?;
    last_non_zero
        .checked_sub(KIND_OFFSET)
        .map(|p| p.min(last_whole))
}

/// Everything recovery found in a WAL directory.
#[derive(Debug)]
pub struct Recovery {
    /// Records after `after`, in LSN order.
    pub records: Vec<Record>,
    /// The LSN the next record gets.
    pub next_lsn: Lsn,
    /// The WAL files, in order: (sequence, path, bytes of valid records).
    pub files: Vec<(u32, PathBuf, u64)>,
    /// Where the log was cut, if it was: (file, offset, reason).
    pub torn: Option<(PathBuf, u64, &'static str)>,
    /// The first file sequence number recovery looked at.
    pub first_seq: u32,
    /// Files before `first_seq`: retired, not read, free to reuse.
    pub retired: Vec<PathBuf>,
    /// Damage skipped among records the checkpoint holds: (file, offset).
    /// Nothing is lost, but the media damaged bytes once durable.
    pub covered_damage: Vec<(PathBuf, u64)>,
}

impl Recovery {
    /// Bytes of the log the records after the checkpoint take (headers
    /// included): log a checkpoint would retire, which counts toward the
    /// next one as bytes logged since it.
    pub fn record_bytes(&self) -> u64 {
        self.records
            .iter()
            .map(|r| (HEADER_BYTES + r.payload.len()) as u64)
            .sum()
    }
}

/// Reads the WAL files in `dir` numbered `first_seq` or higher and returns
/// the records with an LSN above `after` (what the last checkpoint holds
/// already). Fails with `Corruption` on damage in the middle of the durable
/// log. Files numbered below `first_seq` were retired by a checkpoint and
/// are not read.
pub fn recover(vfs: &dyn Vfs, dir: &Path, after: Lsn, first_seq: u32) -> Result<Recovery> {
    let mut all: Vec<u32> = vfs
        .list(dir)?
        .iter()
        .filter_map(|n| parse_wal_name(n))
        .collect();
    all.sort_unstable();
    let split = all.partition_point(|&s| s < first_seq);
    let seqs = all.split_off(split);
    // Neither counter can be continued past its maximum; 2^32 files of the
    // smallest size or 2^64 records are out of reach of a real log.
    if after.0 == u64::MAX {
        return Err(Error::corruption(
            dir,
            None,
            "checkpoint LSN at its maximum",
        ));
    }
    if let Some(&u32::MAX) = seqs.last() {
        let path = dir.join(wal_file_name(u32::MAX));
        return Err(Error::corruption(
            &path,
            None,
            "WAL file number at its maximum",
        ));
    }
    let mut out = Recovery {
        records: Vec::new(),
        next_lsn: after.next(),
        files: Vec::new(),
        torn: None,
        first_seq,
        retired: all.iter().map(|&s| dir.join(wal_file_name(s))).collect(),
        covered_damage: Vec::new(),
    };
    let mut expected: Option<Lsn> = None;
    let mut next_bytes: Option<Vec<u8>> = None;
    for (i, &seq) in seqs.iter().enumerate() {
        let path = dir.join(wal_file_name(seq));
        let bytes = match next_bytes.take() {
            Some(b) => b,
            None => read_file(vfs, &path)?,
        };
        let scan = scan(
            &bytes,
            seq,
            expected,
            after.next(),
            Some(after.next()),
            &path,
        )?;
        if let Some(last) = scan.records.last() {
            if last.lsn.0 == u64::MAX {
                return Err(Error::corruption(&path, None, "record LSN at its maximum"));
            }
            expected = Some(last.lsn.next());
            out.next_lsn = out.next_lsn.max(last.lsn.next());
        }
        for &offset in &scan.skipped {
            tracing::warn!(
                file = %path.display(),
                offset,
                "skipped a damaged WAL record the checkpoint holds (nothing lost; the media damaged it)"
            );
            out.covered_damage.push((path.clone(), offset));
        }
        out.files.push((seq, path.clone(), scan.valid_bytes));
        out.records
            .extend(scan.records.into_iter().filter(|r| r.lsn > after));
        if let ScanEnd::Torn { offset, reason } = scan.end {
            if let Some(&next) = seqs.get(i + 1) {
                let bytes = read_file(vfs, &dir.join(wal_file_name(next)))?;
                if continues(&bytes, next, expected, after.next()) {
                    next_bytes = Some(bytes);
                    continue;
                }
            }
            let lost = expected.unwrap_or(after.next());
            refuse_later_durable_files(vfs, dir, &seqs[i + 1..], lost, &path, offset)?;
            tracing::warn!(file = %path.display(), offset, reason, "cut a torn WAL tail");
            out.torn = Some((path, offset, reason));
            break;
        }
    }
    Ok(out)
}

/// True when WAL file `seq` starts with record `expected` (or, when that is
/// unknown or covered by the checkpoint, a record at or below `floor`): the
/// previous file ended where its records did.
fn continues(bytes: &[u8], seq: u32, expected: Option<Lsn>, floor: Lsn) -> bool {
    match decode(bytes, seq) {
        Decoded::Record(r, _) => match expected {
            Some(e) => r.lsn == e || (r.lsn > e && r.lsn <= floor),
            None => r.lsn <= floor,
        },
        _ => false,
    }
}

/// After a torn tail at LSN `lost`, a later file holding a valid record
/// (anywhere in it: its first may be damaged too) that says `lost` was
/// durable means the damage is not a tail.
fn refuse_later_durable_files(
    vfs: &dyn Vfs,
    dir: &Path,
    later: &[u32],
    lost: Lsn,
    torn: &Path,
    offset: u64,
) -> Result<()> {
    for &seq in later {
        let bytes = read_file(vfs, &dir.join(wal_file_name(seq)))?;
        if let Some(witness) = vouched_after(&bytes, 0, seq, lost) {
            return Err(Error::corruption(
                torn,
                Some(offset),
                format!(
                    "WAL damaged at LSN {} but a later file's record (LSN {}) says it was durable",
                    lost.0, witness.0
                ),
            ));
        }
    }
    Ok(())
}

/// The sequence number in a WAL file name, if `name` is one.
pub fn parse_wal_name(name: &str) -> Option<u32> {
    let hex = name
        .strip_prefix(WAL_FILE_PREFIX)?
        .strip_suffix(WAL_FILE_SUFFIX)?;
    let canonical = hex.len() == 8 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    canonical
        .then(|| u32::from_str_radix(hex, 16).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::record::{encode, RecordKind};

    const SEQ: u32 = 4;

    /// Records `first..first+n`, each claiming `synced(lsn)` was durable.
    fn log(first: u64, n: u64, synced: impl Fn(u64) -> u64) -> (Vec<u8>, Vec<usize>) {
        let (mut out, mut starts) = (Vec::new(), Vec::new());
        for lsn in first..first + n {
            starts.push(out.len());
            let payload =
                vec![u8::try_from(lsn % 200).unwrap(); usize::try_from(lsn % 50).unwrap()];
            encode(
                &mut out,
                Lsn(lsn),
                Lsn(synced(lsn)),
                SEQ,
                RecordKind::Put,
                &payload,
            );
        }
        (out, starts)
    }

    fn scan(bytes: &[u8]) -> Result<FileScan> {
        scan_file(bytes, SEQ, None, Path::new("wal"))
    }

    #[test]
    fn clean_end_at_zeros_or_end_of_bytes() {
        let (mut bytes, _) = log(1, 10, |l| l - 1);
        assert_eq!(scan(&bytes).unwrap().records.len(), 10);
        bytes.extend_from_slice(&[0u8; 4096]);
        let s = scan(&bytes).unwrap();
        assert_eq!((s.records.len(), s.end), (10, ScanEnd::Clean));
    }

    #[test]
    fn a_record_cut_short_is_a_torn_tail() {
        let (bytes, starts) = log(1, 10, |_| 0);
        let cut = starts[9] + 5;
        let s = scan(&bytes[..cut]).unwrap();
        assert_eq!(s.records.len(), 9);
        assert!(matches!(s.end, ScanEnd::Torn { offset, .. } if offset == starts[9] as u64));
    }

    #[test]
    fn damage_in_the_last_unsynced_batch_is_a_torn_tail() {
        // Records 6..=10 were written in one batch after 5 was durable.
        let (mut bytes, starts) = log(1, 10, |l| if l <= 5 { l - 1 } else { 5 });
        bytes[starts[6] + 34] ^= 0xff; // damage LSN 7's payload; LSN 8..10 are intact
        let s = scan(&bytes).unwrap();
        assert_eq!(s.records.len(), 6);
        assert!(matches!(s.end, ScanEnd::Torn { .. }));
    }

    /// The first file after a checkpoint at LSN 5 (floor 6) also holds
    /// records 1..=5: damage there, or zeros, loses nothing the checkpoint
    /// lacks, and the scan goes on at the next record.
    #[test]
    fn damage_the_checkpoint_covers_is_skipped() {
        let after_checkpoint =
            |bytes: &[u8]| super::scan(bytes, SEQ, None, Lsn(6), Some(Lsn(6)), Path::new("wal"));
        let (mut bytes, starts) = log(1, 10, |l| l - 1);
        bytes[starts[2] + 33] ^= 0x01; // damage LSN 3; LSN 4 says 3 was durable
        let s = after_checkpoint(&bytes).unwrap();
        let lsns: Vec<u64> = s.records.iter().map(|r| r.lsn.0).collect();
        assert_eq!(lsns, [1, 2, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(s.end, ScanEnd::Clean);

        let (mut bytes, starts) = log(1, 10, |l| l - 1);
        bytes[starts[0]..starts[4]].fill(0); // LSN 1..=4 zeroed
        let s = after_checkpoint(&bytes).unwrap();
        assert_eq!(s.records.first().map(|r| r.lsn), Some(Lsn(5)));
        assert_eq!((s.records.len(), s.end), (6, ScanEnd::Clean));

        // Damage at the floor is not covered: corruption as before.
        let (mut bytes, starts) = log(1, 10, |l| l - 1);
        bytes[starts[5] + 33] ^= 0x01; // damage LSN 6
        assert!(after_checkpoint(&bytes).unwrap_err().is_corruption());
        // Nor is damage from below the floor to past it.
        let (mut bytes, starts) = log(1, 10, |l| l - 1);
        bytes[starts[3]..starts[7]].fill(0xee); // LSN 4..=7
        assert!(after_checkpoint(&bytes).unwrap_err().is_corruption());
    }

    #[test]
    fn damage_to_a_durable_record_is_corruption_with_file_and_offset() {
        // Every record was fsynced before the next was written.
        let (mut bytes, starts) = log(1, 10, |l| l - 1);
        bytes[starts[3] + 33] ^= 0x01; // damage LSN 4; LSN 5 says 4 was durable
        let err = scan(&bytes).unwrap_err();
        assert!(err.is_corruption(), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("wal") && text.contains(&format!("offset {}", starts[3])),
            "{text}"
        );
    }

    #[test]
    fn a_witness_whose_bytes_end_at_its_kind_byte_is_found() {
        // LSN 11 is a delete of the empty key: every byte after its kind
        // byte is zero. It is the only record saying LSN 10 was durable.
        let (mut bytes, starts) = log(1, 10, |l| l - 1);
        let payload = crate::wal::payload::encode_delete(b"");
        assert!(payload.iter().all(|&b| b == 0));
        encode(
            &mut bytes,
            Lsn(11),
            Lsn(10),
            SEQ,
            RecordKind::Delete,
            &payload,
        );
        bytes.extend_from_slice(&[0u8; 64]);
        assert_eq!(scan(&bytes).unwrap().records.len(), 11);
        bytes[starts[9] + 33] ^= 0x01; // damage LSN 10
        let err = scan(&bytes).unwrap_err();
        assert!(err.is_corruption(), "{err}");
    }

    #[test]
    fn zeroed_durable_records_are_corruption_not_an_end() {
        let (mut bytes, starts) = log(1, 10, |l| l - 1);
        bytes[..starts[3]].fill(0); // LSN 1..=3 zeroed; LSN 5 says 4 was durable
        let err = scan(&bytes).unwrap_err();
        assert!(err.is_corruption(), "{err}");
        // Zeros after the last record are the clean end.
        let (mut bytes, _) = log(1, 10, |l| l - 1);
        bytes.extend_from_slice(&[0u8; 100]);
        assert_eq!(scan(&bytes).unwrap().records.len(), 10);
    }

    #[test]
    fn a_wrong_lsn_is_damage() {
        let (mut a, _) = log(1, 3, |l| l - 1);
        let (b, _) = log(5, 2, |l| l - 1); // LSN 4 missing, 5 says 4 durable
        a.extend_from_slice(&b);
        assert!(scan(&a).unwrap_err().is_corruption());
    }

    #[test]
    fn records_of_an_older_file_end_the_log() {
        let (mut bytes, _) = log(1, 3, |l| l - 1);
        let mut old = Vec::new();
        encode(
            &mut old,
            Lsn(99),
            Lsn(98),
            SEQ - 1,
            RecordKind::Put,
            b"stale",
        );
        bytes.extend_from_slice(&old);
        let s = scan(&bytes).unwrap();
        assert_eq!((s.records.len(), s.end), (3, ScanEnd::Clean));
    }

    #[test]
    fn a_recycled_file_ends_where_its_new_records_end() {
        // Old contents (file SEQ - 2), then new records written over their
        // start: the new ones end in the middle of an old record.
        let mut old = Vec::new();
        for lsn in 1..40 {
            encode(
                &mut old,
                Lsn(lsn),
                Lsn(lsn - 1),
                SEQ - 2,
                RecordKind::Put,
                &[7u8; 333],
            );
        }
        let (new, _) = log(100, 5, |l| l - 1);
        let mut bytes = old.clone();
        bytes[..new.len()].copy_from_slice(&new);
        let s = scan_file(&bytes, SEQ, Some(Lsn(100)), Path::new("wal")).unwrap();
        assert_eq!((s.records.len(), s.end), (5, ScanEnd::Clean));
        assert_eq!(s.valid_bytes, new.len() as u64);
    }

    #[test]
    fn random_damage_never_panics_and_never_yields_a_bad_record() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let (bytes, _) = log(1, 40, |l| l.saturating_sub(3));
        for _ in 0..2_000 {
            let mut b = bytes.clone();
            for _ in 0..rng.gen_range(1..4) {
                let i = rng.gen_range(0..b.len());
                b[i] = rng.gen();
            }
            b.truncate(rng.gen_range(0..=b.len()));
            if let Ok(s) = scan(&b) {
                for (i, r) in s.records.iter().enumerate() {
                    assert_eq!(r.lsn, Lsn(i as u64 + 1));
                    assert_eq!(r.payload.len() as u64, r.lsn.0 % 50);
                }
            }
        }
    }

    #[test]
    fn wal_names_parse() {
        assert_eq!(parse_wal_name(&wal_file_name(0x1f)), Some(0x1f));
        assert_eq!(parse_wal_name("wal-zz.log"), None);
        assert_eq!(parse_wal_name("wal-0000001F.log"), None);
        assert_eq!(parse_wal_name("wal-+000001f.log"), None);
        assert_eq!(parse_wal_name("segment-00000000.folio"), None);
    }

    /// Counters at their maximum are corruption, not a wrap to 0 (which
    /// would make the next file overwrite `wal-00000000.log`).
    #[test]
    fn counters_at_their_maximum_are_corruption() {
        use crate::io::MemVfs;
        let vfs = MemVfs::new();
        let dir = Path::new("/w");
        vfs.create_dir_all(dir).unwrap();
        assert!(matches!(
            recover(&vfs, dir, Lsn(u64::MAX), 0),
            Err(Error::Corruption { .. })
        ));
        let (bytes, _) = log(1, 3, |_| 0);
        let file = vfs.open(&dir.join(wal_file_name(SEQ)), true).unwrap();
        file.write_all_at(&bytes, 0).unwrap();
        assert_eq!(recover(&vfs, dir, Lsn(0), 0).unwrap().records.len(), 3);
        vfs.open(&dir.join(wal_file_name(u32::MAX)), true).unwrap();
        let err = recover(&vfs, dir, Lsn(0), 0).unwrap_err();
        assert!(
            err.to_string().contains("WAL file number at its maximum"),
            "{err}"
        );
    }
}
