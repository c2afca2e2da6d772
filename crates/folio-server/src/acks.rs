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
//! The waiting connection leads: after letting the other ready connections
//! run, it writes and fsyncs the queued writes itself
//! ([`folio::DeferredAck::write_queued`]) on its worker thread, unless
//! another thread is writing them (decision 27). Then it waits without
//! blocking: the store tells a listener each time a thread lets go of the
//! log ([`folio::DeferredAck::set_ack_listener`]), which publishes the
//! mark on a [`tokio::sync::watch`] channel that connection tasks await,
//! and the waiter leads the next group if its writes are not in that one.
//! A failure (a poisoned store) is published too; the waiter then asks the
//! store for the error, which it returns at once.
//!
//! Invariant: the published mark only grows, and is never above a mark the
//! store acknowledged.

use std::sync::Arc;

use folio::{AckMark, KvStore};
use tokio::sync::watch;

/// What the store has acknowledged.
#[derive(Debug, Clone, Copy, Default)]
struct Reached {
    mark: AckMark,
    /// The store failed: no later mark will be acknowledged.
    failed: bool,
}

/// Awaits a store's deferred writes for async tasks.
pub(crate) struct AckWaiter {
    store: Arc<dyn KvStore>,
    reached: watch::Receiver<Reached>,
}

impl AckWaiter {
    /// A waiter for `store`'s deferred writes; `None` when the store
    /// acknowledges each write itself (it has no [`folio::DeferredAck`]).
    pub(crate) fn start(store: &Arc<dyn KvStore>) -> Option<Self> {
        let deferred = store.deferred_ack()?;
        let (publish, reached) = watch::channel(Reached::default());
        // Every call is news, also one with no newer mark: a thread that
        // held the log has let go of it, and a waiter that found it busy
        // tries again to write the queue itself (`wait`).
        deferred.set_ack_listener(Box::new(move |acked| match acked {
            Some(mark) => publish.send_modify(|r| r.mark = r.mark.max(mark)),
            None => publish.send_modify(|r| r.failed = true),
        }));
        Some(Self {
            store: Arc::clone(store),
            reached,
        })
    }

    /// A mark covering every write visible now, or `None` when all of them
    /// are acknowledged already (no wait needed).
    pub(crate) fn pending_mark(&self) -> Option<AckMark> {
        let deferred = self.store.deferred_ack()?;
        let mark = deferred.visible_mark();
        (!deferred.is_acked(mark)).then_some(mark)
    }

    /// Waits until `mark` is acknowledged, leading the group commit that
    /// does it when no other thread is; the error is the store's failure
    /// when it never will be.
    pub(crate) async fn wait(&self, mark: AckMark) -> Result<(), folio::Error> {
        let Some(deferred) = self.store.deferred_ack() else {
            return Ok(());
        };
        // No write is above the last mark handed out: one above it could
        // never be acknowledged, and the loop below would spin.
        let mark = mark.min(deferred.visible_mark());
        if deferred.is_acked(mark) {
            return Ok(());
        }
        // Every other connection with a request ready runs first (tokio
        // polls the sockets before a yielded task runs again), so their
        // writes join this group: as all the clients one pass of Redis's
        // event loop serves share its fsync.
        tokio::task::yield_now().await;
        let mut reached = self.reached.clone();
        loop {
            // Noted before `write_queued`: a thread holding the log then
            // tells the listener after this, which wakes `changed`.
            let failed = reached.borrow_and_update().failed;
            if deferred.is_acked(mark) {
                return Ok(());
            }
            if failed {
                break;
            }
            // Writes and fsyncs the group on this worker thread, blocking
            // it (another worker serves the other connections meanwhile):
            // its replies go out at once, with no hand-off to the log's
            // writer thread and back (ARCHITECTURE.md, decision 27).
            if deferred.write_queued()? && deferred.is_acked(mark) {
                return Ok(());
            }
            if reached.changed().await.is_err() {
                break;
            }
        }
        // Failed (or the store dropped its listener): the store says why,
        // at once, or that the mark was acknowledged after all.
        crate::commands::off_the_runtime(|| deferred.wait_acked(mark))
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
        let acks = AckWaiter::start(&store).expect("paged defers");
        assert_eq!(acks.pending_mark(), None, "nothing written yet");
        let deferred = store.deferred_ack().unwrap();
        for i in 0..100u32 {
            deferred.put(&i.to_be_bytes(), b"v").unwrap();
        }
        let mark = deferred.visible_mark();
        acks.wait(mark).await.unwrap();
        assert!(deferred.is_acked(mark));
        assert_eq!(acks.pending_mark(), None);
        store.close().unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_tasks_wait_together() {
        let store = store();
        let acks = Arc::new(AckWaiter::start(&store).unwrap());
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
        let acks = AckWaiter::start(&store).unwrap();
        let deferred = store.deferred_ack().unwrap();
        // The first value makes the segment file (with fsyncs of its own).
        deferred.put(b"warm", b"v").unwrap();
        acks.wait(deferred.visible_mark()).await.unwrap();
        vfs.fail(FaultOp::Sync, std::io::ErrorKind::Other);
        deferred.put(b"k", b"v").unwrap();
        let mark = acks.pending_mark().expect("the write is not durable");
        let err = acks.wait(mark).await.unwrap_err();
        assert!(matches!(err, folio::Error::Poisoned { .. }), "{err}");
        assert!(err.to_string().contains("fsync"), "{err}");
        let again = acks.wait(AckMark(mark.0 + 1)).await.unwrap_err();
        assert_eq!(again.to_string(), err.to_string());
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
            fn max_value_bytes(&self) -> usize {
                usize::MAX
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
        assert!(AckWaiter::start(&plain).is_none());
    }
}
