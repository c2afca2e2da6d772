//! `AUTH` and the per-connection session it changes.
//!
//! With `ServerConfig::requirepass` set, a new connection may run only
//! `AUTH`, `HELLO` and `QUIT` (and learn that a command is unknown or has
//! the wrong arity, as Redis 7 answers those first); everything else gets
//! `-NOAUTH Authentication required.` until an `AUTH` succeeds. The only
//! user is `default`, as in a Redis without ACL rules.

use bytes::Bytes;

use super::syntax_error;
use crate::resp::Reply;
use crate::shared::Shared;

/// What one connection has established.
#[derive(Debug, Default)]
pub struct Session {
    authenticated: bool,
}

impl Session {
    /// A fresh connection's session.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Commands a connection may run before it authenticates.
const ALLOWED_BEFORE_AUTH: &[&str] = &["auth", "hello", "quit"];

/// The `-NOAUTH` reply when `command` needs an authenticated session.
pub(super) fn check(shared: &Shared, session: &Session, command: &str) -> Option<Reply> {
    let open = shared.config.requirepass.is_none() || session.authenticated;
    if open || ALLOWED_BEFORE_AUTH.contains(&command) {
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
    let Some(required) = &shared.config.requirepass else {
        return match user {
            None => Reply::err(
                "AUTH <password> called without any password configured for the default user. \
                 Are you sure your configuration is correct?",
            ),
            Some(user) if user.as_ref() == b"default" => Reply::ok(),
            Some(_) => wrong_pass(),
        };
    };
    let user_ok = user.is_none_or(|u| u.as_ref() == b"default");
    if user_ok && constant_time_eq(password, required.as_bytes()) {
        session.authenticated = true;
        Reply::ok()
    } else {
        session.authenticated = false;
        tracing::warn!("failed AUTH");
        wrong_pass()
    }
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
