//! What the integration tests share: the built library.
//!
//! Cargo does not build a library that has no rlib for the package's
//! integration tests (they cannot link it), so the tests build it
//! themselves: `cargo build -p folio-capi` in the same target directory and
//! profile (cargo released its lock before running the tests; with the
//! library already built this is a no-op taking a fraction of a second).
//! The artifacts' paths come from cargo's JSON messages.

#![allow(dead_code)] // each test file uses part of this

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The library files of this build.
#[derive(Debug)]
pub struct Library {
    /// `libfolio.a`.
    pub staticlib: PathBuf,
    /// `libfolio.so`.
    pub cdylib: PathBuf,
}

/// Builds the library once per test process and returns its files.
pub fn library() -> &'static Library {
    static LIBRARY: OnceLock<Library> = OnceLock::new();
    LIBRARY.get_or_init(build)
}

fn build() -> Library {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut command = Command::new(cargo);
    command
        .args([
            "build",
            "-p",
            "folio-capi",
            "--message-format=json-render-diagnostics",
        ])
        .arg("--manifest-path")
        .arg(crate_dir().join("Cargo.toml"));
    if release_build() {
        command.arg("--release");
    }
    let output = command.output().expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo build -p folio-capi failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let messages = String::from_utf8_lossy(&output.stdout);
    Library {
        staticlib: artifact(&messages, "libfolio.a"),
        cdylib: artifact(&messages, "libfolio.so"),
    }
}

/// True when this test executable was built with the release profile.
fn release_build() -> bool {
    let exe = std::env::current_exe().expect("the test executable's path");
    // target/<profile>/deps/<test>
    exe.parent()
        .and_then(|deps| deps.parent())
        .and_then(|profile| profile.file_name())
        .is_some_and(|name| name == "release")
}

/// The path in cargo's JSON messages that ends in `/name`.
fn artifact(messages: &str, name: &str) -> PathBuf {
    let suffix = format!("/{name}");
    messages
        .split('"')
        .find(|text| text.ends_with(&suffix))
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("cargo reported no {name}:\n{messages}"))
}

/// The crate's directory.
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// True when the test runs in CI, where a missing tool is a failure.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}
