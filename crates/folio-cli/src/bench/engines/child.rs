//! One child process of `folio bench`: opens one engine on a fresh
//! directory, runs the cases of one family there, and prints their results
//! as JSON. A process per engine and family keeps each engine's memory,
//! threads and allocator state out of the next one's numbers.

use std::sync::Arc;

use anyhow::{ensure, Context};
use folio::{Config, Durability, KvStore, PageOptions, PageStore};

use super::measure::{self, Measured};
use super::pages::{self, Layout};
use super::spec::{Case, CaseResult, Family, Spec};
use super::system;
use super::values::{Pool, HEADER_BYTES};
use super::ycsb::{Mix, Records, KEY_BYTES};
use super::zipf::Chooser;

/// Operations of a case when `--ops` is not given.
pub fn default_ops(case: Case) -> u64 {
    match case {
        Case::PageLoad => 0, // always every version of the layout
        Case::GetpageUniform | Case::GetpageZipf | Case::LargerThanCache => 200_000,
        Case::YcsbA | Case::YcsbB | Case::YcsbC | Case::YcsbF => 500_000,
        Case::DurablePut { .. } => 0, // not used: durable-put runs --durable-ops
    }
}

/// Runs `spec`; every case's result, in order.
pub fn run(spec: &Spec) -> anyhow::Result<Vec<CaseResult>> {
    let family = spec.cases.first().context("a child needs a case")?.family();
    ensure!(
        spec.cases.iter().all(|c| c.family() == family),
        "the cases of one child share a family"
    );
    let config = config(spec, family)?;
    let store: Arc<dyn KvStore> = Arc::from(
        folio_peers::open(&spec.engine, &spec.dir, &config)
            .with_context(|| format!("cannot open engine {}", spec.engine))?,
    );
    let mut run = Run {
        spec,
        store: store.clone(),
        pool: Pool::new(spec.settings.seed),
        results: Vec::new(),
    };
    match family {
        Family::Pages => run.pages()?,
        Family::Ycsb => run.ycsb()?,
        Family::DurablePut(threads) => run.durable_put(threads)?,
        Family::LargerThanCache => run.larger_than_cache(&config)?,
    }
    store.close().context("close")?;
    Ok(run.results)
}

fn config(spec: &Spec, family: Family) -> anyhow::Result<Config> {
    let s = &spec.settings;
    let mut config = Config::default();
    config.cache_bytes = s
        .cache_mib
        .checked_mul(1 << 20)
        .context("--cache-mib overflows")?;
    config.durability = Durability::parse(&s.durability)?;
    if matches!(family, Family::DurablePut(_)) {
        config.durability = Durability::Sync;
    }
    config.validate()?;
    Ok(config)
}

struct Run<'a> {
    spec: &'a Spec,
    store: Arc<dyn KvStore>,
    pool: Pool,
    results: Vec<CaseResult>,
}

impl Run<'_> {
    fn ops(&self, case: Case) -> u64 {
        match case {
            Case::DurablePut { .. } => self.spec.settings.durable_ops,
            _ => self.spec.settings.ops.unwrap_or_else(|| default_ops(case)),
        }
    }

    fn label(&self, case: Case) -> String {
        format!("{} {}", self.spec.engine, case.name())
    }

    /// The measured tuple every case passes to its driver.
    fn phase(&self, case: Case, threads: usize) -> (String, u64, usize, u64) {
        (
            self.label(case),
            self.ops(case),
            threads,
            self.spec.settings.seed ^ hash_case(case),
        )
    }

    fn wants(&self, case: Case) -> bool {
        self.spec.cases.contains(&case)
    }

    fn pages(&mut self) -> anyhow::Result<()> {
        let s = &self.spec.settings;
        let layout = Layout {
            pages: s.pages,
            versions: s.versions,
            page_bytes: s.page_bytes,
        };
        let mut options = PageOptions::default();
        options.background = false;
        let pages: PageStore<dyn KvStore> = PageStore::open(self.store.clone(), options)?;
        system::reset_peak_rss();
        let loaded = pages::load(&pages, layout, &self.pool, s.threads, s.seed)?;
        if self.wants(Case::PageLoad) {
            self.record(Case::PageLoad, &loaded)?;
        }
        for (case, chooser) in [
            (Case::GetpageUniform, Chooser::uniform(layout.pages)),
            (Case::GetpageZipf, Chooser::zipf(layout.pages)),
        ] {
            if self.wants(case) {
                system::reset_peak_rss();
                let (label, ops, threads, seed) = self.phase(case, s.threads);
                let m = pages::getpage(
                    &pages,
                    layout,
                    &self.pool,
                    chooser,
                    (&label, ops, threads, seed),
                )?;
                self.record(case, &m)?;
            }
        }
        pages.close()?;
        Ok(())
    }

    fn ycsb(&mut self) -> anyhow::Result<()> {
        let s = &self.spec.settings;
        let records = Records::new(s.records, s.value_bytes);
        self.untimed_load(&records)?;
        let chooser = Chooser::zipf(s.records);
        for (case, mix) in [
            (Case::YcsbA, Mix::A),
            (Case::YcsbB, Mix::B),
            (Case::YcsbC, Mix::C),
            (Case::YcsbF, Mix::F),
        ] {
            if self.wants(case) {
                system::reset_peak_rss();
                let (label, ops, threads, seed) = self.phase(case, s.threads);
                let m = records.run(
                    &*self.store,
                    &self.pool,
                    mix,
                    chooser,
                    (&label, ops, threads, seed),
                )?;
                self.record(case, &m)?;
            }
        }
        Ok(())
    }

    /// New records, each put durable before it returns; then every one is
    /// read back and checked.
    fn durable_put(&mut self, threads: usize) -> anyhow::Result<()> {
        let case = Case::DurablePut { threads };
        let records = Records::new(self.ops(case), self.spec.settings.value_bytes);
        system::reset_peak_rss();
        let (label, _, _, seed) = self.phase(case, threads);
        let m = records.load(&*self.store, &self.pool, &label, threads, seed)?;
        for i in 0..records.count() {
            records.read(&*self.store, &self.pool, i)?;
        }
        self.record(case, &m)
    }

    /// Values of `big_value_bytes`, four times the cache budget in all,
    /// read by workload C's zipfian.
    fn larger_than_cache(&mut self, config: &Config) -> anyhow::Result<()> {
        let s = &self.spec.settings;
        let record_bytes = (s.big_value_bytes + KEY_BYTES) as u64;
        let count = (4 * config.cache_bytes as u64).div_ceil(record_bytes);
        let records = Records::new(count, s.big_value_bytes);
        self.untimed_load(&records)?;
        let case = Case::LargerThanCache;
        system::reset_peak_rss();
        let (label, ops, threads, seed) = self.phase(case, s.threads);
        let chooser = Chooser::zipf(count);
        let m = records.run(
            &*self.store,
            &self.pool,
            Mix::C,
            chooser,
            (&label, ops, threads, seed),
        )?;
        self.record(case, &m)
    }

    /// Loads `records` and flushes, outside any measured phase: the flush
    /// that ends the next phase must cover that phase's writes only.
    fn untimed_load(&self, records: &Records) -> anyhow::Result<()> {
        let s = &self.spec.settings;
        let label = format!("{} load", self.spec.engine);
        records.load(&*self.store, &self.pool, &label, s.threads, s.seed)?;
        self.store.flush().context("flush after the load")
    }

    /// Flushes, then keeps the case's numbers with the disk and memory use.
    ///
    /// The flush counts in the phase's time: a phase is over when what it
    /// wrote is durable. With `buffered` the engines put their syncs in
    /// different places — Folio's log syncs every `sync_interval_ms` during
    /// the phase, redb writes nothing to its file before a durable commit,
    /// RocksDB, fjall and LMDB sync when asked — and only the flush puts
    /// them on the same footing.
    fn record(&mut self, case: Case, m: &Measured) -> anyhow::Result<()> {
        let flush_started = std::time::Instant::now();
        self.store.flush().context("flush")?;
        let elapsed = m.elapsed + flush_started.elapsed();
        // After the flush, which is part of the phase (it may copy the
        // index, or a memtable).
        let peak_rss_bytes = system::peak_rss_bytes();
        self.results.push(CaseResult {
            workload: case.name(),
            engine: self.spec.engine.clone(),
            ops: m.ops,
            seconds: elapsed.as_secs_f64(),
            ops_per_sec: measure::ops_per_sec(m.ops, elapsed),
            p50_us: m.latency_us(0.5),
            p99_us: m.latency_us(0.99),
            p999_us: m.latency_us(0.999),
            disk_bytes: system::disk_bytes(&self.spec.dir)?,
            peak_rss_bytes,
        });
        Ok(())
    }
}

/// Values must hold their header; pages and records fit the pool.
pub fn check_sizes(value_bytes: usize, what: &str) -> anyhow::Result<()> {
    let max = Pool::max_len_bytes();
    ensure!(
        (HEADER_BYTES..=max).contains(&value_bytes),
        "{what} of {value_bytes} bytes: must be {HEADER_BYTES}..={max} bytes (a value carries a {HEADER_BYTES}-byte header the run checks)"
    );
    Ok(())
}

fn hash_case(case: Case) -> u64 {
    xxhash_rust::xxh3::xxh3_64(case.name().as_bytes())
}
