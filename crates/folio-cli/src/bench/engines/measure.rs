//! The driver of a measured phase: `threads` threads share `ops`
//! operations, each timed into a latency histogram; the first failure
//! stops every thread and fails the phase.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::anyhow;
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::SmallRng;
use rand::SeedableRng;

/// Operations between progress-bar updates.
const PROGRESS_STEP: u64 = 256;
/// Longest latency the histograms hold; longer ones are clamped.
const MAX_LATENCY_NS: u64 = 60_000_000_000;

/// What a phase measured.
pub struct Measured {
    /// Operations done.
    pub ops: u64,
    /// Wall-clock time from the first to the last operation.
    pub elapsed: Duration,
    /// Latency of each operation, in nanoseconds.
    pub latency_ns: Histogram<u64>,
}

/// `ops` operations in `elapsed`, per second.
pub fn ops_per_sec(ops: u64, elapsed: Duration) -> f64 {
    #[allow(clippy::cast_precision_loss)] // op counts are far below 2^52
    let ops = ops as f64;
    ops / elapsed.as_secs_f64().max(1e-9)
}

impl Measured {
    /// The latency at `quantile` (0..=1), in microseconds.
    pub fn latency_us(&self, quantile: f64) -> f64 {
        #[allow(clippy::cast_precision_loss)] // nanosecond latencies below 2^52
        let ns = self.latency_ns.value_at_quantile(quantile) as f64;
        ns / 1000.0
    }
}

/// Runs `op(rng, index)` for every index in `0..ops` on `threads` threads
/// (thread `t` takes `t, t + threads, ...`), each call timed. `label` names
/// the phase on the progress bar, drawn only on a terminal.
pub fn run<F>(label: &str, ops: u64, threads: usize, seed: u64, op: F) -> anyhow::Result<Measured>
where
    F: Fn(&mut SmallRng, u64) -> anyhow::Result<()> + Sync,
{
    let threads = threads.max(1);
    let progress = progress_bar(label, ops);
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let outcomes: Vec<anyhow::Result<Histogram<u64>>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (op, stop, progress) = (&op, &stop, &progress);
                scope.spawn(move || worker(t, threads, ops, seed, op, stop, progress))
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err(anyhow!("a worker thread panicked")))
            })
            .collect()
    });
    let elapsed = started.elapsed();
    progress.finish_and_clear();
    let mut latency_ns = new_histogram();
    for outcome in outcomes {
        latency_ns.add(outcome?)?;
    }
    Ok(Measured {
        ops,
        elapsed,
        latency_ns,
    })
}

fn worker<F>(
    thread: usize,
    threads: usize,
    ops: u64,
    seed: u64,
    op: &F,
    stop: &AtomicBool,
    progress: &ProgressBar,
) -> anyhow::Result<Histogram<u64>>
where
    F: Fn(&mut SmallRng, u64) -> anyhow::Result<()>,
{
    let mut rng =
        SmallRng::seed_from_u64(seed ^ (thread as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut latency_ns = new_histogram();
    let mut done = 0;
    let mut index = thread as u64;
    while index < ops {
        if done % PROGRESS_STEP == 0 && stop.load(Ordering::Relaxed) {
            break;
        }
        let start = Instant::now();
        if let Err(e) = op(&mut rng, index) {
            stop.store(true, Ordering::Relaxed);
            return Err(e);
        }
        let ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        latency_ns.saturating_record(ns.clamp(1, MAX_LATENCY_NS));
        done += 1;
        if done % PROGRESS_STEP == 0 {
            progress.inc(PROGRESS_STEP);
        }
        index += threads as u64;
    }
    Ok(latency_ns)
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("constant histogram bounds are valid")
}

fn progress_bar(label: &str, ops: u64) -> ProgressBar {
    let bar = ProgressBar::new(ops);
    if let Ok(style) =
        ProgressStyle::with_template("{prefix:>28} [{bar:30}] {pos}/{len} ops {per_sec} eta {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(label.to_string());
    bar
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn every_index_runs_once_and_is_timed() {
        let seen: Vec<AtomicU64> = (0..1000).map(|_| AtomicU64::new(0)).collect();
        let m = run("test", 1000, 3, 1, |_, i| {
            seen[usize::try_from(i).unwrap()].fetch_add(1, Ordering::Relaxed);
            Ok(())
        })
        .unwrap();
        assert!(seen.iter().all(|s| s.load(Ordering::Relaxed) == 1));
        assert_eq!(m.ops, 1000);
        assert_eq!(m.latency_ns.len(), 1000);
    }

    #[test]
    fn a_failing_operation_fails_the_phase() {
        let err = run("test", 1000, 2, 1, |_, i| {
            anyhow::ensure!(i != 500, "wrong value at {i}");
            Ok(())
        })
        .err()
        .unwrap();
        assert!(err.to_string().contains("wrong value at 500"));
    }
}
