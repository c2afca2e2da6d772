//! `folio`: run the server, check a store.
//!
//! - `folio serve [--dir DIR] [--port PORT] ...` serves a store over the
//!   Redis protocol (`cargo run --release -- serve` uses the defaults).
//! - `folio check --dir DIR` verifies a closed store; exit 0 when sound.

mod check;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Folio: a crash-safe key-value and multi-version page store.
#[derive(Debug, Parser)]
#[command(name = "folio", version, about)]
struct Cli {
    /// Log filter: error, warn, info, debug, trace (or a tracing filter).
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log_level);
    let result = match cli.command {
        Command::Serve(args) => serve::run(args).map(|()| ExitCode::SUCCESS),
        Command::Check(args) => check::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("folio: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr)
        .init();
}
