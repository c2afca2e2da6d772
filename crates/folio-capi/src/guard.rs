//! The wrapper around every entry point: no panic crosses the boundary,
//! and the thread's last error describes the call.

use std::os::raw::c_int;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error_text;
use crate::status::{Failure, EINTERNAL};

/// Runs `body` for an entry point returning a status: empties the last
/// error, returns `body`'s status, or on failure records the message and
/// returns the failure's code; a panic becomes `EINTERNAL`.
pub fn status(body: impl FnOnce() -> Result<c_int, Failure>) -> c_int {
    match value(body) {
        Ok(code) => code,
        Err(status) => status,
    }
}

/// Runs `body` for any entry point: `Err` carries the status of the failure
/// (already recorded as the last error) or `EINTERNAL` for a panic.
pub fn value<T>(body: impl FnOnce() -> Result<T, Failure>) -> Result<T, c_int> {
    error_text::clear();
    // AssertUnwindSafe: after a panic, the only state the caller sees is
    // the handle's engine, whose locks (parking_lot) do not poison. A panic
    // is a bug: the call that panicked may be half applied (a batch, a
    // slot), and later calls may see that; the caller learns of it through
    // EINTERNAL and should reopen the store.
    let failure = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => return Ok(value),
        Ok(Err(failure)) => failure,
        Err(payload) => Failure {
            status: EINTERNAL,
            message: format!("internal error: panic: {}", panic_text(&*payload)),
        },
    };
    error_text::set(&failure.message);
    Err(failure.status)
}

/// Runs `body` for an entry point that reports nothing (`kvstore_free`,
/// `kvstore_last_error`): leaves the last error alone and answers
/// `fallback` after a panic.
pub fn quiet<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(text) = payload.downcast_ref::<&str>() {
        text
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text
    } else {
        "(no message)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{EINVAL, NOT_FOUND};

    #[test]
    fn codes_pass_through_and_failures_are_recorded() {
        assert_eq!(status(|| Ok(NOT_FOUND)), NOT_FOUND);
        assert_eq!(status(|| Err(Failure::invalid("bad key"))), EINVAL);
        assert_eq!(error_text::current(), "bad key");
        assert_eq!(value(|| Ok(7)), Ok(7));
        assert_eq!(error_text::current(), "");
    }

    #[test]
    fn a_panic_is_caught_and_reported() {
        let code = status(|| panic!("boom {}", 42));
        assert_eq!(code, EINTERNAL);
        assert_eq!(error_text::current(), "internal error: panic: boom 42");
        let code = status(|| std::panic::panic_any(5_u8));
        assert_eq!(code, EINTERNAL);
        assert_eq!(error_text::current(), "internal error: panic: (no message)");
        assert_eq!(quiet(3, || panic!("quiet")), 3);
        assert_eq!(error_text::current(), "internal error: panic: (no message)");
    }
}
