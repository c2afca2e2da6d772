//! The engine workloads of `folio bench`: the same workloads on each
//! engine named, one after another, each engine and family of cases in a
//! child process of its own (`child`), with results compared as ratios to
//! the first engine (`report`, `plot`).

mod child;
mod measure;
mod pages;
mod plot;
mod report;
pub mod spec;
mod system;
mod values;
mod ycsb;
mod zipf;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{bail, Context};

pub use child::check_sizes;
use spec::{Case, CaseResult, Family, Settings, Spec};

/// A whole `folio bench` run over engines.
pub struct Plan {
    /// Engines, the first being the one ratios compare to.
    pub engines: Vec<String>,
    /// Cases, in the order asked.
    pub cases: Vec<Case>,
    /// Sizes and knobs.
    pub settings: Settings,
    /// Where the stores are made (a temporary directory inside it).
    pub dir: PathBuf,
    /// Print JSON instead of a table.
    pub json: bool,
    /// Draw the comparison into this SVG file.
    pub plot: Option<PathBuf>,
    /// The log filter of each engine's process.
    pub child_log_level: String,
}

/// Runs `plan` and prints the table (or JSON); draws the plot if asked.
pub fn run(plan: &Plan) -> anyhow::Result<ExitCode> {
    let known = folio_peers::engines();
    for engine in &plan.engines {
        if !known.contains(&engine.as_str()) {
            bail!(
                "unknown engine {engine:?}; this build has: {} (peers need `--features peers`)",
                known.join(", ")
            );
        }
    }
    let base = tempfile::Builder::new()
        .prefix("folio-bench-")
        .tempdir_in(&plan.dir)
        .with_context(|| format!("cannot make a directory in {}", plan.dir.display()))?;
    let mut results = Vec::new();
    for (n, cases) in families(&plan.cases).into_iter().enumerate() {
        for engine in &plan.engines {
            results.extend(run_on(
                engine,
                cases.clone(),
                plan,
                &base.path().join(format!("{n}-{engine}")),
            )?);
        }
    }
    let results = report::by_workload(results);
    let machine = report::Machine::read();
    if plan.json {
        println!("{}", report::json(&machine, &plan.settings, &results)?);
    } else {
        print!("{}", report::markdown(&machine, &plan.settings, &results));
    }
    if let Some(path) = &plan.plot {
        std::fs::write(path, plot::svg(&results))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The cases grouped by family, families in the order first asked.
fn families(cases: &[Case]) -> Vec<Vec<Case>> {
    let mut groups: Vec<(Family, Vec<Case>)> = Vec::new();
    for &case in cases {
        match groups.iter_mut().find(|(f, _)| *f == case.family()) {
            Some((_, group)) if !group.contains(&case) => group.push(case),
            Some(_) => {}
            None => groups.push((case.family(), vec![case])),
        }
    }
    groups.into_iter().map(|(_, g)| g).collect()
}

/// Runs one family on one engine in a child process.
fn run_on(
    engine: &str,
    cases: Vec<Case>,
    plan: &Plan,
    dir: &Path,
) -> anyhow::Result<Vec<CaseResult>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot make {}", dir.display()))?;
    let spec = Spec {
        engine: engine.to_string(),
        dir: dir.to_path_buf(),
        cases,
        settings: plan.settings.clone(),
    };
    let names: Vec<String> = spec.cases.iter().map(|c| c.name()).collect();
    let output = Command::new(std::env::current_exe().context("cannot find the folio binary")?)
        .args([
            "--log-level",
            &plan.child_log_level,
            "bench",
            "--child-spec",
        ])
        .arg(serde_json::to_string(&spec)?)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("cannot start a benchmark process")?;
    if !output.status.success() {
        bail!(
            "{} on {engine} failed ({}); its error is above",
            names.join(", "),
            output.status
        );
    }
    let results: Vec<CaseResult> =
        serde_json::from_slice(&output.stdout).context("a benchmark process printed no results")?;
    for r in &results {
        eprintln!(
            "{:<18} {:<8} {:>12.0} ops/s",
            r.workload, r.engine, r.ops_per_sec
        );
    }
    std::fs::remove_dir_all(dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    Ok(results)
}

/// The child side: runs the spec given as JSON and prints its results.
pub fn run_child(spec_json: &str) -> anyhow::Result<ExitCode> {
    let spec: Spec = serde_json::from_str(spec_json).context("bad --child-spec")?;
    let results = child::run(&spec).with_context(|| format!("engine {}", spec.engine))?;
    println!("{}", serde_json::to_string(&results)?);
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_keep_the_first_order_and_drop_repeats() {
        let groups = families(&[
            Case::YcsbC,
            Case::GetpageZipf,
            Case::YcsbA,
            Case::YcsbC,
            Case::DurablePut { threads: 1 },
            Case::DurablePut { threads: 4 },
        ]);
        assert_eq!(
            groups,
            vec![
                vec![Case::YcsbC, Case::YcsbA],
                vec![Case::GetpageZipf],
                vec![Case::DurablePut { threads: 1 }],
                vec![Case::DurablePut { threads: 4 }],
            ]
        );
    }
}
