//! The connected clients, for `CLIENT ID`, `CLIENT LIST` and `CLIENT INFO`.
//!
//! Each connection registers at its start and is removed when its
//! [`Registration`] drops (also on panic). What a client sets about itself
//! (name, library) sits behind a mutex, written rarely; the last command
//! and last activity are published once per batch of pipelined commands
//! (`Session::publish_activity`), not per command, so other clients see
//! them when a batch ends.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

/// Every client connected now.
#[derive(Debug)]
pub(crate) struct ClientRegistry {
    next_id: AtomicU64,
    clients: Mutex<BTreeMap<u64, Arc<ClientInfo>>>,
    /// When the registry was made: the base of `last_active_ms`.
    epoch: Instant,
}

/// What one client is and has done.
#[derive(Debug)]
pub(crate) struct ClientInfo {
    /// Unique within the server's life, from 1.
    pub id: u64,
    /// The client's address.
    pub addr: SocketAddr,
    /// The server address it connected to.
    pub local_addr: SocketAddr,
    created: Instant,
    epoch: Instant,
    /// Milliseconds from the registry's epoch to the last command.
    last_active_ms: AtomicU64,
    /// Protocol version: 2 or 3.
    protocol: AtomicU8,
    /// Name of the last command (`""` before the first).
    last_command: Mutex<&'static str>,
    names: Mutex<Names>,
}

/// What a client says about itself.
#[derive(Debug, Default, Clone)]
pub(crate) struct Names {
    /// `CLIENT SETNAME` / `HELLO ... SETNAME`.
    pub name: Vec<u8>,
    /// `CLIENT SETINFO LIB-NAME`.
    pub lib_name: Vec<u8>,
    /// `CLIENT SETINFO LIB-VER`.
    pub lib_ver: Vec<u8>,
}

/// A client's place in the registry; dropping it removes the client.
#[derive(Debug)]
pub(crate) struct Registration {
    registry: Arc<ClientRegistry>,
    info: Arc<ClientInfo>,
}

impl ClientRegistry {
    /// An empty registry.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            next_id: AtomicU64::new(1),
            clients: Mutex::new(BTreeMap::new()),
            epoch: Instant::now(),
        })
    }

    /// Registers a new client connected from `addr` to `local_addr`.
    pub(crate) fn register(
        self: &Arc<Self>,
        addr: SocketAddr,
        local_addr: SocketAddr,
    ) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let info = Arc::new(ClientInfo {
            id,
            addr,
            local_addr,
            created: Instant::now(),
            epoch: self.epoch,
            last_active_ms: AtomicU64::new(elapsed_ms(self.epoch)),
            protocol: AtomicU8::new(2),
            last_command: Mutex::new(""),
            names: Mutex::new(Names::default()),
        });
        self.clients.lock().insert(id, Arc::clone(&info));
        Registration {
            registry: Arc::clone(self),
            info,
        }
    }

    /// Every client, by id.
    pub(crate) fn list(&self) -> Vec<Arc<ClientInfo>> {
        self.clients.lock().values().cloned().collect()
    }
}

impl Registration {
    /// This client.
    pub(crate) fn info(&self) -> &Arc<ClientInfo> {
        &self.info
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.clients.lock().remove(&self.info.id);
    }
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

impl ClientInfo {
    /// Records that the client's latest command, `command`, ran now (once
    /// per batch, by `Session::publish_activity`).
    pub(crate) fn touch(&self, command: &'static str) {
        self.last_active_ms
            .store(elapsed_ms(self.epoch), Ordering::Relaxed);
        *self.last_command.lock() = command;
    }

    /// The protocol version the client speaks (2 or 3).
    pub(crate) fn protocol(&self) -> u8 {
        self.protocol.load(Ordering::Relaxed)
    }

    /// Switches the protocol version.
    pub(crate) fn set_protocol(&self, version: u8) {
        self.protocol.store(version, Ordering::Relaxed);
    }

    /// What the client said about itself.
    pub(crate) fn names(&self) -> Names {
        self.names.lock().clone()
    }

    /// Changes what the client says about itself.
    pub(crate) fn update_names(&self, change: impl FnOnce(&mut Names)) {
        change(&mut self.names.lock());
    }

    /// The `CLIENT LIST` line of this client, as Redis 7 formats it (the
    /// memory and buffer fields Folio does not track are 0).
    pub(crate) fn list_line(&self) -> Vec<u8> {
        let names = self.names();
        let age = self.created.elapsed().as_secs();
        let idle_ms =
            elapsed_ms(self.epoch).saturating_sub(self.last_active_ms.load(Ordering::Relaxed));
        let command = *self.last_command.lock();
        let mut line = format!(
            "id={} addr={} laddr={} fd=0 name=",
            self.id, self.addr, self.local_addr
        )
        .into_bytes();
        line.extend_from_slice(&names.name);
        line.extend_from_slice(
            format!(
                " age={age} idle={} flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 \
                 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r \
                 cmd={} user=default redir=-1 resp={} lib-name=",
                idle_ms / 1000,
                if command.is_empty() { "NULL" } else { command },
                self.protocol(),
            )
            .as_bytes(),
        );
        line.extend_from_slice(&names.lib_name);
        line.extend_from_slice(b" lib-ver=");
        line.extend_from_slice(&names.lib_ver);
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_lists_and_forgets() {
        let registry = ClientRegistry::new();
        let addr = SocketAddr::from(([127, 0, 0, 1], 5000));
        let local = SocketAddr::from(([127, 0, 0, 1], 6379));
        let a = registry.register(addr, local);
        let b = registry.register(addr, local);
        assert_eq!((a.info().id, b.info().id), (1, 2));
        a.info().update_names(|n| n.name = b"worker".to_vec());
        a.info().touch("get");
        a.info().set_protocol(3);
        let line = String::from_utf8(a.info().list_line()).unwrap();
        assert!(
            line.starts_with("id=1 addr=127.0.0.1:5000 laddr=127.0.0.1:6379 fd=0 name=worker age="),
            "{line}"
        );
        // Whole seconds since the registration and the last command: 0
        // unless the machine stalled the test.
        let seconds = |field: &str| -> u64 {
            let start = line.find(&format!(" {field}=")).expect(field) + field.len() + 2;
            let digits: String = line[start..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().expect(field)
        };
        assert!(
            seconds("age") < 60 && seconds("idle") <= seconds("age"),
            "{line}"
        );
        assert!(
            line.contains(" cmd=get user=default redir=-1 resp=3 lib-name= lib-ver="),
            "{line}"
        );
        assert_eq!(registry.list().len(), 2);
        drop(b);
        assert_eq!(
            registry.list().iter().map(|c| c.id).collect::<Vec<_>>(),
            vec![1]
        );
    }
}
