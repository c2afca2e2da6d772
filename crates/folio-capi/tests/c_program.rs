//! Builds the C test program (`tests/c/kvstore_test.c`) with the system C
//! compiler against the library and runs it once per engine of this build:
//! natively (linked with `libfolio.a`), under valgrind (leaks and invalid
//! accesses fail it; in CI a missing valgrind fails the test), and linked
//! with `libfolio.so` through the pkg-config template.
//!
//! Environment: `FOLIO_CAPI_OPS` (default 3000) random operations of the
//! native run, `FOLIO_CAPI_VALGRIND_OPS` (default 200) of the others,
//! `FOLIO_SEED` to replay a seed, `CC` for the compiler (default `cc`).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::{crate_dir, in_ci, library};

/// Longest a run may take before it counts as hung.
const DEADLINE: Duration = Duration::from_secs(600);

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}={v:?} is not a number"))
        })
        .unwrap_or(default)
}

fn seed() -> u64 {
    let seed = std::env::var("FOLIO_SEED").map_or_else(
        |_| {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            now.map_or(1, |d| d.subsec_nanos().into())
        },
        |v| v.parse().expect("FOLIO_SEED is a number"),
    );
    eprintln!("FOLIO_SEED={seed}");
    seed
}

/// Compiles the test program into `dir`, with `link` naming the library.
fn compile(dir: &Path, link: &[String]) -> PathBuf {
    let program = dir.join("kvstore_test");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let output = Command::new(&cc)
        .args([
            "-std=c11", "-Wall", "-Wextra", "-Werror", "-pthread", "-g", "-O1",
        ])
        .arg("-I")
        .arg(crate_dir().join("include"))
        .arg(crate_dir().join("tests/c/kvstore_test.c"))
        .args(link)
        .arg("-o")
        .arg(&program)
        .output()
        .unwrap_or_else(|e| panic!("{cc} runs: {e}"));
    assert_success(&output, "compiling tests/c/kvstore_test.c");
    program
}

fn static_link() -> Vec<String> {
    let mut args = vec![library().staticlib.display().to_string()];
    args.extend(["-lpthread", "-ldl", "-lm"].map(String::from));
    args
}

/// Runs `wrapper... program DIR ENGINE OPS SEED` for every engine; the
/// wrapper is a command such as valgrind, or nothing.
fn run_each_engine(wrapper: &[&str], program: &Path, ops: u64) {
    let seed = seed();
    for engine in folio::ENGINES {
        let dir = tempfile::tempdir().unwrap();
        let mut command = match wrapper.split_first() {
            Some((tool, args)) => {
                let mut command = Command::new(tool);
                command.args(args).arg(program);
                command
            }
            None => Command::new(program),
        };
        command.arg(dir.path()).arg(engine);
        command.arg(ops.to_string()).arg(seed.to_string());
        let output = run_with_deadline(command);
        assert_success(&output, &format!("kvstore_test, engine {engine}"));
        eprint!("{}", String::from_utf8_lossy(&output.stdout));
    }
}

fn run_with_deadline(mut command: Command) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{command:?} starts: {e}"));
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("{command:?} ran past {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

fn assert_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// True when `tool --version` runs; in CI a missing tool fails the test.
fn tool_present(tool: &str) -> bool {
    let present = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        present || !in_ci(),
        "{tool} is needed in CI (.ci/run installs it)"
    );
    if !present {
        eprintln!("skipped: {tool} is not installed");
    }
    present
}

#[test]
fn c_program_passes_on_every_engine() {
    let dir = tempfile::tempdir().unwrap();
    let program = compile(dir.path(), &static_link());
    run_each_engine(&[], &program, env_number("FOLIO_CAPI_OPS", 3000));
}

#[test]
fn c_program_is_clean_under_valgrind() {
    if !tool_present("valgrind") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let program = compile(dir.path(), &static_link());
    let valgrind = [
        "valgrind",
        "-q",
        "--error-exitcode=1",
        "--leak-check=full",
        "--errors-for-leak-kinds=definite,indirect",
        "--show-leak-kinds=definite,indirect",
    ];
    run_each_engine(
        &valgrind,
        &program,
        env_number("FOLIO_CAPI_VALGRIND_OPS", 200),
    );
}

/// The README's recipe: install into a prefix, compile with pkg-config's
/// flags, run against `libfolio.so`.
#[test]
fn c_program_links_the_shared_library_through_pkg_config() {
    if !tool_present("pkg-config") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("prefix");
    let pkgconfig = prefix.join("lib/pkgconfig");
    std::fs::create_dir_all(&pkgconfig).unwrap();
    std::fs::create_dir_all(prefix.join("include")).unwrap();
    std::os::unix::fs::symlink(&library().cdylib, prefix.join("lib/libfolio.so")).unwrap();
    std::fs::copy(
        crate_dir().join("include/folio.h"),
        prefix.join("include/folio.h"),
    )
    .unwrap();
    let template = std::fs::read_to_string(crate_dir().join("folio.pc.in")).unwrap();
    let pc = template
        .replace("@PREFIX@", &prefix.display().to_string())
        .replace("@VERSION@", env!("CARGO_PKG_VERSION"));
    std::fs::write(pkgconfig.join("folio.pc"), pc).unwrap();

    let flags = |extra: &[&str]| {
        let output = Command::new("pkg-config")
            .env("PKG_CONFIG_PATH", &pkgconfig)
            .args(extra)
            .args(["--cflags", "--libs", "folio"])
            .output()
            .unwrap();
        assert_success(&output, "pkg-config");
        String::from_utf8(output.stdout).unwrap()
    };
    let shared = flags(&[]);
    assert!(shared.contains("-lfolio"), "{shared}");
    assert!(flags(&["--static"]).contains("-ldl"), "Libs.private");

    let mut link: Vec<String> = shared.split_whitespace().map(str::to_string).collect();
    link.push(format!("-Wl,-rpath,{}", prefix.join("lib").display()));
    let program = compile(dir.path(), &link);
    let ldd = Command::new("ldd").arg(&program).output();
    if let Ok(ldd) = ldd {
        let text = String::from_utf8_lossy(&ldd.stdout);
        assert!(
            text.contains("libfolio.so"),
            "not linked dynamically:\n{text}"
        );
    }
    run_each_engine(&[], &program, env_number("FOLIO_CAPI_VALGRIND_OPS", 200));
}
