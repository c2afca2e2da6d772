//! Protocol errors: the request bytes do not form a RESP2 command.
//!
//! The texts are Redis's (`networking.c`), so clients and tools that match on
//! them keep working. The connection replies `-ERR <text>` and then closes,
//! because after a framing error the position of the next command is unknown.

/// Why a request could not be parsed. The `Display` text is the message a
/// client receives after `-ERR `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A `*<count>` header that is not a number or is over the limit.
    #[error("Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    /// A `$<len>` header that is not a number, is negative or is over the limit.
    #[error("Protocol error: invalid bulk length")]
    InvalidBulkLength,
    /// Inside a multibulk request, an argument that does not start with `$`.
    #[error("Protocol error: expected '$', got '{}'", show_byte(*.0))]
    ExpectedBulk(u8),
    /// A `*<count>` header line longer than the inline limit.
    #[error("Protocol error: too big mbulk count string")]
    TooBigMultibulkCount,
    /// A `$<len>` header line longer than the inline limit.
    #[error("Protocol error: too big bulk count string")]
    TooBigBulkCount,
    /// An inline command line longer than the inline limit.
    #[error("Protocol error: too big inline request")]
    TooBigInline,
    /// An inline command with an unterminated quoted argument.
    #[error("Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    /// A header line whose `\r` is not followed by `\n`.
    #[error("Protocol error: expected LF after CR")]
    MissingLineFeed,
    /// Bulk data not followed by `\r\n`.
    #[error("Protocol error: bulk data not terminated by CRLF")]
    UnterminatedBulk,
    /// Before authenticating, a `*<count>` over the unauthenticated limit.
    #[error("Protocol error: unauthenticated multibulk length")]
    UnauthenticatedMultibulkLength,
    /// Before authenticating, a `$<len>` over the unauthenticated limit.
    #[error("Protocol error: unauthenticated bulk length")]
    UnauthenticatedBulkLength,
    /// One request would need more buffered bytes than the per-client limit.
    #[error("Protocol error: request exceeds the query buffer limit of {limit} bytes")]
    QueryBufferLimit {
        /// The limit in force (`ServerConfig::max_query_buffer_bytes`).
        limit: usize,
    },
}

/// A byte as Redis's `%c` would show it, escaped when not printable so the
/// error line stays valid text.
fn show_byte(byte: u8) -> String {
    if byte.is_ascii_graphic() || byte == b' ' {
        char::from(byte).to_string()
    } else {
        format!("\\x{byte:02x}")
    }
}
