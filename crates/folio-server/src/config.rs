//! Server settings.

use std::time::Duration;

use crate::error::ServerError;
use crate::resp::DEFAULT_MAX_QUERY_BUFFER;

/// Settings of one server. `Default` gives Redis's usual values.
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1".to_owned(),
            port: 6379,
            maxclients: 10_000,
            max_query_buffer_bytes: DEFAULT_MAX_QUERY_BUFFER,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

impl ServerConfig {
    /// Smallest accepted query buffer limit: a header line must fit.
    pub const MIN_QUERY_BUFFER_BYTES: usize = 1024;

    /// Checks that the settings can run a server.
    pub fn validate(&self) -> Result<(), ServerError> {
        if self.maxclients == 0 {
            return Err(invalid("maxclients", "must be at least 1".to_owned()));
        }
        if self.max_query_buffer_bytes < Self::MIN_QUERY_BUFFER_BYTES {
            let reason = format!("must be at least {} bytes", Self::MIN_QUERY_BUFFER_BYTES);
            return Err(invalid("max_query_buffer_bytes", reason));
        }
        Ok(())
    }
}

fn invalid(field: &'static str, reason: String) -> ServerError {
    ServerError::InvalidConfig { field, reason }
}
