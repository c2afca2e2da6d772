//! `include/folio.h` matches the library: the same functions with the same
//! number of parameters as the `extern "C"` functions of `src/lib.rs`, the
//! same status values as `src/status.rs`, and every declared function
//! exported by the built `libfolio.so`.

mod support;

use std::collections::BTreeMap;
use std::process::Command;

use support::{crate_dir, in_ci, library};

/// Function name -> parameter count.
type Signatures = BTreeMap<String, usize>;

fn read(relative: &str) -> String {
    let path = crate_dir().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The text with every `/* ... */` comment and preprocessor line removed.
fn strip_c(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("/*") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("*/").expect("an unterminated comment");
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Parameters between the first `(` of `text` and its matching `)`.
fn parameter_count(text: &str) -> usize {
    let open = text.find('(').expect("a parameter list");
    let close = open + text[open..].find(')').expect("a closing parenthesis");
    let list = text[open + 1..close].trim();
    if list.is_empty() || list == "void" {
        return 0;
    }
    list.split(',').filter(|p| !p.trim().is_empty()).count()
}

fn header_functions(header: &str) -> Signatures {
    let mut found = Signatures::new();
    for statement in strip_c(header).split(';') {
        let Some(at) = statement.find("kvstore_") else {
            continue;
        };
        let rest = &statement[at..];
        let Some(paren) = rest.find('(') else {
            continue; // the typedef
        };
        found.insert(rest[..paren].trim().to_string(), parameter_count(rest));
    }
    found
}

fn rust_functions(source: &str) -> Signatures {
    let mut found = Signatures::new();
    for piece in source.split("extern \"C\" fn ").skip(1) {
        let paren = piece.find('(').expect("a parameter list");
        found.insert(piece[..paren].trim().to_string(), parameter_count(piece));
    }
    found
}

fn header_defines(header: &str) -> BTreeMap<String, i64> {
    header
        .lines()
        .filter_map(|line| line.trim().strip_prefix("#define KVSTORE_"))
        .map(|rest| {
            let mut words = rest.split_whitespace();
            let name = words.next().unwrap().to_string();
            let value = words.next().unwrap().parse().unwrap();
            (name, value)
        })
        .collect()
}

fn rust_status_codes(source: &str) -> BTreeMap<String, i64> {
    source
        .lines()
        .filter_map(|line| line.trim().strip_prefix("pub const "))
        .filter_map(|rest| rest.split_once(": c_int = "))
        .map(|(name, value)| {
            let value = value.trim_end_matches(';').parse().unwrap();
            (name.to_string(), value)
        })
        .collect()
}

#[test]
fn header_declares_exactly_the_exported_functions() {
    let header = header_functions(&read("include/folio.h"));
    let rust = rust_functions(&read("src/lib.rs"));
    assert_eq!(header.len(), 10, "{header:?}");
    assert_eq!(header["kvstore_get_page"], 7, "{header:?}");
    assert_eq!(header, rust, "folio.h (left) against src/lib.rs (right)");
}

#[test]
fn header_status_values_match_the_library() {
    let header = header_defines(&read("include/folio.h"));
    let rust = rust_status_codes(&read("src/status.rs"));
    assert_eq!(header.len(), 9, "{header:?}");
    assert_eq!(header, rust, "folio.h (left) against src/status.rs (right)");
}

#[test]
fn shared_library_exports_the_header_functions() {
    let library = &library().cdylib;
    let output = match Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(library)
        .output()
    {
        Ok(output) => output,
        Err(e) if !in_ci() => return eprintln!("skipped: nm not runnable: {e}"),
        Err(e) => panic!("nm is needed in CI: {e}"),
    };
    assert!(
        output.status.success(),
        "nm {}: {output:?}",
        library.display()
    );
    let exported: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace().rev();
            let name = words.next()?;
            let kind = words.next()?;
            (kind == "T" && name.starts_with("kvstore_")).then(|| name.to_string())
        })
        .collect();
    let declared: Vec<String> = header_functions(&read("include/folio.h"))
        .into_keys()
        .collect();
    let mut exported = exported;
    exported.sort();
    assert_eq!(declared, exported, "folio.h (left) against nm -D (right)");
}
