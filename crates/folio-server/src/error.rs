//! The server's error type: what stops a server from starting or shutting
//! down cleanly. Per-connection failures are logged, never returned.

use std::io;

/// Why [`crate::serve`] or [`crate::run`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A [`crate::ServerConfig`] value out of range.
    #[error("invalid server config {field}: {reason}")]
    InvalidConfig {
        /// The offending field.
        field: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// The tokio runtime could not be built.
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] io::Error),
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for, as `host:port`.
        addr: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The listener's own address could not be read.
    #[error("cannot read the listening address: {0}")]
    LocalAddr(#[source] io::Error),
    /// The SIGINT/SIGTERM handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signal(#[source] io::Error),
    /// The key store could not be opened as the server's key space (an
    /// I/O error, or values not written by this server).
    #[error("cannot open the key space: {0}")]
    Keyspace(#[source] folio::Error),
    /// The expiry sweep thread could not be started.
    #[error("cannot start the expiry sweep thread: {0}")]
    Sweeper(#[source] io::Error),
    /// Closing the store after shutdown failed: recent writes may not be
    /// durable.
    #[error("closing the store failed: {0}")]
    Close(#[source] folio::Error),
    /// Closing the page store after shutdown failed.
    #[error("closing the page store failed: {0}")]
    ClosePages(#[source] folio::PageError),
}
