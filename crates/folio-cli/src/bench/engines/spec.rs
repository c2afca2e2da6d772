//! What one benchmark child process runs: the parent sends it as JSON.

use serde::{Deserialize, Serialize};

/// One measured workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Case {
    /// Pages × versions of 8 KiB images put through the page store.
    PageLoad,
    /// GetPage@LSN, page chosen uniformly.
    GetpageUniform,
    /// GetPage@LSN, page chosen by a scrambled zipfian (0.99).
    GetpageZipf,
    /// 50% reads, 50% updates.
    YcsbA,
    /// 95% reads, 5% updates.
    YcsbB,
    /// Reads only.
    YcsbC,
    /// 50% reads, 50% read-modify-writes.
    YcsbF,
    /// New keys, every put durable before it returns, on `threads` threads.
    DurablePut {
        /// Writer threads.
        threads: usize,
    },
    /// Zipfian reads over data four times the cache budget.
    LargerThanCache,
}

impl Case {
    /// The name printed in tables: `ycsb-a`, `durable-put-4`, ...
    pub fn name(self) -> String {
        match self {
            Case::PageLoad => "page-load".into(),
            Case::GetpageUniform => "getpage-uniform".into(),
            Case::GetpageZipf => "getpage-zipf".into(),
            Case::YcsbA => "ycsb-a".into(),
            Case::YcsbB => "ycsb-b".into(),
            Case::YcsbC => "ycsb-c".into(),
            Case::YcsbF => "ycsb-f".into(),
            Case::DurablePut { threads } => format!("durable-put-{threads}"),
            Case::LargerThanCache => "larger-than-cache".into(),
        }
    }

    /// Cases that share one store and one load run in one child process.
    pub fn family(self) -> Family {
        match self {
            Case::PageLoad | Case::GetpageUniform | Case::GetpageZipf => Family::Pages,
            Case::YcsbA | Case::YcsbB | Case::YcsbC | Case::YcsbF => Family::Ycsb,
            Case::DurablePut { threads } => Family::DurablePut(threads),
            Case::LargerThanCache => Family::LargerThanCache,
        }
    }
}

/// Cases that run on one store, after one load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Page load, then the GetPage@LSN cases on the loaded pages.
    Pages,
    /// The YCSB load, then workloads A, B, C, F in that order.
    Ycsb,
    /// A fresh store with durability `sync`, per thread count.
    DurablePut(usize),
    /// Its own load of big values.
    LargerThanCache,
}

/// The sizes and knobs every case reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    /// Worker threads (durable-put has its own counts).
    pub threads: usize,
    /// Operations per measured case but durable-put; `None`: each case's
    /// default.
    pub ops: Option<u64>,
    /// Operations of each durable-put case.
    pub durable_ops: u64,
    /// YCSB records.
    pub records: u64,
    /// YCSB value size in bytes.
    pub value_bytes: usize,
    /// Pages of the page workloads.
    pub pages: u64,
    /// Versions per page.
    pub versions: u64,
    /// Page image size in bytes.
    pub page_bytes: usize,
    /// Value size of larger-than-cache.
    pub big_value_bytes: usize,
    /// Cache budget of every engine, in MiB.
    pub cache_mib: usize,
    /// Durability of every case but durable-put: sync, buffered or none.
    pub durability: String,
    /// Seed of every random choice and of the value bytes.
    pub seed: u64,
}

/// What one child process runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Spec {
    /// Engine name, one of `folio_peers::engines()`.
    pub engine: String,
    /// An empty directory for the store; the child leaves its files there.
    pub dir: std::path::PathBuf,
    /// Cases to measure, all of one family, in order.
    pub cases: Vec<Case>,
    /// Sizes and knobs.
    pub settings: Settings,
}

/// One measured case on one engine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseResult {
    /// Case name.
    pub workload: String,
    /// Engine name.
    pub engine: String,
    /// Operations done.
    pub ops: u64,
    /// Wall-clock time of the measured phase.
    pub seconds: f64,
    /// `ops / seconds`.
    pub ops_per_sec: f64,
    /// Latency percentiles in microseconds.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Bytes the store's files take on disk (allocated blocks) after the
    /// case and a flush.
    pub disk_bytes: u64,
    /// Peak resident memory of the process during the case.
    pub peak_rss_bytes: u64,
}
