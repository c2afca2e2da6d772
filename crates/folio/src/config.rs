//! Engine configuration: sizes, limits and policies, validated at open.

use crate::disk::SEGMENT_BYTES;
use crate::error::{Error, Result};

/// Smallest page size allowed.
pub const MIN_PAGE_BYTES: usize = 4 * 1024;
/// Largest page size allowed.
pub const MAX_PAGE_BYTES: usize = 64 * 1024;
/// Hard ceiling on `max_key_bytes` (keys are length-prefixed with a u32 in
/// the checkpoint, but keys live in memory in the index: keep them small).
pub const KEY_BYTES_CEILING: usize = 64 * 1024;
/// Smallest buffer pool, in frames.
pub const MIN_FRAMES: usize = 2;
/// Most buffer-pool frames (128 GiB of 8 KiB pages): frame headers are
/// allocated up front, and frame ids are 32-bit.
pub const MAX_FRAMES: usize = 1 << 24;
/// Bytes a batch's WAL record adds per operation (a tag and two lengths)
/// and once (the count), beside the keys and values.
const BATCH_RECORD_OP_BYTES: u128 = 9;
const BATCH_RECORD_BASE_BYTES: u128 = 4;

/// Which buffer-pool replacement policy to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ReplacerKind {
    /// Least recently used: exact recency order, a lock on every access.
    Lru,
    /// CLOCK second chance: a reference bit per frame, lock-free on hits.
    #[default]
    Clock,
}

impl ReplacerKind {
    /// Parses `"lru"` or `"clock"`.
    pub fn parse(text: &str) -> Result<Self> {
        match text.to_ascii_lowercase().as_str() {
            "lru" => Ok(ReplacerKind::Lru),
            "clock" => Ok(ReplacerKind::Clock),
            other => Err(Error::InvalidConfig {
                field: "replacer",
                reason: format!("{other:?} is not one of: lru, clock"),
            }),
        }
    }
}

/// When a write returns, and what a crash may take away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Durability {
    /// A write returns after the WAL fsync that covers it: a crash loses
    /// nothing acknowledged. Concurrent writers share fsyncs (group commit).
    #[default]
    Sync,
    /// A write returns once it is in the WAL file (the OS page cache); the
    /// WAL is fsynced every `sync_interval_ms`. A process crash loses
    /// nothing; a power loss may lose the last interval.
    Buffered,
    /// No WAL: a crash goes back to the last checkpoint (taken on `flush`,
    /// on close and periodically).
    None,
}

impl Durability {
    /// Parses `"sync"`, `"buffered"` or `"none"`.
    pub fn parse(text: &str) -> Result<Self> {
        match text.to_ascii_lowercase().as_str() {
            "sync" => Ok(Durability::Sync),
            "buffered" => Ok(Durability::Buffered),
            "none" => Ok(Durability::None),
            other => Err(Error::InvalidConfig {
                field: "durability",
                reason: format!("{other:?} is not one of: sync, buffered, none"),
            }),
        }
    }

    /// The name `parse` accepts.
    pub fn name(self) -> &'static str {
        match self {
            Durability::Sync => "sync",
            Durability::Buffered => "buffered",
            Durability::None => "none",
        }
    }
}

/// Smallest WAL file.
pub const MIN_WAL_FILE_BYTES: u64 = 64 * 1024;

/// Configuration of a store. Defaults suit page images of 8 KiB.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Page size in bytes, fixed when the store is created (4 KiB..=64 KiB,
    /// a power of two). An existing store keeps the page size it was created
    /// with, whatever this says.
    pub page_bytes: usize,
    /// Buffer-pool budget in bytes; the pool holds `cache_bytes / page_bytes`
    /// frames (at least [`MIN_FRAMES`]).
    pub cache_bytes: usize,
    /// Buffer-pool replacement policy.
    pub replacer: ReplacerKind,
    /// Longest key accepted, in bytes.
    pub max_key_bytes: usize,
    /// Longest value accepted, in bytes; at most one segment less its header.
    pub max_value_bytes: usize,
    /// Most operations in one write batch.
    pub max_batch_ops: usize,
    /// Most key and value bytes in one write batch.
    pub max_batch_bytes: usize,
    /// When writes return; see [`Durability`].
    pub durability: Durability,
    /// With `Durability::Buffered`, time between WAL fsyncs.
    pub sync_interval_ms: u64,
    /// Size of each WAL file (preallocated, then recycled).
    pub wal_file_bytes: u64,
    /// A checkpoint starts once this many bytes were logged since the last
    /// one, whole records counted, the log replayed at open included.
    /// Bounds recovery time (while checkpoints succeed: a memory-engine
    /// snapshot that fails is retried, and the log grows meanwhile).
    /// Without a WAL (`Durability::None`) it plays
    /// no part in the paged engine (no log to bound); the memory engine
    /// counts the bytes written instead.
    pub checkpoint_wal_bytes: u64,
    /// A checkpoint starts at least this often while there are writes;
    /// 0 turns the timer off.
    pub checkpoint_interval_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        let page_bytes = 8 * 1024;
        Config {
            page_bytes,
            cache_bytes: 64 * 1024 * 1024,
            replacer: ReplacerKind::default(),
            max_key_bytes: 4 * 1024,
            max_value_bytes: SEGMENT_BYTES - page_bytes,
            max_batch_ops: 100_000,
            max_batch_bytes: 64 * 1024 * 1024,
            durability: Durability::default(),
            sync_interval_ms: 1000,
            wal_file_bytes: 16 * 1024 * 1024,
            checkpoint_wal_bytes: 256 * 1024 * 1024,
            checkpoint_interval_ms: 300_000,
        }
    }
}

impl Config {
    /// The largest value a store with this page size can hold: one segment
    /// less its header page (0 for a page size no store can have, which
    /// [`Config::validate`] refuses).
    pub fn value_ceiling(page_bytes: usize) -> usize {
        SEGMENT_BYTES.saturating_sub(page_bytes)
    }

    /// Frames in the buffer pool.
    pub fn frames(&self) -> usize {
        (self.cache_bytes / self.page_bytes).max(MIN_FRAMES)
    }

    /// Sets a field from its text form, as given in `key=value` options.
    /// Sizes are in bytes; `cache_mib` is accepted as a convenience.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            "page_size" | "page_bytes" => self.page_bytes = parse_usize("page_bytes", value)?,
            "cache_bytes" => self.cache_bytes = parse_usize("cache_bytes", value)?,
            "cache_mib" => {
                let mib = parse_usize("cache_mib", value)?;
                self.cache_bytes =
                    mib.checked_mul(1024 * 1024)
                        .ok_or_else(|| Error::InvalidConfig {
                            field: "cache_mib",
                            reason: format!("{mib} MiB overflows"),
                        })?;
            }
            "replacer" => self.replacer = ReplacerKind::parse(value)?,
            "max_key_bytes" => self.max_key_bytes = parse_usize("max_key_bytes", value)?,
            "max_value_bytes" => self.max_value_bytes = parse_usize("max_value_bytes", value)?,
            "max_batch_ops" => self.max_batch_ops = parse_usize("max_batch_ops", value)?,
            "max_batch_bytes" => self.max_batch_bytes = parse_usize("max_batch_bytes", value)?,
            "durability" => self.durability = Durability::parse(value)?,
            "sync_interval_ms" => self.sync_interval_ms = parse_u64("sync_interval_ms", value)?,
            "wal_file_bytes" => self.wal_file_bytes = parse_u64("wal_file_bytes", value)?,
            "checkpoint_wal_bytes" => {
                self.checkpoint_wal_bytes = parse_u64("checkpoint_wal_bytes", value)?;
            }
            "checkpoint_interval_ms" => {
                self.checkpoint_interval_ms = parse_u64("checkpoint_interval_ms", value)?;
            }
            _ => {
                return Err(Error::InvalidConfig {
                    field: "options",
                    reason: format!("unknown option {key:?}"),
                })
            }
        }
        Ok(())
    }

    /// Checks every field against its allowed range.
    pub fn validate(&self) -> Result<()> {
        let p = self.page_bytes;
        check_page_bytes(p)?;
        if self.max_key_bytes > KEY_BYTES_CEILING {
            return invalid(
                "max_key_bytes",
                format!(
                    "{} exceeds the ceiling of {KEY_BYTES_CEILING}",
                    self.max_key_bytes
                ),
            );
        }
        let ceiling = Self::value_ceiling(p);
        if self.max_value_bytes > ceiling {
            return invalid(
                "max_value_bytes",
                format!(
                    "{} exceeds one segment less its header page ({ceiling})",
                    self.max_value_bytes
                ),
            );
        }
        if self.max_batch_ops == 0 || self.max_batch_bytes == 0 {
            return invalid(
                "max_batch_ops",
                "batch limits must be at least 1".to_string(),
            );
        }
        let frames = self.cache_bytes / p;
        if frames > MAX_FRAMES {
            return invalid(
                "cache_bytes",
                format!(
                    "{} bytes is {frames} pages of {p} bytes; the limit is {MAX_FRAMES} pages",
                    self.cache_bytes
                ),
            );
        }
        self.validate_batch_record()?;
        self.validate_wal()
    }

    /// A batch within the limits must fit one WAL record.
    fn validate_batch_record(&self) -> Result<()> {
        let max_record = crate::wal::MAX_PAYLOAD_BYTES as u128;
        let worst = BATCH_RECORD_BASE_BYTES
            + self.max_batch_bytes as u128
            + BATCH_RECORD_OP_BYTES * self.max_batch_ops as u128;
        if worst > max_record {
            return invalid(
                "max_batch_bytes",
                format!(
                    "{} bytes in up to {} operations make a WAL record of up to {worst} bytes; \
                     a record holds at most {max_record} (lower max_batch_bytes or max_batch_ops)",
                    self.max_batch_bytes, self.max_batch_ops
                ),
            );
        }
        Ok(())
    }

    fn validate_wal(&self) -> Result<()> {
        let max_record = crate::wal::MAX_PAYLOAD_BYTES as u64;
        if !(MIN_WAL_FILE_BYTES..=max_record * 4).contains(&self.wal_file_bytes) {
            return invalid(
                "wal_file_bytes",
                format!(
                    "{} is outside {MIN_WAL_FILE_BYTES}..={}",
                    self.wal_file_bytes,
                    max_record * 4
                ),
            );
        }
        if self.sync_interval_ms == 0 || self.sync_interval_ms > 3_600_000 {
            return invalid(
                "sync_interval_ms",
                format!("{} is outside 1..=3600000", self.sync_interval_ms),
            );
        }
        if self.checkpoint_wal_bytes == 0 {
            return invalid("checkpoint_wal_bytes", "must be at least 1".to_string());
        }
        Ok(())
    }
}

/// Checks a page size: a power of two in [`MIN_PAGE_BYTES`]..=[`MAX_PAGE_BYTES`].
pub fn check_page_bytes(p: usize) -> Result<()> {
    if !(MIN_PAGE_BYTES..=MAX_PAGE_BYTES).contains(&p) || !p.is_power_of_two() {
        return invalid(
            "page_bytes",
            format!("{p} is not a power of two in {MIN_PAGE_BYTES}..={MAX_PAGE_BYTES}"),
        );
    }
    Ok(())
}

fn parse_usize(field: &'static str, value: &str) -> Result<usize> {
    value.trim().parse().map_err(|_| Error::InvalidConfig {
        field,
        reason: format!("{value:?} is not a non-negative integer"),
    })
}

fn parse_u64(field: &'static str, value: &str) -> Result<u64> {
    value.trim().parse().map_err(|_| Error::InvalidConfig {
        field,
        reason: format!("{value:?} is not a non-negative integer"),
    })
}

fn invalid(field: &'static str, reason: String) -> Result<()> {
    Err(Error::InvalidConfig { field, reason })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        Config::default().validate().unwrap();
        assert_eq!(Config::default().max_value_bytes, 16 * 1024 * 1024 - 8192);
    }

    #[test]
    fn bad_page_sizes_are_refused() {
        for p in [0, 1024, 5000, 128 * 1024] {
            let c = Config {
                page_bytes: p,
                ..Config::default()
            };
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains("page_bytes"), "{err}");
        }
    }

    #[test]
    fn a_cache_or_batch_limit_the_engine_cannot_honour_is_refused() {
        let at = |key: &str, value: &str| {
            let mut c = Config::default();
            c.set(key, value).unwrap();
            c.validate()
        };
        // 2^24 frames of 8 KiB is the most; one more page is refused.
        at("cache_bytes", &(MAX_FRAMES * 8192).to_string()).unwrap();
        let err = at("cache_bytes", &((MAX_FRAMES + 1) * 8192).to_string()).unwrap_err();
        assert!(err.to_string().contains("cache_bytes"), "{err}");
        // A batch that could not fit one WAL record.
        let err = at("max_batch_bytes", &(256 * 1024 * 1024).to_string()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("max_batch_bytes") && text.contains("WAL record"),
            "{text}"
        );
        at("max_batch_bytes", &(128 * 1024 * 1024).to_string()).unwrap();
        assert!(at("max_batch_ops", "100000000").is_err());
    }

    #[test]
    fn set_parses_and_names_unknown_keys() {
        let mut c = Config::default();
        c.set("cache_mib", "2").unwrap();
        assert_eq!(c.cache_bytes, 2 << 20);
        c.set("replacer", "LRU").unwrap();
        assert_eq!(c.replacer, ReplacerKind::Lru);
        let err = c.set("colour", "blue").unwrap_err().to_string();
        assert!(err.contains("colour"), "{err}");
        assert!(c.set("page_size", "abc").is_err());
        c.set("durability", "Buffered").unwrap();
        assert_eq!(c.durability, Durability::Buffered);
        let err = c.set("durability", "maybe").unwrap_err().to_string();
        assert!(err.contains("sync, buffered, none"), "{err}");
        c.set("wal_file_bytes", "100").unwrap();
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("wal_file_bytes"), "{err}");
    }
}
