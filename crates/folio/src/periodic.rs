//! [`Periodic`]: a named background thread that runs a step every
//! interval until stopped — the checkpointers of both engines and the page
//! store's sweep-and-vacuum thread.
//!
//! A step that panics is logged and runs again next time: a bug in one
//! round must not end the background work silently. Stopping wakes the
//! thread at once and waits for a step in progress.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

/// A running background thread; [`Periodic::stop`] ends it.
#[derive(Debug)]
pub(crate) struct Periodic {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: JoinHandle<()>,
}

impl Periodic {
    /// Starts thread `name`, calling `step` every `interval` (first after
    /// one interval) until stopped.
    pub(crate) fn start(
        name: &str,
        interval: Duration,
        mut step: impl FnMut() + Send + 'static,
    ) -> std::io::Result<Self> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = Arc::clone(&stop);
        let label = name.to_string();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || loop {
                {
                    let mut stopped = signal.0.lock();
                    if !*stopped {
                        signal.1.wait_for(&mut stopped, interval);
                    }
                    if *stopped {
                        return;
                    }
                }
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(&mut step)).is_err() {
                    tracing::error!(thread = %label, "a background step panicked; it runs again next time");
                }
            })?;
        Ok(Periodic { stop, thread })
    }

    /// Stops the thread, waiting for a step in progress.
    pub(crate) fn stop(self) {
        *self.stop.0.lock() = true;
        self.stop.1.notify_all();
        if self.thread.join().is_err() {
            tracing::error!("a background thread panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[test]
    fn steps_until_stopped_and_survives_a_panicking_step() {
        let steps = Arc::new(AtomicU32::new(0));
        let counted = Arc::clone(&steps);
        let periodic =
            Periodic::start("folio-test-periodic", Duration::from_millis(1), move || {
                if counted.fetch_add(1, Ordering::SeqCst) == 0 {
                    panic!("first step fails");
                }
            })
            .unwrap();
        while steps.load(Ordering::SeqCst) < 3 {
            std::thread::yield_now();
        }
        periodic.stop();
        let after = steps.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(steps.load(Ordering::SeqCst), after, "no step after stop");
    }
}
