//! `folio bench`: measurements run by the binary itself.
//!
//! - `--workload trace`: the replacement-policy simulator over
//!   page-reference traces (`trace`, `sim`).
//! - every other workload runs on real engines (`engines`): the same
//!   workload on each engine of `--engine`, one after another, compared as
//!   ratios to the first.

mod engines;
mod sim;
mod trace;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, ensure, Context};
use clap::{Args, ValueEnum};
use folio::ReplacerKind;

use engines::spec::{Case, Settings};
use trace::Row;

/// Largest `--cache-mib`: the buffer pool's most frames of the default
/// 8 KiB page (128 GiB).
const MAX_CACHE_MIB: usize = (folio::config::MAX_FRAMES * 8192) >> 20;

/// `folio bench` arguments.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// What to measure, comma-separated: trace (alone), or engine
    /// workloads.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        required_unless_present = "child_spec"
    )]
    workload: Vec<Workload>,
    /// Engines to compare, comma-separated; ratios are to the first.
    #[arg(long, value_delimiter = ',', default_value = "paged,memory")]
    engine: Vec<String>,
    /// Worker threads of every workload but durable-put (default: the
    /// processors available).
    #[arg(long)]
    threads: Option<usize>,
    /// Thread counts of durable-put, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,4,16")]
    durable_threads: Vec<usize>,
    /// Operations per measured case but durable-put and page-load, which
    /// always puts --pages x --versions (default: per workload: getpage
    /// and larger-than-cache 200000, ycsb 500000).
    #[arg(long)]
    ops: Option<u64>,
    /// Operations of each durable-put case (each one an fsync'd write).
    #[arg(long, default_value_t = 10_000)]
    durable_ops: u64,
    /// YCSB records (16-byte keys).
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    /// YCSB and durable-put value bytes.
    #[arg(long, default_value_t = 100)]
    value_bytes: usize,
    /// Pages of page-load and getpage.
    #[arg(long, default_value_t = 8192)]
    pages: u64,
    /// Versions per page.
    #[arg(long, default_value_t = 4)]
    versions: u64,
    /// Page image bytes.
    #[arg(long, default_value_t = 8192)]
    page_bytes: usize,
    /// Value bytes of larger-than-cache (its record count makes the data
    /// four times the cache budget).
    #[arg(long, default_value_t = 4096)]
    big_value_bytes: usize,
    /// Cache budget of every engine, in MiB.
    #[arg(long, default_value_t = 64)]
    cache_mib: usize,
    /// Durability of every workload but durable-put (always sync).
    #[arg(long, default_value = "buffered")]
    durability: String,
    /// Seed of every random choice and value.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Directory the stores are made in (a temporary directory inside it,
    /// removed after the run).
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// Draw the engine comparison into this SVG file.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Trace files (one page number per line, `.gz` allowed), or
    /// directories whose `*.trace` and `*.trace.gz` files are all used.
    #[arg(long = "trace", num_args = 1..)]
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
    /// Internal: run one engine's cases in this process (set by the parent
    /// run).
    #[arg(long, hide = true)]
    child_spec: Option<String>,
}

/// The workloads of `folio bench`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Workload {
    /// Replay page-reference traces through the replacement policies.
    Trace,
    /// Pages x versions of 8 KiB images through the page store.
    PageLoad,
    /// GetPage@LSN, uniform and zipfian page choice.
    Getpage,
    /// GetPage@LSN, uniform page choice.
    GetpageUniform,
    /// GetPage@LSN, zipfian (0.99) page choice.
    GetpageZipf,
    /// YCSB workloads A, B, C and F.
    Ycsb,
    /// YCSB A: 50% reads, 50% updates.
    YcsbA,
    /// YCSB B: 95% reads, 5% updates.
    YcsbB,
    /// YCSB C: reads only.
    YcsbC,
    /// YCSB F: 50% reads, 50% read-modify-writes.
    YcsbF,
    /// Durable puts on each of --durable-threads.
    DurablePut,
    /// Zipfian reads over data four times the cache budget.
    LargerThanCache,
    /// Every engine workload.
    All,
}

impl Workload {
    fn cases(self, durable_threads: &[usize]) -> Vec<Case> {
        match self {
            Workload::Trace => Vec::new(),
            Workload::PageLoad => vec![Case::PageLoad],
            Workload::Getpage => vec![Case::GetpageUniform, Case::GetpageZipf],
            Workload::GetpageUniform => vec![Case::GetpageUniform],
            Workload::GetpageZipf => vec![Case::GetpageZipf],
            Workload::Ycsb => vec![Case::YcsbA, Case::YcsbB, Case::YcsbC, Case::YcsbF],
            Workload::YcsbA => vec![Case::YcsbA],
            Workload::YcsbB => vec![Case::YcsbB],
            Workload::YcsbC => vec![Case::YcsbC],
            Workload::YcsbF => vec![Case::YcsbF],
            Workload::DurablePut => durable_threads
                .iter()
                .map(|&threads| Case::DurablePut { threads })
                .collect(),
            Workload::LargerThanCache => vec![Case::LargerThanCache],
            Workload::All => [
                Workload::PageLoad,
                Workload::Getpage,
                Workload::Ycsb,
                Workload::DurablePut,
                Workload::LargerThanCache,
            ]
            .iter()
            .flat_map(|w| w.cases(durable_threads))
            .collect(),
        }
    }
}

/// Runs `folio bench`; the engines' processes log at `child_log_level`.
pub fn run(args: &BenchArgs, child_log_level: &str) -> anyhow::Result<ExitCode> {
    if let Some(spec) = &args.child_spec {
        return engines::run_child(spec);
    }
    if args.workload.contains(&Workload::Trace) {
        ensure!(
            args.workload == [Workload::Trace],
            "the trace workload runs alone, not with engine workloads"
        );
        ensure!(
            !args.traces.is_empty(),
            "the trace workload needs --trace FILE|DIR"
        );
        ensure!(
            args.plot.is_none(),
            "--plot draws the engine workloads; the trace workload prints a table"
        );
        return run_traces(args);
    }
    ensure!(
        args.traces.is_empty(),
        "--trace is read by --workload trace only"
    );
    engines::run(&plan(args, child_log_level)?)
}

/// The engine run `args` ask for, checked.
fn plan(args: &BenchArgs, child_log_level: &str) -> anyhow::Result<engines::Plan> {
    let cases: Vec<Case> = args
        .workload
        .iter()
        .flat_map(|w| w.cases(&args.durable_threads))
        .collect();
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    ensure!(
        (1..=1024).contains(&threads),
        "--threads {threads}: must be 1..=1024"
    );
    for &t in &args.durable_threads {
        ensure!(
            (1..=1024).contains(&t),
            "--durable-threads {t}: must be 1..=1024"
        );
    }
    ensure!(
        args.records > 0 && args.pages > 0 && args.versions > 0,
        "--records, --pages and --versions must be positive"
    );
    ensure!(args.ops != Some(0), "--ops must be positive");
    ensure!(args.durable_ops > 0, "--durable-ops must be positive");
    ensure!(
        (1..=MAX_CACHE_MIB).contains(&args.cache_mib),
        "--cache-mib {}: must be 1..={MAX_CACHE_MIB}",
        args.cache_mib
    );
    engines::check_sizes(args.value_bytes, "--value-bytes")?;
    engines::check_sizes(args.page_bytes, "--page-bytes")?;
    engines::check_sizes(args.big_value_bytes, "--big-value-bytes")?;
    folio::Durability::parse(&args.durability)?;
    Ok(engines::Plan {
        engines: args.engine.clone(),
        cases,
        settings: Settings {
            threads,
            ops: args.ops,
            durable_ops: args.durable_ops,
            records: args.records,
            value_bytes: args.value_bytes,
            pages: args.pages,
            versions: args.versions,
            page_bytes: args.page_bytes,
            big_value_bytes: args.big_value_bytes,
            cache_mib: args.cache_mib,
            durability: args.durability.clone(),
            seed: args.seed,
        },
        dir: args.dir.clone(),
        json: args.json,
        plot: args.plot.clone(),
        child_log_level: child_log_level.to_owned(),
    })
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
