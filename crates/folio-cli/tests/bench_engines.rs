//! `folio bench` over engines end to end, at toy sizes: every workload on
//! every engine of this build, one result each, JSON and the plot written;
//! bad options refused with a message naming them.

use std::process::Command;

fn folio() -> Command {
    Command::new(env!("CARGO_BIN_EXE_folio"))
}

const TOY: &[&str] = &[
    "--records",
    "2000",
    "--ops",
    "500",
    "--durable-ops",
    "200",
    "--pages",
    "50",
    "--versions",
    "3",
    "--page-bytes",
    "4096",
    "--big-value-bytes",
    "1024",
    "--cache-mib",
    "1",
    "--durable-threads",
    "1,3",
    "--threads",
    "2",
];

#[test]
fn every_workload_runs_on_every_engine_and_reports_each_once() {
    let dir = tempfile::tempdir().unwrap();
    let plot = dir.path().join("bench.svg");
    let out = folio()
        .args([
            "bench",
            "--workload",
            "all",
            "--engine",
            "paged,memory",
            "--json",
        ])
        .args(TOY)
        .arg("--dir")
        .arg(dir.path())
        .arg("--plot")
        .arg(&plot)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = doc["results"].as_array().unwrap();
    let workloads = [
        "page-load",
        "getpage-uniform",
        "getpage-zipf",
        "ycsb-a",
        "ycsb-b",
        "ycsb-c",
        "ycsb-f",
        "durable-put-1",
        "durable-put-3",
        "larger-than-cache",
    ];
    assert_eq!(results.len(), workloads.len() * 2, "{results:#?}");
    for w in workloads {
        for engine in ["paged", "memory"] {
            let r = results
                .iter()
                .find(|r| r["workload"] == w && r["engine"] == engine)
                .unwrap_or_else(|| panic!("no {w} on {engine}"));
            assert!(r["ops"].as_u64().unwrap() > 0);
            assert!(r["ops_per_sec"].as_f64().unwrap() > 0.0);
            assert!(r["p50_us"].as_f64().unwrap() <= r["p999_us"].as_f64().unwrap());
            assert!(r["disk_bytes"].as_u64().unwrap() > 0, "{w} on {engine}");
            if engine == "paged" {
                assert_eq!(r["ratio_to_first"], 1.0);
            }
        }
    }
    assert_eq!(doc["settings"]["records"], 2000);
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("ycsb-a"));
    // The stores were made inside --dir and removed after the run.
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "only the plot is left: {left:?}");
}

#[test]
fn the_table_names_the_machine_and_settings() {
    let dir = tempfile::tempdir().unwrap();
    let out = folio()
        .args(["bench", "--workload", "ycsb-c", "--engine", "memory"])
        .args(TOY)
        .arg("--dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("machine: "), "{table}");
    assert!(table.contains("| ycsb-c | memory |"), "{table}");
}

#[test]
fn bad_options_are_refused_by_name() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--workload", "ycsb-c", "--engine", "nosuch"],
            "unknown engine \"nosuch\"",
        ),
        (
            &["--workload", "ycsb-c", "--value-bytes", "8"],
            "--value-bytes",
        ),
        (
            &["--workload", "ycsb-c", "--durability", "often"],
            "durability",
        ),
        (
            &["--workload", "trace,ycsb-c", "--trace", "x"],
            "runs alone",
        ),
        (&["--workload", "ycsb-c", "--ops", "0"], "--ops"),
        (&["--workload", "ycsb-c", "--threads", "0"], "--threads"),
    ];
    for (args, needle) in cases {
        let out = folio().arg("bench").args(*args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}
