//! `folio bench --workload trace` end to end: a trace file in, a table or
//! JSON out, bad input refused with a message naming it.

use std::process::Command;

fn folio() -> Command {
    Command::new(env!("CARGO_BIN_EXE_folio"))
}

#[test]
fn a_loop_trace_gives_lru_nothing_and_opt_its_pool_fraction() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("loop.trace");
    let text: String = (0..1000).map(|i| format!("{}\n", i % 100)).collect();
    std::fs::write(&path, format!("*\n{text}")).unwrap();
    let out = folio()
        .args([
            "bench",
            "--workload",
            "trace",
            "--json",
            "--pool-percents",
            "10",
        ])
        .arg("--trace")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = &rows[0];
    assert_eq!(row["trace"], "loop");
    assert_eq!(row["requests"], 1000);
    assert_eq!(row["distinct"], 100);
    assert_eq!(row["frames"], 10);
    assert_eq!(row["hit_ratio"]["lru"], 0.0);
    assert_eq!(row["hit_ratio"]["clock"], 0.0);
    // OPT hits as many pages per pass as it has frames, in each of the 9
    // passes after the first (whose 100 misses are compulsory).
    let optimal = row["optimal_hit_ratio"].as_f64().unwrap();
    assert!((optimal - 0.09).abs() < 1e-9, "{optimal}");
}

#[test]
fn a_bad_trace_line_is_refused_naming_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.trace");
    std::fs::write(&path, "1\n2\nthree\n").unwrap();
    let out = folio()
        .args(["bench", "--workload", "trace", "--trace"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.trace line 3"), "{err}");
}
