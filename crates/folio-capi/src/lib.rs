//! Folio's C ABI (`libfolio`, `include/folio.h`): the five-function
//! pluggable key-value interface of disaggregated databases
//! (`kvstore_init`, `_put`, `_get`, `_delete`, `_destroy`), with page
//! versions (`kvstore_put_page`, `_get_page`, `_vacuum_pages`) beside it.
//!
//! This file is the ABI surface: each entry point checks its pointers,
//! runs inside [`guard`] (no panic crosses the boundary; the thread's last
//! error describes the call) and calls the handle. `include/folio.h` holds
//! the contract of each function; `tests/header.rs` checks the header
//! against this file and the built library's exports.
//!
//! The library is named `folio` (`libfolio.so`, `libfolio.a`) and builds no
//! rlib: an rlib would share the crate name of the engine, which this crate
//! depends on, and Rust cannot tell two rlibs named `folio` apart.

#![allow(unsafe_code)] // the exported functions take raw pointers

mod error_text;
mod guard;
mod handle;
mod options;
mod raw;
mod status;

use std::ffi::c_void;
use std::os::raw::{c_char, c_int};
use std::ptr;

use handle::Kvstore;
use status::{Failure, NOT_FOUND, OK};

/// The handle behind a non-NULL `kvstore *`.
///
/// # Safety
/// A non-NULL `kv` came from `kvstore_init` and was not destroyed.
unsafe fn handle<'a>(kv: *const Kvstore) -> Result<&'a Kvstore, Failure> {
    // SAFETY: the caller guarantees a non-NULL kv is a live handle; shared
    // use from many threads is fine (Kvstore is Sync).
    unsafe { kv.as_ref() }.ok_or_else(|| Failure::invalid("kv is NULL"))
}

/// Opens or creates the store at `path` with `options` (NULL or
/// `"key=value;key=value"`). NULL on failure; `kvstore_last_error` says why.
///
/// # Safety
/// `path` and a non-NULL `options` are NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn kvstore_init(path: *const c_char, options: *const c_char) -> *mut Kvstore {
    let opened = guard::value(|| {
        // SAFETY: the caller guarantees a NUL-terminated path.
        let path = raw::path(unsafe { raw::c_str(path, "path") }?)?;
        let options = if options.is_null() {
            None
        } else {
            // SAFETY: non-NULL options are NUL-terminated (caller).
            let text = unsafe { raw::c_str(options, "options") }?;
            Some(
                text.to_str()
                    .map_err(|_| Failure::invalid("options are not UTF-8"))?,
            )
        };
        Kvstore::open(&path, options::parse(options)?)
    });
    opened.map_or(ptr::null_mut(), |kv| Box::into_raw(Box::new(kv)))
}

/// Inserts or overwrites `key` with `val`.
///
/// # Safety
/// `kv` is a live handle or NULL; `key` and `val` point at `key_len` and
/// `val_len` readable bytes (or are NULL with a length of 0).
#[no_mangle]
pub unsafe extern "C" fn kvstore_put(
    kv: *mut Kvstore,
    key: *const c_void,
    key_len: usize,
    val: *const c_void,
    val_len: usize,
) -> c_int {
    guard::status(|| {
        // SAFETY: the caller's guarantees above, checked for NULL inside.
        let (kv, key, val) = unsafe {
            (
                handle(kv)?,
                raw::bytes(key, key_len, "key")?,
                raw::bytes(val, val_len, "val")?,
            )
        };
        kv.put(key, val)?;
        Ok(OK)
    })
}

/// Reads `key` into a new buffer the caller frees with `kvstore_free`.
///
/// # Safety
/// As `kvstore_put`; `val` and `val_len` are writable or NULL.
#[no_mangle]
pub unsafe extern "C" fn kvstore_get(
    kv: *mut Kvstore,
    key: *const c_void,
    key_len: usize,
    val: *mut *mut c_void,
    val_len: *mut usize,
) -> c_int {
    // SAFETY: non-NULL outputs are writable (caller); cleared so that a
    // caller freeing *val after any outcome frees NULL.
    unsafe { clear_output(val, val_len) };
    guard::status(|| {
        raw::out(val, "val")?;
        raw::out(val_len, "val_len")?;
        // SAFETY: the caller's guarantees above, checked for NULL inside.
        let (kv, key) = unsafe { (handle(kv)?, raw::bytes(key, key_len, "key")?) };
        let Some(value) = kv.get(key)? else {
            return Ok(NOT_FOUND);
        };
        let buffer = raw::to_c_buffer(&value)?;
        // SAFETY: both outputs are non-NULL (checked) and writable (caller).
        unsafe { write_output(val, val_len, buffer, value.len()) };
        Ok(OK)
    })
}

/// Removes `key`; `NOT_FOUND` when it was absent.
///
/// # Safety
/// As `kvstore_put`.
#[no_mangle]
pub unsafe extern "C" fn kvstore_delete(
    kv: *mut Kvstore,
    key: *const c_void,
    key_len: usize,
) -> c_int {
    guard::status(|| {
        // SAFETY: the caller's guarantees above, checked for NULL inside.
        let (kv, key) = unsafe { (handle(kv)?, raw::bytes(key, key_len, "key")?) };
        Ok(if kv.delete(key)? { OK } else { NOT_FOUND })
    })
}

/// Flushes, closes and frees the handle; NULL is a no-op. A failure to
/// flush or close is left in `kvstore_last_error`; the handle is freed
/// regardless.
///
/// # Safety
/// `kv` is NULL or a live handle no other thread is using, not used after.
#[no_mangle]
pub unsafe extern "C" fn kvstore_destroy(kv: *mut Kvstore) {
    let _ = guard::value(|| {
        if kv.is_null() {
            return Ok(());
        }
        // SAFETY: kv came from Box::into_raw in kvstore_init, and the
        // caller hands it over: nobody else uses or frees it.
        let kv = unsafe { Box::from_raw(kv) };
        kv.close()
    });
}

/// Frees a buffer returned by `kvstore_get` or `kvstore_get_page`; NULL is
/// a no-op.
///
/// # Safety
/// `val` is NULL or such a buffer, not freed yet.
#[no_mangle]
pub unsafe extern "C" fn kvstore_free(val: *mut c_void) {
    // SAFETY: the caller guarantees val is NULL or one of our buffers.
    guard::quiet((), || unsafe { raw::free_c_buffer(val) })
}

/// This thread's last error message, or "" after a call that succeeded.
#[no_mangle]
pub extern "C" fn kvstore_last_error() -> *const c_char {
    guard::quiet(c"".as_ptr(), error_text::as_ptr)
}

/// Stores version `lsn` of page `page_id`.
///
/// # Safety
/// As `kvstore_put`, for `page_id` and `page`.
#[no_mangle]
pub unsafe extern "C" fn kvstore_put_page(
    kv: *mut Kvstore,
    page_id: *const c_void,
    id_len: usize,
    lsn: u64,
    page: *const c_void,
    page_len: usize,
) -> c_int {
    guard::status(|| {
        // SAFETY: the caller's guarantees above, checked for NULL inside.
        let (kv, id, page) = unsafe {
            (
                handle(kv)?,
                raw::bytes(page_id, id_len, "page_id")?,
                raw::bytes(page, page_len, "page")?,
            )
        };
        kv.put_page(id, lsn, page)?;
        Ok(OK)
    })
}

/// Reads the newest version of `page_id` at or below `lsn`.
///
/// # Safety
/// As `kvstore_get`, for `page_id`, `found_lsn`, `page` and `page_len`.
#[no_mangle]
pub unsafe extern "C" fn kvstore_get_page(
    kv: *mut Kvstore,
    page_id: *const c_void,
    id_len: usize,
    lsn: u64,
    found_lsn: *mut u64,
    page: *mut *mut c_void,
    page_len: *mut usize,
) -> c_int {
    // SAFETY: non-NULL outputs are writable (caller).
    unsafe {
        raw::write(found_lsn, 0);
        clear_output(page, page_len);
    }
    guard::status(|| {
        raw::out(found_lsn, "found_lsn")?;
        raw::out(page, "page")?;
        raw::out(page_len, "page_len")?;
        // SAFETY: the caller's guarantees above, checked for NULL inside.
        let (kv, id) = unsafe { (handle(kv)?, raw::bytes(page_id, id_len, "page_id")?) };
        let Some((found, image)) = kv.get_page(id, lsn)? else {
            return Ok(NOT_FOUND);
        };
        let buffer = raw::to_c_buffer(&image)?;
        // SAFETY: the outputs are non-NULL (checked) and writable (caller).
        unsafe {
            found_lsn.write(found);
            write_output(page, page_len, buffer, image.len());
        }
        Ok(OK)
    })
}

/// Removes every page version older than the newest at or below `horizon`.
///
/// # Safety
/// `kv` is a live handle or NULL; `removed` is writable or NULL.
#[no_mangle]
pub unsafe extern "C" fn kvstore_vacuum_pages(
    kv: *mut Kvstore,
    horizon: u64,
    removed: *mut u64,
) -> c_int {
    // SAFETY: a non-NULL removed is writable (caller).
    unsafe { raw::write(removed, 0) };
    guard::status(|| {
        raw::out(removed, "removed")?;
        // SAFETY: a non-NULL kv is a live handle (caller).
        let kv = unsafe { handle(kv) }?;
        let count = kv.vacuum_pages(horizon)?;
        // SAFETY: non-NULL (checked) and writable (caller).
        unsafe { removed.write(count) };
        Ok(OK)
    })
}

/// Sets `*buffer = NULL` and `*len = 0`, skipping NULL pointers.
///
/// # Safety
/// Non-NULL pointers are writable.
unsafe fn clear_output(buffer: *mut *mut c_void, len: *mut usize) {
    // SAFETY: raw::write skips NULL; the rest is the caller's guarantee.
    unsafe {
        raw::write(buffer, ptr::null_mut());
        raw::write(len, 0);
    }
}

/// Hands a buffer and its length to the caller.
///
/// # Safety
/// Both pointers are non-NULL and writable.
unsafe fn write_output(
    buffer: *mut *mut c_void,
    len: *mut usize,
    data: *mut c_void,
    data_len: usize,
) {
    // SAFETY: the caller guarantees both are non-NULL and writable.
    unsafe {
        buffer.write(data);
        len.write(data_len);
    }
}
