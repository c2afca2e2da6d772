//! Server settings.

use std::time::Duration;

use crate::error::ServerError;
use crate::resp::DEFAULT_MAX_QUERY_BUFFER;

/// Settings of one server. `Default` gives Redis's usual values.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Address to listen on (used by [`crate::run`]; [`crate::serve`] takes a
    /// bound listener).
    pub bind: String,
    /// TCP port to listen on (used by [`crate::run`]).
    pub port: u16,
    /// Most clients connected at once; one more is told
    /// `-ERR max number of clients reached` and closed.
    pub maxclients: usize,
    /// Most bytes one unfinished request may hold in a client's query buffer;
    /// over it the client gets a protocol error and is closed.
    pub max_query_buffer_bytes: usize,
    /// How long shutdown waits for connections to finish their command and
    /// send its reply before dropping them.
    pub shutdown_grace: Duration,
    /// The password clients must give with `AUTH` before any other command
    /// (`None`: no authentication, as Redis without `requirepass`).
    pub requirepass: Option<String>,
    /// Threads that run the connections (used by [`crate::run`]); 0: tokio's
    /// default, one per CPU core or `TOKIO_WORKER_THREADS` when set. On a
    /// machine shared with the clients (a benchmark on the same host) fewer
    /// threads than cores leave them a core.
    pub threads: usize,
    /// Pause between rounds of the active expiry sweep, which deletes the
    /// keys whose deadline has passed (Redis runs its own at `hz` 10, every
    /// 100 ms). Until the sweep comes, an expired key is hidden from every
    /// command but still takes its room in the engine.
    pub expiry_sweep_interval: Duration,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("bind", &self.bind)
            .field("port", &self.port)
            .field("maxclients", &self.maxclients)
            .field("max_query_buffer_bytes", &self.max_query_buffer_bytes)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("threads", &self.threads)
            .field("expiry_sweep_interval", &self.expiry_sweep_interval)
            .field(
                "requirepass",
                &self.requirepass.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1".to_owned(),
            port: 6379,
            maxclients: 10_000,
            max_query_buffer_bytes: DEFAULT_MAX_QUERY_BUFFER,
            shutdown_grace: Duration::from_secs(5),
            requirepass: None,
            threads: 0,
            expiry_sweep_interval: Duration::from_millis(100),
        }
    }
}

impl ServerConfig {
    /// Smallest accepted query buffer limit: a header line must fit.
    pub const MIN_QUERY_BUFFER_BYTES: usize = 1024;
    /// Most connection threads accepted.
    pub const MAX_THREADS: usize = 1024;

    /// Checks that the settings can run a server.
    pub fn validate(&self) -> Result<(), ServerError> {
        if self.maxclients == 0 {
            return Err(invalid("maxclients", "must be at least 1".to_owned()));
        }
        if self.max_query_buffer_bytes < Self::MIN_QUERY_BUFFER_BYTES {
            let reason = format!("must be at least {} bytes", Self::MIN_QUERY_BUFFER_BYTES);
            return Err(invalid("max_query_buffer_bytes", reason));
        }
        if self.threads > Self::MAX_THREADS {
            let reason = format!(
                "{} is more than the limit of {} (0: one per CPU core)",
                self.threads,
                Self::MAX_THREADS
            );
            return Err(invalid("threads", reason));
        }
        if self.expiry_sweep_interval.is_zero() {
            return Err(invalid(
                "expiry_sweep_interval",
                "must be more than zero".to_owned(),
            ));
        }
        if self.requirepass.as_deref() == Some("") {
            return Err(invalid(
                "requirepass",
                "must not be empty (leave it unset for no password)".to_owned(),
            ));
        }
        Ok(())
    }
}

fn invalid(field: &'static str, reason: String) -> ServerError {
    ServerError::InvalidConfig { field, reason }
}
