//! `folio`: run the server, check a store, measure.
//!
//! - `folio serve [--config FILE] [--dir DIR] [--port PORT] ...` serves a
//!   store over the Redis protocol (`cargo run --release -- serve` uses the
//!   defaults; `folio.example.toml` shows the config file).
//! - `folio check --dir DIR` verifies a closed store (of either engine)
//!   and the page store in DIR/pages; exit 0 when sound, 1 when not, 2
//!   when a store could not be checked.
//! - `folio bench --workload ycsb,getpage,... --engine paged,memory,...`
//!   runs the same workloads on each engine and compares them;
//!   `folio bench --workload trace --trace FILE|DIR ...` replays
//!   page-reference traces through the replacement policies and Belady's
//!   optimum.

mod bench;
mod check;
mod config_file;
mod log_filter;
mod serve;

use std::process::ExitCode;

use anyhow::Context;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};

/// mimalloc: the server and the engine allocate per request (a command's
/// arguments, a value read out of the buffer pool, an index entry per
/// write); see docs/ARCHITECTURE.md for the measurement.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Folio: a crash-safe key-value and multi-version page store.
#[derive(Debug, Parser)]
#[command(name = "folio", version, about)]
struct Cli {
    /// Log filter: off, error, warn, info, debug, trace, or comma-separated
    /// `target=level` directives (e.g. `warn,folio=debug`).
    #[arg(long, global = true, default_value = "info", env = "FOLIO_LOG")]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve a store over the Redis protocol.
    Serve(serve::ServeArgs),
    /// Verify every checksum and structure of a closed store.
    Check(check::CheckArgs),
    /// Measure: engines side by side on page and key-value workloads, or
    /// replacement policies over page-reference traces.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let log_origin = log_level_origin(&matches);
    // `folio check` keeps 1 for "damaged": anything that stops it from
    // checking at all is 2, "cannot check".
    let mut failure = ExitCode::FAILURE;
    let result = match cli.command {
        Command::Serve(args) => serve(args, cli.log_level, &matches),
        Command::Check(args) => {
            failure = ExitCode::from(check::CANNOT_CHECK);
            init_logging(&cli.log_level, log_origin).and_then(|()| check::run(&args))
        }
        Command::Bench(args) => {
            // The bench's own processes log at this level when it was
            // asked for, or at `warn` (engine logs would break its table).
            let child_level = log_origin_given(&matches).then_some(cli.log_level.as_str());
            init_logging(&cli.log_level, log_origin)
                .and_then(|()| bench::run(&args, child_level.unwrap_or("warn")))
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("folio: {e:#}");
            failure
        }
    }
}

/// Where the log filter came from, to name it in an error.
fn log_level_origin(matches: &ArgMatches) -> &'static str {
    match matches.value_source("log_level") {
        Some(clap::parser::ValueSource::EnvVariable) => "FOLIO_LOG",
        _ => "--log-level",
    }
}

/// True when the log filter was asked for (flag or environment), not the
/// default.
fn log_origin_given(matches: &ArgMatches) -> bool {
    matches!(
        matches.value_source("log_level"),
        Some(clap::parser::ValueSource::CommandLine | clap::parser::ValueSource::EnvVariable)
    )
}

/// `folio serve`: the config file is merged before logging starts, so that
/// its `log_level` applies.
fn serve(
    args: serve::ServeArgs,
    log_level: String,
    matches: &ArgMatches,
) -> anyhow::Result<ExitCode> {
    let serve_matches = matches
        .subcommand_matches("serve")
        .context("no arguments for serve")?;
    let settings = serve::Settings::resolve(args, log_level, matches, serve_matches)?;
    init_logging(&settings.log_level, &settings.origin("log_level"))?;
    serve::run(settings)?;
    Ok(ExitCode::SUCCESS)
}

/// Starts logging through `filter`, or names the setting (`origin`) and
/// what is wrong with it.
fn init_logging(filter: &str, origin: &str) -> anyhow::Result<()> {
    let filter = log_filter::parse(filter)
        .map_err(|reason| anyhow::anyhow!("invalid {origin}: {reason}"))?;
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr)
        .init();
    Ok(())
}
