//! `include/folio.h` matches the library: the same functions with the same
//! return and parameter types as the `extern "C"` functions of `src/lib.rs`
//! (each C type translated to the Rust type that has its ABI), the same
//! status values as `src/status.rs`, and every declared function exported
//! by the built `libfolio.so`.

mod support;

use std::collections::BTreeMap;
use std::process::Command;

use support::{crate_dir, in_ci, library};

/// A function's return type and parameter types, as Rust spells them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Signature {
    returns: String,
    parameters: Vec<String>,
}

/// Function name -> signature.
type Signatures = BTreeMap<String, Signature>;

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

/// The parameters between the first `(` of `text` and its matching `)`,
/// and the text after the `)`.
fn parameter_list(text: &str) -> (Vec<&str>, &str) {
    let open = text.find('(').expect("a parameter list");
    let close = open + text[open..].find(')').expect("a closing parenthesis");
    let list = text[open + 1..close].trim();
    let parameters = if list.is_empty() || list == "void" {
        Vec::new()
    } else {
        list.split(',').map(str::trim).collect()
    };
    (parameters, &text[close + 1..])
}

/// The Rust type with the ABI of C type `c` (a declaration with or without
/// a name: `const void *key`, `void **`, `size_t`). Unknown names fail the
/// test, so a new type is translated on purpose.
fn rust_type(c: &str) -> String {
    let spaced = c.replace('*', " * ");
    let mut words: Vec<&str> = spaced.split_whitespace().collect();
    let is_type = |w: &str| {
        matches!(
            w,
            "const" | "*" | "char" | "void" | "int" | "size_t" | "uint64_t" | "kvstore"
        )
    };
    if words.len() > 1 && !is_type(words[words.len() - 1]) {
        words.pop(); // the parameter's name
    }
    let pointers = words.iter().filter(|w| **w == "*").count();
    let is_const = words.contains(&"const");
    let base: Vec<&str> = words
        .iter()
        .copied()
        .filter(|w| *w != "*" && *w != "const")
        .collect();
    let base = match base.as_slice() {
        ["char"] => "c_char",
        ["void"] if pointers == 0 => return "()".into(),
        ["void"] => "c_void",
        ["int"] => "c_int",
        ["size_t"] => "usize",
        ["uint64_t"] => "u64",
        ["kvstore"] => "Kvstore",
        other => panic!("no Rust type known for C {other:?} in {c:?}"),
    };
    // `const` binds to the innermost pointer's target (`const void **`
    // is not used; `void *const` neither).
    let mut rust = base.to_string();
    for level in 0..pointers {
        let qualifier = if level == 0 && is_const {
            "const"
        } else {
            "mut"
        };
        rust = format!("*{qualifier} {rust}");
    }
    rust
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
        let declaration_line = statement[..at].lines().last().unwrap_or("");
        let (parameters, _) = parameter_list(rest);
        let signature = Signature {
            returns: rust_type(declaration_line),
            parameters: parameters.into_iter().map(rust_type).collect(),
        };
        found.insert(rest[..paren].trim().to_string(), signature);
    }
    found
}

fn rust_functions(source: &str) -> Signatures {
    let mut found = Signatures::new();
    for piece in source.split("extern \"C\" fn ").skip(1) {
        let paren = piece.find('(').expect("a parameter list");
        let (parameters, after) = parameter_list(piece);
        let header = &after[..after.find('{').expect("a body")];
        let returns = header.trim().strip_prefix("->").map_or("()", str::trim);
        let parameters = parameters
            .into_iter()
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (_, ty) = p.split_once(':').expect("name: type");
                ty.split_whitespace().collect::<Vec<_>>().join(" ")
            })
            .collect();
        let signature = Signature {
            returns: returns.to_string(),
            parameters,
        };
        found.insert(piece[..paren].trim().to_string(), signature);
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
    assert_eq!(
        header["kvstore_get"],
        Signature {
            returns: "c_int".into(),
            parameters: [
                "*mut Kvstore",
                "*const c_void",
                "usize",
                "*mut *mut c_void",
                "*mut usize"
            ]
            .map(String::from)
            .to_vec(),
        }
    );
    assert_eq!(header["kvstore_get_page"].parameters.len(), 7);
    assert_eq!(header["kvstore_destroy"].returns, "()");
    assert_eq!(header["kvstore_last_error"].returns, "*const c_char");
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
