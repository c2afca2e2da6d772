//! The results as a Markdown table or JSON, with ratios to the first
//! engine of each workload.

use super::spec::{CaseResult, Settings};

/// The machine a run was on, as the system reports it.
#[derive(Debug, serde::Serialize)]
pub struct Machine {
    /// Processor model.
    pub cpu: String,
    /// Logical processors this process may use.
    pub cpus: usize,
    /// Memory in GiB.
    pub memory_gib: f64,
    /// Operating system.
    pub os: String,
}

impl Machine {
    /// Reads `/proc/cpuinfo` and `/proc/meminfo` (blank elsewhere).
    pub fn read() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_string())
            .unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let kib: u64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0);
        Machine {
            cpu,
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
            memory_gib: to_mib(kib * 1024) / 1024.0,
            os: std::env::consts::OS.to_string(),
        }
    }
}

/// The results ordered by workload (in order of first appearance), each
/// workload's engines in the order they ran.
pub fn by_workload(results: Vec<CaseResult>) -> Vec<CaseResult> {
    let mut order: Vec<String> = Vec::new();
    for r in &results {
        if !order.contains(&r.workload) {
            order.push(r.workload.clone());
        }
    }
    let mut sorted = results;
    sorted.sort_by_key(|r| order.iter().position(|w| *w == r.workload));
    sorted
}

/// `ops_per_sec` of `r` over that of the first result of its workload.
pub fn ratio(results: &[CaseResult], r: &CaseResult) -> f64 {
    let first = results
        .iter()
        .find(|x| x.workload == r.workload)
        .map_or(r.ops_per_sec, |x| x.ops_per_sec);
    r.ops_per_sec / first.max(f64::MIN_POSITIVE)
}

#[allow(clippy::cast_precision_loss)] // sizes far below 2^52
fn to_mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The table, headed by the machine and the settings.
pub fn markdown(machine: &Machine, s: &Settings, results: &[CaseResult]) -> String {
    let mut out = format!(
        "machine: {} ({} cpus, {:.1} GiB, {})\nsettings: threads {}, cache {} MiB, durability {}, \
         records {} x {} B, pages {} x {} versions x {} B, seed {}\n\n",
        machine.cpu,
        machine.cpus,
        machine.memory_gib,
        machine.os,
        s.threads,
        s.cache_mib,
        s.durability,
        s.records,
        s.value_bytes,
        s.pages,
        s.versions,
        s.page_bytes,
        s.seed
    );
    out.push_str(
        "| workload | engine | ops/s | vs first | p50 us | p99 us | p99.9 us | disk MiB | peak RSS MiB |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in results {
        out.push_str(&format!(
            "| {} | {} | {:.0} | {:.2} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |\n",
            r.workload,
            r.engine,
            r.ops_per_sec,
            ratio(results, r),
            r.p50_us,
            r.p99_us,
            r.p999_us,
            to_mib(r.disk_bytes),
            to_mib(r.peak_rss_bytes)
        ));
    }
    out
}

/// The same as JSON: machine, settings and one object per result (with
/// its ratio).
pub fn json(machine: &Machine, s: &Settings, results: &[CaseResult]) -> anyhow::Result<String> {
    let rows: Vec<serde_json::Value> = results
        .iter()
        .map(|r| {
            let mut row = serde_json::to_value(r)?;
            row["ratio_to_first"] = ratio(results, r).into();
            Ok(row)
        })
        .collect::<anyhow::Result<_>>()?;
    let doc = serde_json::json!({ "machine": machine, "settings": s, "results": rows });
    Ok(serde_json::to_string_pretty(&doc)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(workload: &str, engine: &str, ops_per_sec: f64) -> CaseResult {
        CaseResult {
            workload: workload.into(),
            engine: engine.into(),
            ops: 10,
            seconds: 1.0,
            ops_per_sec,
            p50_us: 1.0,
            p99_us: 2.0,
            p999_us: 3.0,
            disk_bytes: 1 << 20,
            peak_rss_bytes: 2 << 20,
        }
    }

    #[test]
    fn ratios_compare_to_the_first_engine_of_the_same_workload() {
        let results = [
            result("ycsb-a", "paged", 100.0),
            result("ycsb-a", "memory", 250.0),
            result("ycsb-c", "paged", 10.0),
            result("ycsb-c", "memory", 5.0),
        ];
        assert!((ratio(&results, &results[1]) - 2.5).abs() < 1e-9);
        assert!((ratio(&results, &results[3]) - 0.5).abs() < 1e-9);
        let table = markdown(&Machine::read(), &settings(), &results);
        assert!(
            table.contains("| ycsb-a | memory | 250 | 2.50 |"),
            "{table}"
        );
    }

    fn settings() -> Settings {
        Settings {
            threads: 2,
            ops: None,
            durable_ops: 10,
            records: 10,
            value_bytes: 100,
            pages: 10,
            versions: 2,
            page_bytes: 8192,
            big_value_bytes: 4096,
            cache_mib: 64,
            durability: "buffered".into(),
            seed: 1,
        }
    }
}
