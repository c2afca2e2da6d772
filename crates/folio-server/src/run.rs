//! The blocking entry point: runtime, listener, signals, store close.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::config::ServerConfig;
use crate::error::ServerError;
use crate::open_files::fit_maxclients;
use crate::server::{serve, Stopped};
use crate::stores::Stores;

/// Runs a server on `config.bind:config.port` until SIGINT or SIGTERM, then
/// shuts down gracefully and closes the stores. Blocks the calling thread.
///
/// First it raises the process's soft open-file limit to the hard one, and
/// lowers `maxclients` (with a warning) to the descriptors the limit leaves
/// once those open now and [`crate::RESERVED_FDS`] are set aside; an error
/// when it leaves none.
pub fn run(stores: Stores, mut config: ServerConfig) -> Result<(), ServerError> {
    config.validate()?;
    config.maxclients = fit_maxclients(config.maxclients)?;
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all().thread_name("folio-server");
    if config.threads > 0 {
        builder.worker_threads(config.threads);
    }
    let runtime = builder.build().map_err(ServerError::Runtime)?;
    // Set once the stores are closed: a SIGINT then has nothing left to
    // cut short.
    let closed_flag = Arc::new(AtomicBool::new(false));
    let served = runtime.block_on(listen_and_serve(
        stores.clone(),
        config,
        Arc::clone(&closed_flag),
    ));
    drop(runtime);
    let closed = stores.close();
    closed_flag.store(true, Ordering::Release);
    if closed.is_ok() {
        tracing::info!("stores closed");
    }
    // The SHUTDOWN clients' connections close now, after the stores.
    served.map(drop).and(closed)
}

/// Installs the signal handlers, binds and serves.
async fn listen_and_serve(
    stores: Stores,
    config: ServerConfig,
    closed: Arc<AtomicBool>,
) -> Result<Stopped, ServerError> {
    // Handlers first: once clients can connect, a signal must mean shutdown.
    let signal = shutdown_signal(closed).map_err(ServerError::Signal)?;
    let listener = TcpListener::bind((config.bind.as_str(), config.port))
        .await
        .map_err(|source| ServerError::Bind {
            addr: format!("{}:{}", config.bind, config.port),
            source,
        })?;
    let local = listener.local_addr().map_err(ServerError::LocalAddr)?;
    tracing::info!(
        address = %local,
        engine = stores.kv.engine_name(),
        pages = stores.pages.is_some(),
        "folio-server listening"
    );
    serve(stores, listener, config, signal).await
}

/// A future that completes on SIGINT or SIGTERM. The handlers are installed
/// before it is returned, so failures surface at startup. From then on a
/// second SIGINT exits, until `closed` is set.
#[cfg(unix)]
fn shutdown_signal(
    closed: Arc<AtomicBool>,
) -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        let name = tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        };
        tracing::info!(signal = name, "shutdown requested");
        exit_on_next_interrupt(closed);
    })
}

/// Redis's "You insist... exiting now": once a shutdown is under way, a
/// second SIGINT ends the process at once, with exit code 1, whatever the
/// shutdown is waiting for (connections to drain, the checkpoint, the
/// stores' close). Nothing acknowledged is lost that a crash would not
/// lose: the next open recovers from the last checkpoint and the WAL.
/// The watch runs on its own thread and runtime, so it outlives the
/// server's runtime, which is dropped before the stores close.
#[cfg(unix)]
fn exit_on_next_interrupt(closed: Arc<AtomicBool>) {
    use tokio::signal::unix::{signal, SignalKind};
    let watch = move || -> std::io::Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()?;
        runtime.block_on(async {
            let mut interrupt = signal(SignalKind::interrupt())?;
            interrupt.recv().await;
            if !closed.load(Ordering::Acquire) {
                tracing::error!("SIGINT during shutdown: exiting now, without finishing it");
                std::process::exit(1);
            }
            Ok(())
        })
    };
    let spawned = std::thread::Builder::new()
        .name("folio-second-sigint".into())
        .spawn(move || {
            if let Err(err) = watch() {
                tracing::warn!(error = %err, "cannot watch for a second SIGINT");
            }
        });
    if let Err(err) = spawned {
        tracing::warn!(error = %err, "cannot watch for a second SIGINT");
    }
}

/// A future that completes on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal(
    _closed: Arc<AtomicBool>,
) -> std::io::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!(signal = "ctrl-c", "shutdown requested");
        }
    })
}
