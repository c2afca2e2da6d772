//! `folio serve`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use folio::{Config, Durability, PageOptions, PageStore, ReplacerKind};

/// The page store's directory inside `--dir`.
const PAGES_DIR: &str = "pages";

/// Arguments of `folio serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Data directory (created if missing).
    #[arg(long, default_value = "./folio-data")]
    dir: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
    /// TCP port.
    #[arg(long, default_value_t = 6379)]
    port: u16,
    /// Storage engine, by registry name.
    #[arg(long, default_value = "paged")]
    engine: String,
    /// Buffer-pool budget in MiB (of each of the two stores: keys and
    /// page versions).
    #[arg(long, default_value_t = 64)]
    cache_mib: usize,
    /// Page size in bytes for a new store (4096..=65536, a power of two).
    #[arg(long, default_value_t = 8192)]
    page_size: usize,
    /// Buffer-pool replacement policy: clock or lru.
    #[arg(long, default_value = "clock")]
    replacer: String,
    /// When a write is acknowledged: sync (after the WAL fsync; group
    /// commit), buffered (after the WAL write; fsync every
    /// --sync-interval-ms) or none (no WAL; a crash goes back to the last
    /// checkpoint).
    #[arg(long, default_value = "sync")]
    durability: String,
    /// With --durability buffered, milliseconds between WAL fsyncs.
    #[arg(long, default_value_t = 1000)]
    sync_interval_ms: u64,
    /// Most simultaneous client connections.
    #[arg(long, default_value_t = 10_000)]
    maxclients: usize,
    /// Password clients must give with AUTH before other commands.
    #[arg(long, env = "FOLIO_PASSWORD", hide_env_values = true)]
    requirepass: Option<String>,
    /// Page store: milliseconds between liveness sweeps (a compute node
    /// silent for two sweeps is declared failed).
    #[arg(long, default_value_t = folio::liveness::DEFAULT_INTERVAL_MS,
          value_parser = clap::value_parser!(u64).range(100..))]
    liveness_interval_ms: u64,
    /// Page store: milliseconds between background vacuums to the live
    /// horizon (0: only PAGE.VACUUM vacuums).
    #[arg(long, default_value_t = 10_000)]
    vacuum_interval_ms: u64,
}

/// Opens the stores — keys in `--dir`, page versions in `--dir/pages` —
/// and serves them until SIGINT or SIGTERM.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = Config::default();
    config.cache_bytes = args
        .cache_mib
        .checked_mul(1 << 20)
        .context("--cache-mib is too large")?;
    config.page_bytes = args.page_size;
    config.replacer = ReplacerKind::parse(&args.replacer)?;
    config.durability = Durability::parse(&args.durability)?;
    config.sync_interval_ms = args.sync_interval_ms;
    let store = folio::open(&args.engine, &args.dir, &config)
        .with_context(|| format!("cannot open the store in {}", args.dir.display()))?;
    let pages_dir = args.dir.join(PAGES_DIR);
    let page_kv = folio::open(&args.engine, &pages_dir, &config)
        .with_context(|| format!("cannot open the page store in {}", pages_dir.display()))?;
    let mut page_options = PageOptions::default();
    page_options.liveness_interval_ms = args.liveness_interval_ms;
    page_options.vacuum_interval_ms = args.vacuum_interval_ms;
    let pages = PageStore::open(Arc::from(page_kv), page_options)
        .with_context(|| format!("cannot open the page store in {}", pages_dir.display()))?;
    tracing::info!(
        dir = %args.dir.display(),
        engine = %args.engine,
        durability = config.durability.name(),
        "store open"
    );
    let server = folio_server::ServerConfig {
        bind: args.bind,
        port: args.port,
        maxclients: args.maxclients,
        requirepass: args.requirepass,
        ..folio_server::ServerConfig::default()
    };
    let stores = folio_server::Stores::with_pages(Arc::from(store), Arc::new(pages));
    folio_server::run(stores, server)?;
    Ok(())
}
