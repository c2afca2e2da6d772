//! `folio bench`: measurements run by the binary itself.
//!
//! Workloads so far: `trace` — the replacement-policy simulator over
//! page-reference traces (`trace`, `sim`). The engine workloads of the
//! benchmark issue (page-load, getpage, YCSB, durable-put,
//! larger-than-cache) are to come.

mod sim;
mod trace;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use folio::ReplacerKind;

use trace::Row;

/// `folio bench` arguments.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// What to measure.
    #[arg(long, value_enum)]
    workload: Workload,
    /// Trace files (one page number per line, `.gz` allowed), or
    /// directories whose `*.trace` and `*.trace.gz` files are all used.
    #[arg(long = "trace", required_if_eq("workload", "trace"), num_args = 1..)]
    traces: Vec<PathBuf>,
    /// Replacement policies to compare with the optimum, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "lru,clock")]
    policies: Vec<String>,
    /// Pool sizes, as percentages of each trace's distinct pages.
    #[arg(long, value_delimiter = ',', default_value = "1,5,10,25")]
    pool_percents: Vec<f64>,
    /// Print JSON instead of a Markdown table.
    #[arg(long)]
    json: bool,
}

/// The workloads of `folio bench`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Workload {
    /// Replay page-reference traces through the replacement policies.
    Trace,
}

/// Runs `folio bench`.
pub fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    match args.workload {
        Workload::Trace => run_traces(args),
    }
}

fn run_traces(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let policies = args
        .policies
        .iter()
        .map(|p| ReplacerKind::parse(p).map_err(anyhow::Error::from))
        .collect::<anyhow::Result<Vec<_>>>()?;
    for &percent in &args.pool_percents {
        if !(percent > 0.0 && percent <= 100.0) {
            bail!("pool percent {percent} is not in (0, 100]");
        }
    }
    let mut rows = Vec::new();
    for path in trace_files(&args.traces)? {
        let pages = trace::read_trace(&path)?;
        let name = trace::trace_name(&path);
        rows.extend(trace::simulate(
            &name,
            &pages,
            &args.pool_percents,
            &policies,
        ));
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&json_rows(&rows))?);
    } else {
        print!("{}", markdown_table(&rows, &policies));
    }
    Ok(ExitCode::SUCCESS)
}

/// The files named, directories expanded to their trace files (sorted).
fn trace_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("cannot list {}", path.display()))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| is_trace_file(p))
                .collect();
            found.sort();
            if found.is_empty() {
                bail!("no *.trace or *.trace.gz file in {}", path.display());
            }
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

fn is_trace_file(path: &Path) -> bool {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    name.ends_with(".trace") || name.ends_with(".trace.gz")
}

fn policy_name(kind: ReplacerKind) -> String {
    format!("{kind:?}").to_uppercase()
}

/// Hit ratios in percent, one row per trace and pool size.
fn markdown_table(rows: &[Row], policies: &[ReplacerKind]) -> String {
    let mut out = String::from("| trace | requests | distinct | pool | frames |");
    for &kind in policies {
        out.push_str(&format!(" {} hit % |", policy_name(kind)));
    }
    out.push_str(" OPT hit % |\n|---|---|---|---|---|");
    out.push_str(&"---|".repeat(policies.len() + 1));
    out.push('\n');
    for row in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {}% | {} |",
            row.trace, row.requests, row.distinct, row.pool_percent, row.frames
        ));
        for (_, ratio) in &row.policies {
            out.push_str(&format!(" {:.2} |", ratio * 100.0));
        }
        out.push_str(&format!(" {:.2} |\n", row.optimal * 100.0));
    }
    out
}

fn json_rows(rows: &[Row]) -> serde_json::Value {
    rows.iter()
        .map(|row| {
            let policies: serde_json::Map<String, serde_json::Value> = row
                .policies
                .iter()
                .map(|&(kind, ratio)| (policy_name(kind).to_lowercase(), ratio.into()))
                .collect();
            serde_json::json!({
                "trace": row.trace,
                "requests": row.requests,
                "distinct": row.distinct,
                "pool_percent": row.pool_percent,
                "frames": row.frames,
                "hit_ratio": policies,
                "optimal_hit_ratio": row.optimal,
            })
        })
        .collect()
}
