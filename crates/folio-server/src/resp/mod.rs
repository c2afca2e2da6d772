//! RESP: the request parser and the reply encoder (RESP2, and RESP3 after
//! `HELLO 3`).
//!
//! [`RequestParser`] turns a connection's input bytes into commands
//! incrementally; [`Reply`] is what a command answers, written out with
//! [`Reply::encode`].

mod error;
mod inline;
mod parser;
mod reply;

#[cfg(test)]
mod tests;

pub use error::ProtocolError;
pub use inline::split_args;
pub use parser::{
    parse_i64, Command, RequestParser, ARGS_INITIAL_CAPACITY, DEFAULT_MAX_QUERY_BUFFER,
    MAX_BULK_LEN, MAX_INLINE_LEN, MAX_MULTIBULK_LEN,
};
pub use reply::{Reply, RESP3};
