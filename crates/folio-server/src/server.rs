//! The accept loop and graceful shutdown.
//!
//! Shutdown order: stop accepting (the listener is dropped), tell every
//! connection to stop, let each finish the command it is running and send
//! its reply, and after `ServerConfig::shutdown_grace` drop whatever is left.
//! The connections of clients that sent `SHUTDOWN` are handed back open in
//! [`Stopped`], for the caller to close after the stores (a connection
//! still flushing when the grace period ends is dropped with the rest).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::commands::off_the_runtime;
use crate::config::ServerConfig;
use crate::connection::Connection;
use crate::error::ServerError;
use crate::keyspace::Sweeper;
use crate::shared::Shared;
use crate::stores::Stores;

/// Pause after a failed accept (such as too many open files) before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// How long a refused client gets to receive its error.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(1);
/// Reply to a client over `maxclients`.
const MAX_CLIENTS_REPLY: &[u8] = b"-ERR max number of clients reached\r\n";

/// What a server hands back when it has stopped: the connections of the
/// clients that sent `SHUTDOWN`, still open. Redis closes them when it
/// exits, after its save, so a client that waits for the close knows the
/// data directory is free; drop this once the stores are closed.
#[derive(Debug)]
#[must_use = "dropping it closes the SHUTDOWN clients' connections; drop it after closing the stores"]
pub struct Stopped {
    shutdown_clients: Vec<std::net::TcpStream>,
}

impl Stopped {
    /// Number of connections held.
    pub fn shutdown_clients(&self) -> usize {
        self.shutdown_clients.len()
    }
}

/// Serves RESP clients on `listener` until `shutdown` completes or a client
/// sends `SHUTDOWN`, then shuts down gracefully and returns. The stores are
/// not closed: the caller owns them, and drops the returned [`Stopped`]
/// after closing them.
pub async fn serve(
    stores: Stores,
    listener: TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<Stopped, ServerError> {
    config.validate()?;
    let local_addr = listener.local_addr().map_err(ServerError::LocalAddr)?;
    let shared = off_the_runtime(|| Shared::new(stores, config, local_addr)).map(Arc::new)?;
    let sweeper = Sweeper::start(
        Arc::clone(&shared.keys),
        shared.config.expiry_sweep_interval,
    )
    .map_err(ServerError::Sweeper)?;
    let (stop, stopped) = watch::channel(false);
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            () = shared.shutdown_requested.notified() => {
                tracing::info!("shutdown requested by SHUTDOWN");
                break;
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => admit(&shared, stream, &stopped, &mut tasks),
                Err(err) => {
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            Some(done) = tasks.join_next(), if !tasks.is_empty() => log_task_end(done),
        }
    }
    drop(listener);
    tracing::info!(connections = tasks.len(), "shutting down");
    // Receivers outlive the sender's use here, so the send cannot fail.
    let _ = stop.send(true);
    drain(tasks, shared.config.shutdown_grace).await;
    off_the_runtime(|| drop(sweeper));
    let shutdown_clients = std::mem::take(&mut *shared.shutdown_clients.lock());
    Ok(Stopped { shutdown_clients })
}

/// Starts a task for a new client, or one that refuses it when full.
fn admit(
    shared: &Arc<Shared>,
    stream: TcpStream,
    stopped: &watch::Receiver<bool>,
    tasks: &mut JoinSet<()>,
) {
    // Replies are small and latency matters more than packet count.
    if let Err(err) = stream.set_nodelay(true) {
        tracing::debug!(error = %err, "cannot set TCP_NODELAY");
    }
    let Some(slot) = shared.admit() else {
        tasks.spawn(refuse(stream));
        return;
    };
    let stopped = stopped.clone();
    tasks.spawn(async move {
        let connection = Connection::new(stream, Arc::clone(slot.shared()));
        if let Err(err) = connection.run(stopped).await {
            tracing::debug!(error = %err, "connection ended with an I/O error");
        }
        drop(slot);
    });
}

/// Tells a client over `maxclients` so, then closes.
async fn refuse(mut stream: TcpStream) {
    tracing::warn!("refusing a client: max number of clients reached");
    let _ = tokio::time::timeout(REFUSAL_TIMEOUT, stream.write_all(MAX_CLIENTS_REPLY)).await;
}

/// Waits up to `grace` for the connection tasks, then aborts the rest.
async fn drain(mut tasks: JoinSet<()>, grace: Duration) {
    let all_done = async {
        while let Some(done) = tasks.join_next().await {
            log_task_end(done);
        }
    };
    if tokio::time::timeout(grace, all_done).await.is_err() {
        tracing::warn!(
            connections = tasks.len(),
            "shutdown grace period over; dropping connections"
        );
        tasks.shutdown().await;
    }
}

/// Logs a connection task that panicked.
fn log_task_end(done: Result<(), tokio::task::JoinError>) {
    if let Err(err) = done {
        if err.is_panic() {
            tracing::error!(error = %err, "connection task panicked");
        }
    }
}
