//! Pipeline-wide acknowledgement: a connection applies every command it has
//! buffered without waiting for the disk, then waits once — for one mark
//! covering all of them — before it sends their replies (ARCHITECTURE.md,
//! decision 22). Fifty clients with sixteen commands each in flight share
//! one fsync, as they do in Redis with `appendfsync always`.
//!
//! The key space writes through [`folio::DeferredAck`], so its writes are
//! visible to other clients before they are durable. Every command that
//! reads or writes the key space therefore waits for a mark taken after it
//! ran: no client is ever told of a value a crash could take back.
//!
//! One thread (`folio-acks`) does the blocking waits: it waits for the
//! highest mark asked for and publishes each mark reached on a
//! [`tokio::sync::watch`] channel, which the connection tasks await without
//! holding a runtime worker. The first failure (a poisoned store) is
//! published too and ends the thread: every later wait fails with it.
//!
//! Invariant: the published mark only grows, and is never above a mark the
//! store acknowledged.

use std::sync::Arc;
use std::thread::JoinHandle;

use folio::{AckMark, KvStore};
use parking_lot::{Condvar, Mutex};
use tokio::sync::watch;

/// What the waiting thread has reached.
#[derive(Debug, Clone, Default)]
struct Reached {
    mark: AckMark,
    /// The failure that ended the thread.
    failure: Option<Arc<folio::Error>>,
}

/// What connections ask the waiting thread for.
#[derive(Debug, Default)]
struct Wanted {
    mark: AckMark,
    stop: bool,
}

struct Inner {
    store: Arc<dyn KvStore>,
    wanted: Mutex<Wanted>,
    wake: Condvar,
    reached: watch::Sender<Reached>,
}

/// Waits for a store's deferred writes on behalf of async tasks.
pub(crate) struct AckWaiter {
    inner: Arc<Inner>,
    thread: Option<JoinHandle<()>>,
}

impl AckWaiter {
    /// A waiter for `store`'s deferred writes; `None` when the store
    /// acknowledges each write itself (it has no [`folio::DeferredAck`]).
    pub(crate) fn start(store: &Arc<dyn KvStore>) -> std::io::Result<Option<Self>> {
        if store.deferred_ack().is_none() {
            return Ok(None);
        }
        let inner = Arc::new(Inner {
            store: Arc::clone(store),
            wanted: Mutex::new(Wanted::default()),
            wake: Condvar::new(),
            reached: watch::Sender::new(Reached::default()),
        });
        let worker = Arc::clone(&inner);
        let thread = std::thread::Builder::new()
            .name("folio-acks".into())
            .spawn(move || worker.run())?;
        Ok(Some(Self {
            inner,
            thread: Some(thread),
        }))
    }

    /// A mark covering every write visible now, or `None` when all of them
    /// are acknowledged already (no wait needed).
    pub(crate) fn pending_mark(&self) -> Option<AckMark> {
        let deferred = self.inner.store.deferred_ack()?;
        let mark = deferred.visible_mark();
        (!deferred.is_acked(mark)).then_some(mark)
    }

    /// Waits until `mark` is acknowledged. The error is the store's
    /// failure when it never will be.
    pub(crate) async fn wait(&self, mark: AckMark) -> Result<(), Arc<folio::Error>> {
        let mut reached = self.inner.reached.subscribe();
        {
            let mut wanted = self.inner.wanted.lock();
            if wanted.mark < mark {
                wanted.mark = mark;
                self.inner.wake.notify_one();
            }
        }
        let done = reached
            .wait_for(|r| r.mark >= mark || r.failure.is_some())
            .await;
        match done {
            Ok(r) if r.mark >= mark => Ok(()),
            Ok(r) => Err(r
                .failure
                .clone()
                .unwrap_or_else(|| Arc::new(folio::Error::Closed))),
            // The sender lives in `inner`, which `self` keeps alive.
            Err(_) => Err(Arc::new(folio::Error::Closed)),
        }
    }
}

impl Inner {
    /// The waiting thread: wait for the highest mark wanted, publish it,
    /// repeat until stopped or the store fails.
    fn run(&self) {
        let Some(deferred) = self.store.deferred_ack() else {
            return;
        };
        loop {
            let target = {
                let mut wanted = self.wanted.lock();
                loop {
                    if wanted.stop {
                        return;
                    }
                    if wanted.mark > self.reached.borrow().mark {
                        break wanted.mark;
                    }
                    self.wake.wait(&mut wanted);
                }
            };
            match deferred.wait_acked(target) {
                Ok(()) => {
                    self.reached.send_modify(|r| r.mark = r.mark.max(target));
                }
                Err(err) => {
                    tracing::error!(error = %err, "writes cannot be acknowledged; every later write command fails");
                    let failure = Arc::new(err);
                    self.reached.send_modify(|r| r.failure = Some(failure));
                    return;
                }
            }
        }
    }
}

impl Drop for AckWaiter {
    fn drop(&mut self) {
        self.inner.wanted.lock().stop = true;
        self.inner.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use folio::io::MemVfs;
    use folio::{Config, PagedStore};

    use super::*;

    fn store() -> Arc<dyn KvStore> {
        let store = PagedStore::open_with_vfs(
            Arc::new(MemVfs::new()),
            Path::new("/acks"),
            &Config::default(),
        )
        .unwrap();
        Arc::new(store)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_wait_returns_once_the_writes_are_durable() {
        let store = store();
        let acks = AckWaiter::start(&store).unwrap().expect("paged defers");
        assert_eq!(acks.pending_mark(), None, "nothing written yet");
        let deferred = store.deferred_ack().unwrap();
        for i in 0..100u32 {
            deferred.put(&i.to_be_bytes(), b"v").unwrap();
        }
        let mark = deferred.visible_mark();
        acks.wait(mark).await.unwrap();
        assert!(deferred.is_acked(mark));
        assert_eq!(acks.pending_mark(), None);
        drop(acks);
        store.close().unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_tasks_wait_together() {
        let store = store();
        let acks = Arc::new(AckWaiter::start(&store).unwrap().unwrap());
        let mut tasks = tokio::task::JoinSet::new();
        for t in 0..20u32 {
            let (store, acks) = (Arc::clone(&store), Arc::clone(&acks));
            tasks.spawn(async move {
                let deferred = store.deferred_ack().unwrap();
                for i in 0..50u32 {
                    deferred.put(&(t * 1000 + i).to_be_bytes(), b"v").unwrap();
                    let mine = deferred.visible_mark();
                    if let Some(pending) = acks.pending_mark() {
                        acks.wait(pending).await.unwrap();
                    }
                    assert!(deferred.is_acked(mine));
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
        assert_eq!(store.len().unwrap(), 1000);
        store.close().unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_fsync_fails_this_wait_and_every_later_one() {
        use folio::io::{FaultOp, FaultVfs};
        let vfs = FaultVfs::new(Arc::new(MemVfs::new()));
        let store: Arc<dyn KvStore> = Arc::new(
            PagedStore::open_with_vfs(
                Arc::new(vfs.clone()),
                Path::new("/acks"),
                &Config::default(),
            )
            .unwrap(),
        );
        let acks = AckWaiter::start(&store).unwrap().unwrap();
        let deferred = store.deferred_ack().unwrap();
        // The first value makes the segment file (with fsyncs of its own).
        deferred.put(b"warm", b"v").unwrap();
        acks.wait(deferred.visible_mark()).await.unwrap();
        vfs.fail(FaultOp::Sync, std::io::ErrorKind::Other);
        deferred.put(b"k", b"v").unwrap();
        let mark = acks.pending_mark().expect("the write is not durable");
        let err = acks.wait(mark).await.unwrap_err();
        assert!(matches!(*err, folio::Error::Poisoned { .. }), "{err}");
        assert!(err.to_string().contains("fsync"), "{err}");
        let again = acks.wait(AckMark(mark.0 + 1)).await.unwrap_err();
        assert!(Arc::ptr_eq(&again, &err));
    }

    #[test]
    fn a_store_without_deferred_acks_needs_no_waiter() {
        struct Plain;
        impl KvStore for Plain {
            fn engine_name(&self) -> &'static str {
                "plain"
            }
            fn put(&self, _: &[u8], _: &[u8]) -> folio::Result<()> {
                Ok(())
            }
            fn get(&self, _: &[u8]) -> folio::Result<Option<Vec<u8>>> {
                Ok(None)
            }
            fn delete(&self, _: &[u8]) -> folio::Result<bool> {
                Ok(false)
            }
            fn write_batch(&self, _: &folio::WriteBatch) -> folio::Result<()> {
                Ok(())
            }
            fn flush(&self) -> folio::Result<()> {
                Ok(())
            }
            fn len(&self) -> folio::Result<u64> {
                Ok(0)
            }
            fn for_each_key(
                &self,
                _: &mut dyn FnMut(&[u8]) -> std::ops::ControlFlow<()>,
            ) -> folio::Result<()> {
                Ok(())
            }
            fn stats(&self) -> folio::Stats {
                folio::Stats::default()
            }
            fn close(&self) -> folio::Result<()> {
                Ok(())
            }
        }
        let plain: Arc<dyn KvStore> = Arc::new(Plain);
        assert!(AckWaiter::start(&plain).unwrap().is_none());
    }
}
