//! `AUTH`, `HELLO` and the per-connection session they change.
//!
//! With `ServerConfig::requirepass` set, a new connection may run only
//! `AUTH`, `HELLO` and `QUIT` (and learn that a command is unknown or has
//! the wrong arity, as Redis 7 answers those first); everything else gets
//! `-NOAUTH Authentication required.` until an `AUTH` (or `HELLO ... AUTH`)
//! succeeds. The only user is `default`, as in a Redis without ACL rules.

use bytes::Bytes;

use super::info::REDIS_VERSION;
use super::syntax_error;
use crate::clients::{ClientInfo, Registration};
use crate::resp::{parse_i64, Reply};
use crate::shared::Shared;

/// What one connection has established.
#[derive(Debug)]
pub struct Session {
    authenticated: bool,
    client: Registration,
    /// The stores a command read or wrote since the last
    /// [`Session::take_store_access`]: its reply waits for the writes it
    /// may have seen there to be acknowledged.
    access: StoreAccess,
    /// Commands run since the last [`Session::publish_activity`], and the
    /// name of the last one: counted here, published once per batch, so
    /// the hot path writes no memory shared with other connections.
    unpublished_commands: u64,
    last_command: &'static str,
}

/// Which stores the commands of a batch read or wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StoreAccess {
    /// The key space.
    pub keys: bool,
    /// The page store.
    pub pages: bool,
}

impl Session {
    /// The session of the client `client` registered as.
    pub(crate) fn new(client: Registration) -> Self {
        Self {
            authenticated: false,
            client,
            access: StoreAccess::default(),
            unpublished_commands: 0,
            last_command: "",
        }
    }

    /// Counts a command about to run.
    pub(crate) fn note_command(&mut self, name: &'static str) {
        self.unpublished_commands += 1;
        self.last_command = name;
    }

    /// Publishes the commands counted since the last call: the server's
    /// `total_commands_processed`, and this client's last command and
    /// activity time (`CLIENT LIST`).
    pub(crate) fn publish_activity(&mut self, shared: &Shared) {
        if self.unpublished_commands == 0 {
            return;
        }
        self.client().touch(self.last_command);
        shared.counters.commands_processed.fetch_add(
            self.unpublished_commands,
            std::sync::atomic::Ordering::Relaxed,
        );
        self.unpublished_commands = 0;
    }

    /// Notes the stores a command read or wrote.
    pub(crate) fn note_store_access(&mut self, access: StoreAccess) {
        self.access.keys |= access.keys;
        self.access.pages |= access.pages;
    }

    /// The stores read or written since the last call; clears the note.
    pub(crate) fn take_store_access(&mut self) -> StoreAccess {
        std::mem::take(&mut self.access)
    }

    /// This connection's client.
    pub(crate) fn client(&self) -> &ClientInfo {
        self.client.info()
    }

    /// True while the server requires a password this connection has not
    /// given yet.
    pub(crate) fn awaits_auth(&self, shared: &Shared) -> bool {
        shared.config.requirepass.is_some() && !self.authenticated
    }

    /// The protocol version replies are encoded in (2 or 3).
    pub(crate) fn protocol(&self) -> u8 {
        self.client().protocol()
    }
}

/// Commands a connection may run before it authenticates.
const ALLOWED_BEFORE_AUTH: &[&str] = &["auth", "hello", "quit"];

/// The `-NOAUTH` reply when `command` needs an authenticated session.
pub(super) fn check(shared: &Shared, session: &Session, command: &str) -> Option<Reply> {
    if !session.awaits_auth(shared) || ALLOWED_BEFORE_AUTH.contains(&command) {
        return None;
    }
    Some(Reply::error_with_code("NOAUTH", "Authentication required."))
}

/// `AUTH [username] password`.
pub(super) fn auth(shared: &Shared, session: &mut Session, args: &[Bytes]) -> Reply {
    let (user, password) = match args {
        [_, password] => (None, password),
        [_, user, password] => (Some(user), password),
        _ => return syntax_error(),
    };
    if shared.config.requirepass.is_none() && user.is_none() {
        return Reply::err(
            "AUTH <password> called without any password configured for the default user. \
             Are you sure your configuration is correct?",
        );
    }
    match authenticate(shared, session, user.map(|u| &u[..]), password) {
        Ok(()) => Reply::ok(),
        Err(reply) => reply,
    }
}

/// Checks a user and password. Without `requirepass` the `default` user
/// takes any password, as Redis's `nopass` default user does.
fn authenticate(
    shared: &Shared,
    session: &mut Session,
    user: Option<&[u8]>,
    password: &[u8],
) -> Result<(), Reply> {
    let user_ok = user.is_none_or(|u| u == b"default");
    let password_ok = match &shared.config.requirepass {
        None => true,
        Some(required) => constant_time_eq(password, required.as_bytes()),
    };
    if user_ok && password_ok {
        session.authenticated = true;
        Ok(())
    } else {
        // As in Redis, a failed attempt leaves the session as it was.
        tracing::warn!("failed AUTH");
        Err(wrong_pass())
    }
}

/// `HELLO [protover [AUTH username password] [SETNAME clientname]]`:
/// switches the protocol, optionally authenticates and names the client,
/// and describes the server as a map.
pub(super) fn hello(shared: &Shared, session: &mut Session, args: &[Bytes]) -> Reply {
    let mut version = None;
    if let Some(arg) = args.get(1) {
        match parse_i64(arg) {
            None => return Reply::err("Protocol version is not an integer or out of range"),
            Some(v @ 2..=3) => version = u8::try_from(v).ok(),
            Some(_) => return Reply::Error(b"NOPROTO unsupported protocol version".to_vec()),
        }
    }
    let (mut credentials, mut name) = (None, None);
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - 1 - i;
        if args[i].eq_ignore_ascii_case(b"auth") && more >= 2 {
            credentials = Some((&args[i + 1], &args[i + 2]));
            i += 3;
        } else if args[i].eq_ignore_ascii_case(b"setname") && more >= 1 {
            if let Err(reply) = super::client::check_name(&args[i + 1], "Client names") {
                return reply;
            }
            name = Some(&args[i + 1]);
            i += 2;
        } else {
            let mut text = b"Syntax error in HELLO option '".to_vec();
            text.extend_from_slice(&args[i]);
            text.push(b'\'');
            return Reply::err(text);
        }
    }
    if let Some((user, password)) = credentials {
        if let Err(reply) = authenticate(shared, session, Some(user), password) {
            return reply;
        }
    }
    if shared.config.requirepass.is_some() && !session.authenticated {
        return Reply::Error(
            b"NOAUTH HELLO must be called with the client already authenticated, otherwise the \
              HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and \
              select the RESP protocol version at the same time"
                .to_vec(),
        );
    }
    if let Some(name) = name {
        session.client().update_names(|n| n.name = name.to_vec());
    }
    if let Some(version) = version {
        session.client().set_protocol(version);
    }
    let field = |name: &str, value: Reply| (Reply::bulk(name.as_bytes().to_vec()), value);
    Reply::Map(vec![
        field("server", Reply::bulk(&b"redis"[..])),
        field("version", Reply::bulk(REDIS_VERSION.as_bytes().to_vec())),
        field("proto", Reply::Integer(i64::from(session.protocol()))),
        field("id", Reply::count(session.client().id)),
        field("mode", Reply::bulk(&b"standalone"[..])),
        field("role", Reply::bulk(&b"master"[..])),
        field("modules", Reply::Array(Vec::new())),
    ])
}

fn wrong_pass() -> Reply {
    Reply::error_with_code(
        "WRONGPASS",
        "invalid username-password pair or user is disabled.",
    )
}

/// Compares without an early exit on the first differing byte, so the time
/// taken does not tell how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
