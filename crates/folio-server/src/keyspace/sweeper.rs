//! The active expiry sweep: a thread that deletes expired keys.
//!
//! Every `interval` (`ServerConfig::expiry_sweep_interval`) it deletes the keys whose deadline has passed,
//! earliest first, [`SWEEP_BATCH_KEYS`] per write batch, for at most
//! [`SWEEP_BUDGET`] (then it sleeps, so a mass expiry does not hold every
//! key lock for long); the rest go at the next rounds. The deadlines are
//! ordered in memory, so the sweep is exact rather than sampled: no expired
//! key is left to pile up. An engine error is logged and retried after
//! [`ERROR_BACKOFF`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{unix_now_ms, Keyspace};

/// Most time one sweep spends before it sleeps.
const SWEEP_BUDGET: Duration = Duration::from_millis(25);
/// Keys deleted per write batch.
pub(crate) const SWEEP_BATCH_KEYS: usize = 128;
/// Pause after an engine error.
const ERROR_BACKOFF: Duration = Duration::from_secs(1);

/// The running sweep thread; dropping it stops the thread and waits for it.
pub(crate) struct Sweeper {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Sweeper {
    /// Starts sweeping `keyspace`, a round every `interval`.
    pub(crate) fn start(keyspace: Arc<Keyspace>, interval: Duration) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("folio-expire".to_owned())
            .spawn(move || run(&keyspace, interval, &stop_flag))?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Sweeper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            if thread.join().is_err() {
                tracing::error!("the expiry sweep thread panicked");
            }
        }
    }
}

fn run(keyspace: &Keyspace, interval: Duration, stop: &AtomicBool) {
    while !stop.load(Ordering::Acquire) {
        // A panic in one round is logged and the sweep goes on: a dead
        // sweep would let expired keys pile up unnoticed.
        let round =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sweep_round(keyspace, stop)));
        let pause = match round {
            Ok(Ok(())) => interval,
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "expiry sweep failed; retrying");
                ERROR_BACKOFF
            }
            Err(_) => {
                tracing::error!("expiry sweep panicked; retrying");
                ERROR_BACKOFF
            }
        };
        std::thread::park_timeout(pause);
    }
}

/// Deletes expired keys until none is left or the budget is spent.
fn sweep_round(keyspace: &Keyspace, stop: &AtomicBool) -> Result<(), folio::Error> {
    let started = Instant::now();
    let now_ms = unix_now_ms();
    while started.elapsed() < SWEEP_BUDGET && !stop.load(Ordering::Acquire) {
        if keyspace.sweep(now_ms, SWEEP_BATCH_KEYS)? < SWEEP_BATCH_KEYS {
            break;
        }
    }
    Ok(())
}
