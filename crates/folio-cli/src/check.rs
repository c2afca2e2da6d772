//! `folio check --dir DIR`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

/// Arguments of `folio check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The store's directory (the store must be closed).
    #[arg(long)]
    dir: PathBuf,
}

/// Checks the store and prints a report; exit 0 when sound, 1 when not.
pub fn run(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let report = folio::check(&args.dir)
        .with_context(|| format!("cannot check the store in {}", args.dir.display()))?;
    for problem in &report.problems {
        println!("PROBLEM {problem}");
    }
    println!(
        "{}: {} segments, {} values ({} bytes) verified, {} problems",
        args.dir.display(),
        report.segments,
        report.keys_checked,
        report.bytes_checked,
        report.problems.len()
    );
    Ok(if report.is_sound() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
