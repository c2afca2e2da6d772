//! What the operating system says about a run: peak resident memory and
//! the disk space of a store's files.

use std::path::Path;

/// Restarts the peak-RSS count of this process (Linux: `clear_refs` 5).
/// Elsewhere, or when refused, the peak stays the process's lifetime peak.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The peak resident memory of this process since start or the last
/// [`reset_peak_rss`], in bytes; 0 where the system does not say.
pub fn peak_rss_bytes() -> u64 {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return 0;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kib| kib * 1024)
}

/// Bytes the files under `dir` take on disk: allocated blocks, so sparse
/// files count what they use, not their length. An engine may remove files
/// while this walks (RocksDB's obsolete logs and tables go in the
/// background): one that is gone counts nothing.
pub fn disk_bytes(dir: &Path) -> std::io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let gone = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
    let entries = match std::fs::read_dir(dir) {
        Err(e) if gone(&e) => return Ok(0),
        other => other?,
    };
    let mut total = 0;
    for entry in entries {
        let meta = match entry.and_then(|entry| entry.metadata().map(|meta| (entry, meta))) {
            Err(e) if gone(&e) => continue,
            other => other?,
        };
        total += match meta {
            (entry, meta) if meta.is_dir() => disk_bytes(&entry.path())?,
            (_, meta) => meta.blocks() * 512,
        };
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_bytes_counts_nested_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/a"), vec![1u8; 100_000]).unwrap();
        assert!(disk_bytes(dir.path()).unwrap() >= 100_000);
        assert_eq!(
            disk_bytes(&dir.path().join("removed meanwhile")).unwrap(),
            0,
            "a directory gone counts nothing"
        );
    }

    #[test]
    fn peak_rss_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            reset_peak_rss();
            assert!(peak_rss_bytes() > 0);
        }
    }
}
