//! `INFO [section ...]`: Redis-style sections with CRLF line endings.
//!
//! Sections: `server` (with `redis_version:7.2.0` so tools accept the
//! server), `clients`, `memory` (the process's resident set; Folio has no
//! `maxmemory`), `persistence` (the last `SAVE`; the WAL's figures are in
//! `folio`), `stats`, `folio` (the engine's `Stats`: buffer pool, disk,
//! WAL), `pages` (the page store and the live compute nodes, when there is
//! a page store; `INFO folio` gives it too) and `keyspace`. No argument, `default`, `all` or
//! `everything` give every section.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::HandlerResult;
use crate::keyspace::unix_now_ms;
use crate::resp::Reply;
use crate::shared::Shared;

/// The Redis version this server answers like.
pub(super) const REDIS_VERSION: &str = "7.2.0";

/// `INFO [section ...]`.
pub(super) fn info(shared: &Shared, args: &[Bytes]) -> HandlerResult {
    let wanted: Vec<Vec<u8>> = args[1..].iter().map(|a| a.to_ascii_lowercase()).collect();
    let everything = wanted.is_empty()
        || wanted
            .iter()
            .any(|w| matches!(w.as_slice(), b"all" | b"default" | b"everything"));
    let include = |name: &str| everything || wanted.iter().any(|w| w == name.as_bytes());
    let mut sections = Vec::new();
    if include("server") {
        sections.push(server_section(shared));
    }
    if include("clients") {
        sections.push(clients_section(shared));
    }
    if include("memory") {
        sections.push(memory_section());
    }
    if include("persistence") {
        sections.push(persistence_section(shared));
    }
    if include("stats") {
        sections.push(stats_section(shared));
    }
    if include("folio") {
        sections.push(folio_section(shared));
    }
    // Folio's own figures include the page store's.
    if include("pages") || include("folio") {
        sections.extend(pages_section(shared));
    }
    if include("keyspace") {
        sections.push(keyspace_section(shared)?);
    }
    Ok(Reply::Text(sections.join("\r\n").into()))
}

/// Formats one section: a `# Title` line and `field:value` lines, each
/// ending in CRLF.
fn section(title: &str, fields: &[(&str, String)]) -> String {
    let mut text = format!("# {title}\r\n");
    for (name, value) in fields {
        // Writing to a String cannot fail.
        let _ = write!(text, "{name}:{value}\r\n");
    }
    text
}

fn server_section(shared: &Shared) -> String {
    let uptime = shared.started.elapsed().as_secs();
    section(
        "Server",
        &[
            ("redis_version", REDIS_VERSION.to_owned()),
            ("redis_mode", "standalone".to_owned()),
            ("folio_version", env!("CARGO_PKG_VERSION").to_owned()),
            ("folio_engine", shared.keys.store().engine_name().to_owned()),
            ("process_id", std::process::id().to_string()),
            ("tcp_port", shared.local_addr.port().to_string()),
            ("uptime_in_seconds", uptime.to_string()),
            ("uptime_in_days", (uptime / 86_400).to_string()),
        ],
    )
}

fn clients_section(shared: &Shared) -> String {
    section(
        "Clients",
        &[
            ("connected_clients", shared.connected_clients().to_string()),
            ("maxclients", shared.config.maxclients.to_string()),
        ],
    )
}

fn memory_section() -> String {
    let rss = resident_bytes().map_or_else(String::new, |b| b.to_string());
    section(
        "Memory",
        &[
            ("used_memory_rss", rss),
            ("maxmemory", "0".to_owned()),
            ("maxmemory_policy", "noeviction".to_owned()),
        ],
    )
}

/// The process's resident set in bytes (`VmRSS` of `/proc/self/status`),
/// where the system has it.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

fn persistence_section(shared: &Shared) -> String {
    let last_save = shared.last_save_unix.load(Ordering::Acquire);
    section(
        "Persistence",
        &[
            ("loading", "0".to_owned()),
            ("rdb_bgsave_in_progress", "0".to_owned()),
            ("rdb_last_save_time", last_save.to_string()),
            // `err` once a store refuses writes: the field monitoring
            // watches for a Redis that cannot persist.
            ("rdb_last_bgsave_status", save_status(shared).to_owned()),
            ("aof_enabled", "0".to_owned()),
            ("aof_rewrite_in_progress", "0".to_owned()),
        ],
    )
}

fn stats_section(shared: &Shared) -> String {
    let counters = &shared.counters;
    let load = |n: &std::sync::atomic::AtomicU64| n.load(Ordering::Relaxed).to_string();
    section(
        "Stats",
        &[
            (
                "total_connections_received",
                load(&counters.connections_received),
            ),
            (
                "total_commands_processed",
                load(&counters.commands_processed),
            ),
            ("rejected_connections", load(&counters.rejected_connections)),
            ("expired_keys", shared.keys.expired_keys().to_string()),
        ],
    )
}

/// `err` when the key or page store refuses writes until reopened, or its
/// last checkpoint failed (it will try again): what Redis says after a
/// failed `BGSAVE`.
fn save_status(shared: &Shared) -> &'static str {
    let failing = |stats: folio::Stats| stats.poisoned || stats.checkpoint_failed;
    let pages_failing = shared
        .pages
        .as_ref()
        .is_some_and(|pages| failing(pages.store().stats()));
    if failing(shared.keys.store().stats()) || pages_failing {
        "err"
    } else {
        "ok"
    }
}

fn folio_section(shared: &Shared) -> String {
    let stats = shared.keys.store().stats();
    section(
        "Folio",
        &[
            ("cache_hits", stats.cache_hits.to_string()),
            ("cache_misses", stats.cache_misses.to_string()),
            ("cache_evictions", stats.cache_evictions.to_string()),
            ("cache_writebacks", stats.cache_writebacks.to_string()),
            ("cache_frames", stats.cache_frames.to_string()),
            (
                "cache_allocated_frames",
                stats.cache_allocated_frames.to_string(),
            ),
            ("segments", stats.segments.to_string()),
            ("data_file_bytes", stats.data_file_bytes.to_string()),
            ("free_slots", stats.free_slots.to_string()),
            ("wal_lsn", stats.wal_lsn.to_string()),
            ("wal_fsyncs", stats.wal_fsyncs.to_string()),
            (
                "wal_rotations_unprepared",
                stats.wal_rotations_unprepared.to_string(),
            ),
            ("checkpoints", stats.checkpoints.to_string()),
            ("store_poisoned", u8::from(stats.poisoned).to_string()),
            (
                "checkpoint_failed",
                u8::from(stats.checkpoint_failed).to_string(),
            ),
        ],
    )
}

/// The page store's figures, when the server has one.
fn pages_section(shared: &Shared) -> Option<String> {
    let pages = shared.pages.as_ref()?;
    let stats = pages.stats();
    let engine = pages.store().stats();
    let horizon = pages
        .live_horizon()
        .map_or_else(String::new, |h| h.0.to_string());
    Some(section(
        "Pages",
        &[
            ("page_ids", stats.index.pages.to_string()),
            ("page_versions", stats.index.versions.to_string()),
            ("page_index_bytes", stats.index.memory_bytes.to_string()),
            ("vacuum_horizon", stats.vacuum_horizon.to_string()),
            ("vacuum_runs", stats.vacuums.to_string()),
            ("versions_vacuumed", stats.versions_vacuumed.to_string()),
            ("live_nodes", stats.live_nodes.to_string()),
            ("live_horizon", horizon),
            ("page_cache_hits", engine.cache_hits.to_string()),
            ("page_cache_misses", engine.cache_misses.to_string()),
            ("page_cache_frames", engine.cache_frames.to_string()),
            (
                "page_cache_allocated_frames",
                engine.cache_allocated_frames.to_string(),
            ),
        ],
    ))
}

fn keyspace_section(shared: &Shared) -> Result<String, folio::Error> {
    let now_ms = unix_now_ms();
    let keys = shared.keys.len(now_ms)?;
    let (expires, avg_ttl) = shared.keys.expiry_summary(now_ms);
    // Like Redis, an empty database gets no line.
    let fields = match keys {
        0 => Vec::new(),
        _ => vec![(
            "db0",
            format!("keys={keys},expires={expires},avg_ttl={avg_ttl}"),
        )],
    };
    Ok(section("Keyspace", &fields))
}
