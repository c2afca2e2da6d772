//! Folio's Redis-protocol server: RESP2 (and RESP3 after `HELLO 3`) over TCP in front of any
//! [`folio::KvStore`], and of a [`folio::PageStore`] for the page and node
//! commands (`PAGE.*`, `NODE.*`; see docs/PROTOCOL.md).
//!
//! Layers, each in its own module:
//!
//! 1. [`resp`]: the incremental request parser and the reply encoder;
//! 2. `commands`: dispatch and the commands (see docs/PROTOCOL.md: the
//!    string commands with expiry, SCAN and KEYS, connection and server
//!    commands, AUTH, and the page and node commands);
//! 3. `keyspace`: values with their expiry deadlines in the engine, the
//!    in-memory deadline index, and the background expiry sweep;
//! 4. `connection` and `server`: one tokio task per client, pipelining,
//!    `maxclients`, graceful shutdown; `acks`: one wait for the disk per
//!    pipeline, not per write;
//! 5. [`run`]: a runtime, a listener and signal handling around [`serve`],
//!    with `maxclients` fitted to the open-file limit (`open_files`).
//!
//! Invariants: a client's bytes never panic the server or make it reserve
//! memory they have not sent; a protocol error is answered with Redis's text
//! and closes only that connection; every engine error is turned into a
//! reply in one function, `commands::engine_error`.
//!
//! ```no_run
//! use std::sync::Arc;
//! let store = folio::open("paged", "data".as_ref(), &folio::Config::default())?;
//! let stores = folio_server::Stores::kv_only(Arc::from(store));
//! folio_server::run(stores, folio_server::ServerConfig::default())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod acks;
mod clients;
mod commands;
mod config;
mod connection;
mod error;
mod keylock;
mod keyspace;
mod open_files;
pub mod resp;
mod run;
mod server;
mod shared;
mod stores;

pub use config::ServerConfig;
pub use error::ServerError;
pub use open_files::{raise_open_files_limit, RESERVED_FDS};
pub use run::run;
pub use server::{serve, Stopped};
pub use stores::Stores;
