//! `folio check --dir DIR`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use crate::serve::PAGES_DIR;

/// Arguments of `folio check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The store's directory (the store must be closed). The page store
    /// `folio serve` and the C library keep in DIR/pages is checked too.
    #[arg(long)]
    dir: PathBuf,
}

/// Exit code when a store could not be checked at all (none there, it is
/// open, an I/O error), as against 1: checked and found unsound.
pub const CANNOT_CHECK: u8 = 2;

/// What checking one directory came to, from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Sound,
    Unsound,
    CannotCheck,
}

/// Checks the store in DIR and the page store in DIR/pages when there is
/// one, printing a report of each; exit 0 when every one is sound, 1 when
/// a problem was found, 2 when a store could not be checked.
pub fn run(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let mut worst = check_one(&args.dir, false);
    let pages = args.dir.join(PAGES_DIR);
    if pages.is_dir() {
        worst = worst.max(check_one(&pages, true));
    }
    Ok(match worst {
        Outcome::Sound => ExitCode::SUCCESS,
        Outcome::Unsound => ExitCode::from(1),
        Outcome::CannotCheck => ExitCode::from(CANNOT_CHECK),
    })
}

/// Checks the store in `dir`; an `optional` one (the page store) may be
/// missing: its directory is made before the page store first opens.
fn check_one(dir: &Path, optional: bool) -> Outcome {
    let report = match folio::check(dir) {
        Ok(report) => report,
        Err(folio::Error::Io { source, .. })
            if optional && source.kind() == std::io::ErrorKind::NotFound =>
        {
            println!("{}: no store, skipped", dir.display());
            return Outcome::Sound;
        }
        Err(e) => {
            eprintln!("folio: cannot check the store in {}: {e}", dir.display());
            return Outcome::CannotCheck;
        }
    };
    for problem in &report.problems {
        println!("PROBLEM {problem}");
    }
    println!(
        "{}: {} segments, {} values ({} bytes) verified, {} problems",
        dir.display(),
        report.segments,
        report.keys_checked,
        report.bytes_checked,
        report.problems.len()
    );
    if report.is_sound() {
        Outcome::Sound
    } else {
        Outcome::Unsound
    }
}
