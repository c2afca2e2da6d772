//! Offline verification of a closed store (`folio check`), of either
//! engine. A paged store: the superblock, the checkpoint, the WAL after it
//! (every record's checksum and sequence; a closed store has nothing left
//! to replay), every segment header, the slot accounting (no slot used
//! twice, none out of range, so the free lists derived from it hold no slot
//! in use), that no key appears twice, and the checksum of every value. A
//! memory store (`memory.rs`): its newest snapshot, entry by entry, and the
//! WAL after it. The check writes nothing to the store's files (it takes
//! the directory lock, so it refuses an open store).

mod memory;

use std::path::Path;
use std::sync::Arc;

use xxhash_rust::xxh3::xxh3_64;

use crate::buffer::PageDevice;
use crate::disk::DiskManager;
use crate::error::{Error, Result};
use crate::io::{FileVfs, Vfs};
use crate::reuse::ReuseClock;
use crate::store::{Checkpoint, Superblock, SUPERBLOCK_FILE};
use crate::wal::{self, Lsn};

/// What `check` found.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// Keys whose value was read and verified.
    pub keys_checked: u64,
    /// Value bytes verified.
    pub bytes_checked: u64,
    /// Segment files verified.
    pub segments: u64,
    /// WAL files read.
    pub wal_files: u64,
    /// Every problem found, one line each.
    pub problems: Vec<String>,
}

impl CheckReport {
    /// True when no problem was found.
    pub fn is_sound(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Verifies the closed store in `dir` on the real file system.
pub fn check(dir: &Path) -> Result<CheckReport> {
    check_with_vfs(Arc::new(FileVfs), dir)
}

/// Verifies the closed store in `dir` through `vfs`. Returns `Err` only when
/// the check itself cannot run (no store there, or it is open); damage is
/// reported in [`CheckReport::problems`].
pub fn check_with_vfs(vfs: Arc<dyn Vfs>, dir: &Path) -> Result<CheckReport> {
    if vfs.exists(&dir.join(SUPERBLOCK_FILE))? {
        return check_paged(vfs, dir);
    }
    let names = if vfs.exists(dir)? {
        vfs.list(dir)?
    } else {
        Vec::new()
    };
    if let Some(generation) = memory::newest_snapshot(&names) {
        return memory::check(&*vfs, dir, generation);
    }
    Err(Error::io(
        "check",
        dir,
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no store here: neither a SUPERBLOCK (paged engine) nor a snapshot-* file (memory engine)",
        ),
    ))
}

fn check_paged(vfs: Arc<dyn Vfs>, dir: &Path) -> Result<CheckReport> {
    let sb_path = dir.join(SUPERBLOCK_FILE);
    let _lock = vfs.lock_dir(dir)?;
    let mut report = CheckReport::default();
    let sb = match Superblock::read(&*vfs.open(&sb_path, false)?) {
        Ok(sb) => sb,
        Err(e) => return Ok(report.with_problem(e)),
    };
    if !sb.clean {
        report.problems.push(format!(
            "{}: the store was not closed cleanly (generation {})",
            sb_path.display(),
            sb.generation
        ));
    }
    if sb.checkpoint == 0 {
        verify_wal(&*vfs, dir, 0, 0, &mut report);
        return Ok(report);
    }
    let cp = match crate::store::load_checkpoint(&*vfs, dir, &sb) {
        Ok(cp) => cp,
        Err(e) => return Ok(report.with_problem(e)),
    };
    verify_wal(&*vfs, dir, cp.lsn, cp.wal_seq, &mut report);
    let page_bytes = sb.page_bytes as usize; // a valid page size: `Superblock::decode` checks it
    report_duplicate_keys(&cp, &mut report);
    let disk = DiskManager::new(
        vfs.clone(),
        dir,
        page_bytes,
        Arc::new(ReuseClock::immediate()),
    );
    let used = cp
        .entries
        .iter()
        .filter_map(|(_, e)| e.slot.map(|s| (s, e.len as usize)));
    if let Err(e) = disk.restore(&cp.segments, used) {
        return Ok(report.with_problem(e));
    }
    report.segments = cp.segments.len() as u64;
    verify_values(&disk, &cp, &mut report);
    Ok(report)
}

/// Reads the WAL after the checkpoint: damage is a problem, and so is any
/// record left to replay (a closed store has none) or a torn tail.
fn verify_wal(vfs: &dyn Vfs, dir: &Path, lsn: u64, first_seq: u32, report: &mut CheckReport) {
    match wal::recover(vfs, dir, Lsn(lsn), first_seq) {
        Err(e) => report.problems.push(e.to_string()),
        Ok(r) => {
            report.wal_files = r.files.len() as u64;
            if !r.records.is_empty() {
                report.problems.push(format!(
                    "the WAL holds {} records after the checkpoint (LSN {}..={}): \
                     open the store to replay them",
                    r.records.len(),
                    r.records[0].lsn.0,
                    r.next_lsn.0 - 1
                ));
            }
            for (path, offset) in &r.covered_damage {
                report.problems.push(format!(
                    "{}: damaged WAL record at offset {offset}, among records the checkpoint \
                     holds (nothing is lost; the media damaged bytes that were durable)",
                    path.display()
                ));
            }
            if let Some((path, offset, why)) = r.torn {
                report.problems.push(format!(
                    "{}: torn WAL tail at offset {offset} ({why})",
                    path.display()
                ));
            }
        }
    }
}

impl CheckReport {
    fn with_problem(mut self, e: Error) -> Self {
        self.problems.push(e.to_string());
        self
    }
}

fn report_duplicate_keys(cp: &Checkpoint, report: &mut CheckReport) {
    let mut seen = std::collections::HashSet::with_capacity(cp.entries.len());
    for (key, _) in &cp.entries {
        if !seen.insert(&**key) {
            report.problems.push(format!(
                "key {} appears twice in the checkpoint",
                show_key(key)
            ));
        }
    }
}

fn verify_values(disk: &DiskManager, cp: &Checkpoint, report: &mut CheckReport) {
    let mut page = vec![0u8; disk.page_bytes()];
    for (key, entry) in &cp.entries {
        let Some(slot) = entry.slot else { continue };
        let extents = match disk.extents(slot, entry.len as usize) {
            Ok(x) => x,
            Err(e) => {
                report.problems.push(format!("key {}: {e}", show_key(key)));
                continue;
            }
        };
        let mut value = Vec::with_capacity(entry.len as usize);
        let mut failed = None;
        for ext in extents {
            if let Err(e) = disk.read_page(ext.page, &mut page) {
                failed = Some(e.to_string());
                break;
            }
            value.extend_from_slice(&page[ext.offset..ext.offset + ext.len]);
        }
        if failed.is_none() && xxh3_64(&value) != entry.checksum {
            let offset = disk.slot_offset(slot).unwrap_or(0);
            failed = Some(format!(
                "value checksum mismatch in {} at offset {offset}",
                disk.segment_path(slot.segment).display()
            ));
        }
        match failed {
            Some(why) => report
                .problems
                .push(format!("key {}: {why}", show_key(key))),
            None => {
                report.keys_checked += 1;
                report.bytes_checked += u64::from(entry.len);
            }
        }
    }
}

/// A key for a report: text when printable, else hex, cut at 64 bytes.
fn show_key(key: &[u8]) -> String {
    let cut = &key[..key.len().min(64)];
    let more = if key.len() > 64 { "..." } else { "" };
    if cut.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        format!("{:?}{more}", String::from_utf8_lossy(cut))
    } else {
        let hex: String = cut.iter().map(|b| format!("{b:02x}")).collect();
        format!("0x{hex}{more}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::MemVfs;
    use crate::{Config, KvStore, PagedStore};

    #[test]
    fn sound_store_passes_and_damage_is_reported() {
        let vfs = MemVfs::new();
        let dir = Path::new("/c");
        {
            let s =
                PagedStore::open_with_vfs(Arc::new(vfs.clone()), dir, &Config::default()).unwrap();
            s.put(b"a", &[1u8; 8192]).unwrap();
            s.put(b"b", b"tiny").unwrap();
            s.put(b"", b"").unwrap();
            s.close().unwrap();
        }
        let report = check_with_vfs(Arc::new(vfs.clone()), dir).unwrap();
        assert!(report.is_sound(), "{:?}", report.problems);
        assert_eq!(report.keys_checked, 2);
        let seg = dir.join("segment-00000000.folio");
        vfs.with_file_bytes(&seg, |b| b[8192 + 5] ^= 0xff).unwrap();
        let report = check_with_vfs(Arc::new(vfs), dir).unwrap();
        assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
        assert!(report.problems[0].contains("checksum mismatch"));
    }
}
