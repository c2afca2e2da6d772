//! State shared by every connection of one server.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use folio::PageStore;
use tokio::sync::Notify;

use crate::acks::AckWaiter;
use crate::clients::ClientRegistry;
use crate::config::ServerConfig;
use crate::error::ServerError;
use crate::keyspace::Keyspace;
use crate::stores::Stores;

/// What commands need besides their arguments.
pub(crate) struct Shared {
    /// The keys of the string commands, with their expiry.
    pub keys: Arc<Keyspace>,
    /// The page store, when the server has one.
    pub pages: Option<Arc<PageStore>>,
    /// Waits for the key space's deferred writes (`None` when its store
    /// acknowledges each write itself).
    pub acks: Option<AckWaiter>,
    /// Key writes wait for an fsync inside the command (`sync` durability
    /// without deferred acknowledgement).
    pub key_writes_wait: bool,
    /// Page writes wait for an fsync inside the command (`sync` durability
    /// without deferred acknowledgement).
    pub page_writes_wait: bool,
    /// Waits for the page store's deferred writes (`None` without a page
    /// store, or when its store acknowledges each write itself).
    pub page_acks: Option<AckWaiter>,
    /// The server's settings.
    pub config: ServerConfig,
    /// The address actually listened on (the port may have been 0).
    pub local_addr: SocketAddr,
    /// When the server started.
    pub started: Instant,
    /// The connected clients, for `CLIENT LIST`.
    pub clients: Arc<ClientRegistry>,
    /// Clients connected now, counted by [`ClientSlot`]s.
    client_count: AtomicUsize,
    /// Totals for `INFO stats`.
    pub counters: Counters,
    /// Unix time of the last successful `SAVE` (or of the start).
    pub last_save_unix: AtomicU64,
    /// Signalled by `SHUTDOWN`: the accept loop stops as on a signal.
    pub shutdown_requested: Notify,
    /// The connections of the clients that sent `SHUTDOWN`, kept open
    /// until the stores are closed (see `server::Stopped`).
    pub shutdown_clients: parking_lot::Mutex<Vec<std::net::TcpStream>>,
}

/// Totals since the server started.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Clients admitted.
    pub connections_received: AtomicU64,
    /// Clients refused over `maxclients`.
    pub rejected_connections: AtomicU64,
    /// Commands run (known commands, errors included).
    pub commands_processed: AtomicU64,
}

/// One admitted client; frees its slot when dropped (also on panic).
pub(crate) struct ClientSlot {
    shared: Arc<Shared>,
}

impl Shared {
    /// State for a server listening on `local_addr`; opening the key space
    /// reads every value's header (see `keyspace`).
    pub(crate) fn new(
        stores: Stores,
        config: ServerConfig,
        local_addr: SocketAddr,
    ) -> Result<Self, ServerError> {
        let waits = |store: &dyn folio::KvStore| store.durability() == folio::Durability::Sync;
        let acks = AckWaiter::start(&stores.kv);
        let page_acks = stores
            .pages
            .as_ref()
            .and_then(|p| AckWaiter::start(p.store()));
        Ok(Self {
            key_writes_wait: acks.is_none() && waits(stores.kv.as_ref()),
            acks,
            page_writes_wait: page_acks.is_none()
                && stores
                    .pages
                    .as_ref()
                    .is_some_and(|p| waits(p.store().as_ref())),
            page_acks,
            keys: Arc::new(Keyspace::open(stores.kv).map_err(ServerError::Keyspace)?),
            pages: stores.pages,
            config,
            local_addr,
            started: Instant::now(),
            clients: ClientRegistry::new(),
            client_count: AtomicUsize::new(0),
            counters: Counters::default(),
            last_save_unix: AtomicU64::new(unix_now()),
            shutdown_requested: Notify::new(),
            shutdown_clients: parking_lot::Mutex::new(Vec::new()),
        })
    }

    /// Clients connected now.
    pub(crate) fn connected_clients(&self) -> usize {
        self.client_count.load(Ordering::Relaxed)
    }

    /// Takes a client slot, or `None` when `maxclients` are connected.
    pub(crate) fn admit(self: &Arc<Self>) -> Option<ClientSlot> {
        let max = self.config.maxclients;
        let admitted = self
            .client_count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok();
        let counter = if admitted {
            &self.counters.connections_received
        } else {
            &self.counters.rejected_connections
        };
        counter.fetch_add(1, Ordering::Relaxed);
        admitted.then(|| ClientSlot {
            shared: Arc::clone(self),
        })
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    crate::keyspace::unix_now_ms() / 1000
}

impl ClientSlot {
    /// The server state this client uses.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        self.shared.client_count.fetch_sub(1, Ordering::AcqRel);
    }
}
