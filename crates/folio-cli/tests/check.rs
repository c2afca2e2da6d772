//! `folio check --dir DIR`, run as a process: both engines' stores, the
//! page store in DIR/pages, and the exit codes (0 sound, 1 damaged, 2
//! cannot check).

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::scratch;

fn check(dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_folio"))
        .args(["check", "--dir"])
        .arg(dir)
        .env_remove("FOLIO_LOG")
        .output()
        .expect("run folio check")
}

/// Creates a closed `engine` store in `dir` holding two values.
fn store(engine: &str, dir: &Path) {
    let store = folio::open(engine, dir, &folio::Config::default()).expect("open");
    store.put(b"a", &[7; 20_000]).expect("put");
    store.put(b"b", b"tiny").expect("put");
    store.close().expect("close");
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_sound_store_and_its_page_store_pass() {
    let dir = scratch("check-sound");
    store("paged", &dir);
    store("paged", &dir.join("pages"));
    let output = check(&dir);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert_eq!(
        text.matches("2 values (20004 bytes) verified, 0 problems")
            .count(),
        2,
        "{text}"
    );
    assert!(text.contains("pages:"), "the page store is checked: {text}");
}

#[test]
fn damage_in_the_page_store_fails_the_check() {
    let dir = scratch("check-damaged-pages");
    store("paged", &dir);
    store("paged", &dir.join("pages"));
    let segment = dir.join("pages").join("segment-00000000.folio");
    let mut bytes = std::fs::read(&segment).expect("read the segment");
    let last = bytes
        .iter()
        .rposition(|&b| b == 7)
        .expect("a byte of the value");
    bytes[last] ^= 0xff;
    std::fs::write(&segment, bytes).expect("write the segment");
    let output = check(&dir);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("PROBLEM") && text.contains("checksum mismatch"),
        "{text}"
    );
}

#[test]
fn an_empty_pages_directory_is_skipped() {
    let dir = scratch("check-empty-pages");
    store("paged", &dir);
    std::fs::create_dir(dir.join("pages")).expect("mkdir");
    let output = check(&dir);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("pages: no store, skipped"), "{text}");
}

#[test]
fn a_memory_store_is_checked() {
    let dir = scratch("check-memory");
    store("memory", &dir);
    let output = check(&dir);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(
        text.contains("2 values (20004 bytes) verified, 0 problems"),
        "{text}"
    );
}

#[test]
fn no_store_or_an_open_one_cannot_be_checked() {
    let dir = scratch("check-none");
    let output = check(&dir);
    assert_eq!(output.status.code(), Some(2));
    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(errors.contains("no store here"), "{errors}");

    let open = folio::open("paged", &dir, &folio::Config::default()).expect("open");
    let output = check(&dir);
    assert_eq!(output.status.code(), Some(2), "an open store is locked");
    open.close().expect("close");
}

/// A log filter that cannot be used stops the check before it starts:
/// "cannot check" (2), not "damaged" (1), naming the variable it came
/// from.
#[test]
fn a_bad_log_filter_cannot_check() {
    let dir = scratch("check-log");
    store("paged", &dir);
    let output = Command::new(env!("CARGO_BIN_EXE_folio"))
        .args(["check", "--dir"])
        .arg(&dir)
        .env("FOLIO_LOG", "warning")
        .output()
        .expect("run folio check");
    assert_eq!(output.status.code(), Some(2));
    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(errors.contains("invalid FOLIO_LOG"), "{errors}");
}
