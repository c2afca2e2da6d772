//! The page store's background thread: liveness sweeps and vacuum.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::{PageError, PageResult};

/// How often the thread looks whether a sweep or a vacuum is due.
const POLL: Duration = Duration::from_millis(50);

/// A running background thread; [`Vacuumer::stop`] ends it.
pub(super) struct Vacuumer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: JoinHandle<()>,
}

impl Vacuumer {
    /// Starts a thread calling `step` every [`POLL`] until stopped.
    pub(super) fn start(mut step: impl FnMut() + Send + 'static) -> PageResult<Self> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = stop.clone();
        let thread = std::thread::Builder::new()
            .name("folio-vacuum".into())
            .spawn(move || loop {
                {
                    let mut stopped = signal.0.lock();
                    if !*stopped {
                        signal.1.wait_for(&mut stopped, POLL);
                    }
                    if *stopped {
                        return;
                    }
                }
                // A panic must not end sweeps and vacuum silently.
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(&mut step)).is_err() {
                    tracing::error!(
                        "the page store's background step panicked; it runs again next time"
                    );
                }
            })
            .map_err(PageError::Spawn)?;
        Ok(Vacuumer { stop, thread })
    }

    /// Stops the thread and waits for it.
    pub(super) fn stop(self) {
        *self.stop.0.lock() = true;
        self.stop.1.notify_all();
        if self.thread.join().is_err() {
            tracing::error!("the page store's background thread panicked");
        }
    }
}
