//! `folio serve`.
//!
//! Each setting comes from the first of: its flag on the command line (or
//! the flag's environment variable), the `--config` TOML file
//! ([`crate::config_file`]), the flag's default. Settings are validated once,
//! after merging, by [`validate`], whatever their source; only the value's
//! type is checked earlier (by clap for a flag, by serde for the file).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::{ArgMatches, Args};
use folio::page::key::page_store_config;
use folio::{Config, Durability, PageOptions, PageStore, ReplacerKind};

use crate::config_file::{self, FileSettings};

/// The page store's directory inside `--dir`.
pub(crate) const PAGES_DIR: &str = "pages";
/// Shortest liveness sweep interval accepted, from a flag or the file.
pub const MIN_LIVENESS_INTERVAL_MS: u64 = PageOptions::MIN_BACKGROUND_INTERVAL_MS;

/// Arguments of `folio serve`. Field names are the config file's keys.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TOML file of settings: any of the options below, in snake_case
    /// (cache_mib = 256), and log_level. An option given on the command
    /// line wins over the file; the file wins over the default.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory (created if missing).
    #[arg(long, default_value = "./folio-data")]
    pub dir: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
    /// TCP port.
    #[arg(long, default_value_t = 6379)]
    pub port: u16,
    /// Storage engine, by registry name.
    #[arg(long, default_value = "paged")]
    pub engine: String,
    /// Buffer-pool budget in MiB (of each of the two stores: keys and
    /// page versions).
    #[arg(long, default_value_t = 64)]
    pub cache_mib: usize,
    /// Page size in bytes for a new store (4096..=65536, a power of two).
    #[arg(long, default_value_t = 8192)]
    pub page_size: usize,
    /// Buffer-pool replacement policy: clock or lru.
    #[arg(long, default_value = "clock")]
    pub replacer: String,
    /// When a write is acknowledged: sync (after the WAL fsync; group
    /// commit), buffered (after the WAL write; fsync every
    /// --sync-interval-ms) or none (no WAL; a crash goes back to the last
    /// checkpoint).
    #[arg(long, default_value = "sync")]
    pub durability: String,
    /// With --durability buffered, milliseconds between WAL fsyncs.
    #[arg(long, default_value_t = 1000)]
    pub sync_interval_ms: u64,
    /// Most simultaneous client connections.
    #[arg(long, default_value_t = 10_000)]
    pub maxclients: usize,
    /// Threads that run client connections (0: one per CPU core). With
    /// clients on the same small host, 1 leaves them a core.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Password clients must give with AUTH before other commands.
    #[arg(long, env = "FOLIO_PASSWORD", hide_env_values = true)]
    pub requirepass: Option<String>,
    /// Page store: milliseconds between liveness sweeps (a compute node
    /// silent for two sweeps is declared failed); at least 100.
    #[arg(long, default_value_t = folio::liveness::DEFAULT_INTERVAL_MS,
          value_parser = clap::value_parser!(u64).range(MIN_LIVENESS_INTERVAL_MS..))]
    pub liveness_interval_ms: u64,
    /// Page store: milliseconds between background vacuums to the live
    /// horizon (0: only PAGE.VACUUM vacuums).
    #[arg(long, default_value_t = 10_000)]
    pub vacuum_interval_ms: u64,
}

/// Everything `folio serve` runs with: the merged settings and where the
/// file-given ones came from.
#[derive(Debug)]
pub struct Settings {
    /// The merged settings.
    pub args: ServeArgs,
    /// The merged log filter.
    pub log_level: String,
    /// The settings taken from the config file, if one was given.
    pub file: Option<FileSettings>,
}

impl Settings {
    /// Merges the `--config` file, if any, under the settings the command
    /// line gave: `matches` are the top-level matches (for the global
    /// `--log-level`), `serve` those of the `serve` subcommand.
    pub fn resolve(
        args: ServeArgs,
        log_level: String,
        matches: &ArgMatches,
        serve: &ArgMatches,
    ) -> anyhow::Result<Self> {
        let Some(path) = args.config.clone() else {
            return Ok(Settings {
                args,
                log_level,
                file: None,
            });
        };
        let text = config_file::read(&path)?;
        Self::with_file_text(args, log_level, matches, serve, &path, &text)
    }

    /// [`Settings::resolve`] with the config file's `text` already read.
    pub fn with_file_text(
        mut args: ServeArgs,
        mut log_level: String,
        matches: &ArgMatches,
        serve: &ArgMatches,
        path: &Path,
        text: &str,
    ) -> anyhow::Result<Self> {
        let given = |id: &str| given_explicitly(serve, id) || given_explicitly(matches, id);
        let file = config_file::merge(path, text, &mut args, &mut log_level, &given)?;
        Ok(Settings {
            args,
            log_level,
            file: Some(file),
        })
    }

    /// How an error message names the setting `key`: the file and line it
    /// came from, or its flag.
    pub fn origin(&self, key: &str) -> String {
        if let Some(file) = &self.file {
            if let Some(line) = file.line_of(key) {
                return format!("{key} ({}, line {line})", file.path().display());
            }
        }
        format!("--{}", key.replace('_', "-"))
    }
}

/// True when `id`'s value was typed on the command line or taken from its
/// environment variable (not a default, not absent).
fn given_explicitly(matches: &ArgMatches, id: &str) -> bool {
    use clap::parser::ValueSource;
    let known = matches.ids().any(|known| known.as_str() == id);
    known
        && matches!(
            matches.value_source(id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        )
}

/// A setting that cannot run a server: its key and why.
#[derive(Debug)]
pub struct Invalid {
    /// The setting's config-file key: its flag's name in snake_case.
    pub key: &'static str,
    /// What is wrong and what is allowed.
    pub reason: String,
}

/// The store, page store and server configurations the settings describe,
/// or the first setting that is out of range.
pub fn validate(
    args: &ServeArgs,
) -> Result<(Config, PageOptions, folio_server::ServerConfig), Invalid> {
    let config = store_config(args)?;
    if args.liveness_interval_ms < MIN_LIVENESS_INTERVAL_MS {
        return Err(Invalid {
            key: "liveness_interval_ms",
            reason: format!(
                "{} is less than {MIN_LIVENESS_INTERVAL_MS}",
                args.liveness_interval_ms
            ),
        });
    }
    if !folio::ENGINES.contains(&args.engine.as_str()) {
        return Err(Invalid {
            key: "engine",
            reason: format!(
                "{:?} is not one of: {}",
                args.engine,
                folio::ENGINES.join(", ")
            ),
        });
    }
    let mut pages = PageOptions::default();
    pages.liveness_interval_ms = args.liveness_interval_ms;
    pages.vacuum_interval_ms = args.vacuum_interval_ms;
    let server = folio_server::ServerConfig {
        bind: args.bind.clone(),
        port: args.port,
        maxclients: args.maxclients,
        requirepass: args.requirepass.clone(),
        threads: args.threads,
        ..folio_server::ServerConfig::default()
    };
    if let Err(folio_server::ServerError::InvalidConfig { field, reason }) = server.validate() {
        return Err(Invalid { key: field, reason });
    }
    Ok((config, pages, server))
}

/// The engine configuration, checked by the engine's own rules.
fn store_config(args: &ServeArgs) -> Result<Config, Invalid> {
    let parse_error = |key, e: folio::Error| Invalid {
        key,
        reason: match e {
            folio::Error::InvalidConfig { reason, .. } => reason,
            other => other.to_string(),
        },
    };
    let mut config = Config::default();
    config.cache_bytes = args.cache_mib.checked_mul(1 << 20).ok_or_else(|| Invalid {
        key: "cache_mib",
        reason: format!("{} MiB overflows", args.cache_mib),
    })?;
    config.page_bytes = args.page_size;
    // One MSET is one write batch: as many pairs as a request can carry,
    // where Redis takes them all (the engine's default is 100,000).
    config.max_batch_ops =
        usize::try_from(folio_server::resp::MAX_MULTIBULK_LEN / 2).unwrap_or(config.max_batch_ops);
    // Values must fit one segment less its header page, which is smaller
    // with larger pages.
    config.max_value_bytes = config
        .max_value_bytes
        .min(Config::value_ceiling(args.page_size));
    config.replacer =
        ReplacerKind::parse(&args.replacer).map_err(|e| parse_error("replacer", e))?;
    config.durability =
        Durability::parse(&args.durability).map_err(|e| parse_error("durability", e))?;
    config.sync_interval_ms = args.sync_interval_ms;
    // The engine's fields this command does not expose keep their valid
    // defaults, so the field at fault is one of those set above: each
    // named by its own key, the cache in MiB.
    match config.validate() {
        Ok(()) => Ok(config),
        Err(folio::Error::InvalidConfig { field, reason }) => Err(match field {
            "page_bytes" => Invalid {
                key: "page_size",
                reason,
            },
            "cache_bytes" => Invalid {
                key: "cache_mib",
                reason: format!(
                    "{} MiB is more than the buffer pool's {} pages of {} bytes ({} MiB)",
                    args.cache_mib,
                    folio::config::MAX_FRAMES,
                    config.page_bytes,
                    (folio::config::MAX_FRAMES as u128 * config.page_bytes as u128) >> 20
                ),
            },
            _ => Invalid { key: field, reason },
        }),
        Err(other) => Err(parse_error("page_size", other)),
    }
}

/// Opens the stores — keys in `dir`, page versions in `dir/pages` — and
/// serves them until SIGINT or SIGTERM.
pub fn run(settings: Settings) -> anyhow::Result<()> {
    let (config, page_options, server) = validate(&settings.args)
        .map_err(|e| anyhow::anyhow!("invalid {}: {}", settings.origin(e.key), e.reason))?;
    let args = settings.args;
    // Before the stores open: each of their segments holds a descriptor.
    // (`folio_server::run` raises it too, and fits maxclients to it.)
    let open_files_limit = folio_server::raise_open_files_limit();
    tracing::debug!(?open_files_limit, "open-file limit");
    let store = folio::open(&args.engine, &args.dir, &config)
        .with_context(|| format!("cannot open the store in {}", args.dir.display()))?;
    let pages_dir = args.dir.join(PAGES_DIR);
    let page_kv = folio::open(&args.engine, &pages_dir, &page_store_config(&config))
        .with_context(|| format!("cannot open the page store in {}", pages_dir.display()))?;
    let pages = PageStore::open(Arc::from(page_kv), page_options)
        .with_context(|| format!("cannot open the page store in {}", pages_dir.display()))?;
    tracing::info!(
        dir = %args.dir.display(),
        engine = %args.engine,
        durability = config.durability.name(),
        config = %settings.file.as_ref().map_or(Path::new("none"), |f| f.path()).display(),
        "store open"
    );
    let stores = folio_server::Stores::with_pages(Arc::from(store), Arc::new(pages));
    folio_server::run(stores, server)?;
    Ok(())
}
