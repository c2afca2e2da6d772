//! The blocking entry point: runtime, listener, signals, store close.

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
    let served = runtime.block_on(listen_and_serve(stores.clone(), config));
    drop(runtime);
    let closed = stores.close();
    if closed.is_ok() {
        tracing::info!("stores closed");
    }
    // The SHUTDOWN clients' connections close now, after the stores.
    served.map(drop).and(closed)
}

/// Installs the signal handlers, binds and serves.
async fn listen_and_serve(stores: Stores, config: ServerConfig) -> Result<Stopped, ServerError> {
    // Handlers first: once clients can connect, a signal must mean shutdown.
    let signal = shutdown_signal().map_err(ServerError::Signal)?;
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
/// before it is returned, so failures surface at startup.
#[cfg(unix)]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        let name = tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        };
        tracing::info!(signal = name, "shutdown requested");
    })
}

/// A future that completes on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!(signal = "ctrl-c", "shutdown requested");
        }
    })
}
