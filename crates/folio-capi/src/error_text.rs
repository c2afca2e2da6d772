//! The thread-local last error message behind `kvstore_last_error`.
//!
//! Each thread has one NUL-terminated buffer. Every entry point except
//! `kvstore_last_error` and `kvstore_free` empties it on entry and fills it
//! when the call fails, so the message always describes this thread's most
//! recent call. The pointer handed out stays valid until this thread's next
//! call into the library (which may rewrite or move the buffer).

use std::cell::RefCell;
use std::os::raw::c_char;

thread_local! {
    /// The message bytes followed by one NUL; never without the NUL.
    static LAST_ERROR: RefCell<Vec<u8>> = RefCell::new(vec![0]);
}

/// Empties this thread's message.
pub fn clear() {
    // During thread teardown the buffer may be gone: nothing to clear then.
    let _ = LAST_ERROR.try_with(|text| {
        let mut text = text.borrow_mut();
        text.clear();
        text.push(0);
    });
}

/// Sets this thread's message. Interior NUL bytes (impossible in the
/// engine's messages, but cheap to rule out) are shown as `\0`.
pub fn set(message: &str) {
    let _ = LAST_ERROR.try_with(|text| {
        let mut text = text.borrow_mut();
        text.clear();
        for &b in message.as_bytes() {
            if b == 0 {
                text.extend_from_slice(b"\\0");
            } else {
                text.push(b);
            }
        }
        text.push(0);
    });
}

/// This thread's message as a C string.
pub fn as_ptr() -> *const c_char {
    LAST_ERROR
        .try_with(|text| text.borrow().as_ptr().cast::<c_char>())
        // During thread teardown the buffer may be gone: no message then.
        .unwrap_or(c"".as_ptr())
}

/// This thread's message as a Rust string (for tests).
#[cfg(test)]
#[allow(unsafe_code)] // reading back the C string the library hands out
pub fn current() -> String {
    // SAFETY: as_ptr points at this thread's NUL-terminated buffer, not
    // modified until the next set or clear on this thread.
    let text = unsafe { std::ffi::CStr::from_ptr(as_ptr()) };
    text.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_clear_and_nul_bytes() {
        assert_eq!(current(), "");
        set("key\0too long");
        assert_eq!(current(), "key\\0too long");
        clear();
        assert_eq!(current(), "");
    }

    #[test]
    fn messages_are_per_thread() {
        set("main thread");
        std::thread::spawn(|| {
            assert_eq!(current(), "");
            set("other thread");
        })
        .join()
        .unwrap();
        assert_eq!(current(), "main thread");
    }
}
