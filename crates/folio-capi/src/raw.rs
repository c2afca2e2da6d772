//! Turning the C caller's pointers into Rust values, and back.
//!
//! The only module besides the entry points that touches raw memory. Each
//! function checks what can be checked (NULL, a length Rust slices cannot
//! hold) and documents what the caller must guarantee for the rest.

#![allow(unsafe_code)]

use std::ffi::{c_void, CStr};
use std::path::PathBuf;

use crate::status::Failure;

/// The bytes `ptr[0..len]`. A NULL `ptr` is allowed only with `len == 0`
/// (an empty key, value or image); `what` names the argument in errors.
///
/// # Safety
/// A non-NULL `ptr` must point at `len` readable bytes that stay unchanged
/// while the returned slice is in use.
pub unsafe fn bytes<'a>(ptr: *const c_void, len: usize, what: &str) -> Result<&'a [u8], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(Failure::invalid(format!(
            "{what} is NULL with a length of {len}; NULL is allowed only with length 0"
        )));
    }
    if isize::try_from(len).is_err() {
        return Err(Failure::invalid(format!(
            "{what} length {len} exceeds the largest object size"
        )));
    }
    // SAFETY: ptr is non-NULL and len fits isize; the caller guarantees
    // that ptr[0..len] is readable and unchanged while the slice lives.
    Ok(unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) })
}

/// A required C string argument.
///
/// # Safety
/// A non-NULL `ptr` must point at a NUL-terminated string.
pub unsafe fn c_str<'a>(ptr: *const std::os::raw::c_char, what: &str) -> Result<&'a CStr, Failure> {
    if ptr.is_null() {
        return Err(Failure::invalid(format!("{what} is NULL")));
    }
    // SAFETY: non-NULL, and the caller guarantees NUL termination.
    Ok(unsafe { CStr::from_ptr(ptr) })
}

/// A store directory from its C string (any bytes but NUL on Unix).
pub fn path(text: &CStr) -> Result<PathBuf, Failure> {
    if text.is_empty() {
        return Err(Failure::invalid("path is empty"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Ok(PathBuf::from(std::ffi::OsStr::from_bytes(text.to_bytes())))
    }
    #[cfg(not(unix))]
    {
        text.to_str()
            .map(PathBuf::from)
            .map_err(|_| Failure::invalid("path is not UTF-8"))
    }
}

/// Checks that an output pointer is not NULL.
pub fn out<T>(ptr: *mut T, what: &str) -> Result<(), Failure> {
    if ptr.is_null() {
        return Err(Failure::invalid(format!("{what} is NULL")));
    }
    Ok(())
}

/// Copies `data` into a new `malloc` buffer the caller frees with
/// `kvstore_free`. Never NULL on success, even for empty data, so that a
/// successful read is always a non-NULL pointer.
pub fn to_c_buffer(data: &[u8]) -> Result<*mut c_void, Failure> {
    // SAFETY: malloc has no preconditions; a NULL result is handled below.
    let buffer = unsafe { libc::malloc(data.len().max(1)) };
    if buffer.is_null() {
        return Err(Failure {
            status: crate::status::EINTERNAL,
            message: format!("out of memory allocating {} bytes", data.len()),
        });
    }
    // SAFETY: buffer holds at least data.len() bytes, fresh from malloc, so
    // it cannot overlap data.
    unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), buffer.cast::<u8>(), data.len()) };
    Ok(buffer)
}

/// Frees a buffer from [`to_c_buffer`]; NULL is a no-op.
///
/// # Safety
/// `buffer` is NULL or came from [`to_c_buffer`] and was not freed yet.
pub unsafe fn free_c_buffer(buffer: *mut c_void) {
    // SAFETY: the caller guarantees buffer came from malloc (through
    // to_c_buffer) and is freed once; free(NULL) does nothing.
    unsafe { libc::free(buffer) }
}

/// Writes `value` through `ptr` when it is not NULL.
///
/// # Safety
/// A non-NULL `ptr` must be valid for a write of `T`.
pub unsafe fn write<T>(ptr: *mut T, value: T) {
    if !ptr.is_null() {
        // SAFETY: non-NULL, and the caller guarantees it is writable.
        unsafe { ptr.write(value) };
    }
}
