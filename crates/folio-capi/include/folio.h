/*
 * folio.h: Folio's C ABI, the five-function pluggable key-value interface
 * (kvstore_init, kvstore_put, kvstore_get, kvstore_delete, kvstore_destroy)
 * with multi-version pages beside it (GetPage@LSN).
 *
 * Link with libfolio (crates/folio-capi; `cargo build --release -p
 * folio-capi` leaves target/release/libfolio.so and libfolio.a):
 *
 *     cc prog.c -I crates/folio-capi/include -L target/release -lfolio -lpthread -ldl -lm
 *
 * Rules for every function:
 * - Keys, values, page ids and page images are binary: a pointer and a
 *   length, never NUL-terminated; NUL bytes are data. A data pointer may be
 *   NULL only when its length is 0 (the empty key and the empty value are
 *   valid; the empty page id is not). Any other NULL pointer argument,
 *   including every output pointer, is KVSTORE_EINVAL.
 * - Every int-returning function returns a KVSTORE_* code. On a negative
 *   code, kvstore_last_error() on the same thread says what went wrong and,
 *   for a limit, what the limit is; the store is unchanged by a refused call.
 * - A kvstore handle is safe to share between threads: any number of threads
 *   may call any function on it at once, except kvstore_destroy, which must
 *   be the handle's last call, made once no other call on it is running.
 * - No Rust panic crosses this boundary: one is caught and returned as
 *   KVSTORE_EINTERNAL (the library is built with panic=unwind).
 * - Output buffers (*val, *page) are allocated by the library and owned by
 *   the caller, who frees each exactly once with kvstore_free.
 *
 * Limits (all set through kvstore_init's options): keys up to max_key_bytes
 * (default 4096), values and page images up to max_value_bytes (default
 * 16 MiB less 8 KiB, lowered to 16 MiB less one page for pages over 8 KiB),
 * page ids 1 to 64 bytes whatever max_key_bytes and max_batch_bytes say
 * (those limit keys and batches of the key-value store only).
 *
 * A relative path is resolved against the working directory once, in
 * kvstore_init: a later chdir moves neither the store nor its pages.
 */
#ifndef FOLIO_H
#define FOLIO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kvstore kvstore;          /* opaque; safe to share between threads */

#define KVSTORE_OK          0
#define KVSTORE_NOT_FOUND   1
#define KVSTORE_EINVAL     -1            /* bad argument: NULL pointer, over a limit, bad option */
#define KVSTORE_EIO        -2            /* I/O error; the store may now refuse writes */
#define KVSTORE_ECORRUPT   -3            /* a checksum or structure check failed */
#define KVSTORE_ENOSPC     -4
#define KVSTORE_EVACUUMED  -5            /* page version removed by vacuum */
#define KVSTORE_ECLOSED    -6
#define KVSTORE_EINTERNAL  -99

/*
 * More on the codes:
 * - KVSTORE_NOT_FOUND is an answer, not a failure: kvstore_last_error()
 *   is "" after it.
 * - KVSTORE_EINVAL also covers page-version misuse: a put at an LSN the page
 *   already holds with different bytes (versions are immutable), and a put
 *   below the vacuum horizon.
 * - KVSTORE_EIO also covers a store locked by another process, a store
 *   that refuses writes after an earlier failed write or fsync (reopen it:
 *   kvstore_destroy, then kvstore_init), every buffer-pool frame pinned by
 *   concurrent calls (retry, or raise cache_mib), and a failure of a peer
 *   engine (RocksDB, redb, LMDB, fjall) that is none of the other codes.
 * - KVSTORE_ECORRUPT also covers a file of a format version this build
 *   cannot read, and a store not closed cleanly that cannot be recovered.
 * - KVSTORE_ENOSPC: the disk is full; free space, then reopen.
 * - KVSTORE_EINTERNAL: a bug (a caught panic), or no memory for an output
 *   buffer. Running out of memory anywhere else aborts the process, as Rust's
 *   allocations do.
 */

/* Open or create the store at path. options: NULL or "key=value;key=value",
   e.g. "engine=paged;durability=sync;cache_mib=256;page_size=8192".
   Returns NULL on failure; kvstore_last_error() says why. */
/*
 * Options (spaces around keys and values are ignored, so is an empty pair;
 * a key given twice takes its last value; an unknown key or a bad value
 * fails with a message naming the key, the value and what is allowed):
 *   engine                  a backend of this build: "paged" (the default)
 *                           or "memory" (in memory, the same WAL, snapshots)
 *   durability              sync (default): a write returns after the fsync
 *                           that covers it; buffered: the WAL is fsynced
 *                           every sync_interval_ms; none: no WAL, a crash
 *                           goes back to the last checkpoint
 *   cache_mib, cache_bytes  buffer pool budget (default 64 MiB), per store
 *   page_size               4096..65536, a power of two (default 8192);
 *                           fixed when the store is created
 *   replacer                lru or clock (default)
 *   max_key_bytes, max_value_bytes, max_batch_ops, max_batch_bytes,
 *   sync_interval_ms, wal_file_bytes, checkpoint_wal_bytes,
 *   checkpoint_interval_ms  the engine's limits and policies, in bytes or ms
 * Keys live in the directory path; page versions in a second store in
 * path/pages, created on the first page call (each store has its own
 * cache_mib). One handle at a time may hold a path: another kvstore_init of
 * it returns NULL, the message saying the store is locked. path and options
 * are read during the call only. */
kvstore *kvstore_init(const char *path, const char *options);

/* Insert or overwrite key with val. Returns KVSTORE_OK once the write is as
   durable as the durability option promises. Errors: KVSTORE_EINVAL (NULL
   kv, NULL key or val with a non-zero length, key over max_key_bytes, val
   over max_value_bytes), KVSTORE_EIO, KVSTORE_ENOSPC, KVSTORE_ECORRUPT.
   key and val are read during the call only. */
int  kvstore_put(kvstore *kv, const void *key, size_t key_len, const void *val, size_t val_len);

/* On KVSTORE_OK, *val is a buffer of *val_len bytes owned by the caller: free it with kvstore_free. */
/* *val is never NULL on KVSTORE_OK, even for an empty value. On any other
   code *val is set to NULL and *val_len to 0 (when those pointers are not
   NULL). Returns KVSTORE_NOT_FOUND when key is absent (or was deleted).
   Errors: KVSTORE_EINVAL (NULL kv, val or val_len; NULL key with a non-zero
   key_len; key over max_key_bytes), KVSTORE_EIO, KVSTORE_ECORRUPT. */
int  kvstore_get(kvstore *kv, const void *key, size_t key_len, void **val, size_t *val_len);

/* Remove key. Errors as kvstore_put. */
int  kvstore_delete(kvstore *kv, const void *key, size_t key_len);   /* KVSTORE_NOT_FOUND if absent */

/* Flush both stores (what the durability mode promises, and more: close
   takes a checkpoint, so with durability=none too everything written
   survives a reopen), close them and free the handle. A failure to flush or
   close is left in kvstore_last_error() (it is "" otherwise); the handle is
   freed in every case and must not be used again. */
void kvstore_destroy(kvstore *kv);       /* flush, close, free; NULL is a no-op */

/* Free a buffer from kvstore_get or kvstore_get_page. Thread-safe. */
void kvstore_free(void *val);

/* The message of this thread's last call into the library: "" after a call
   that succeeded (or answered KVSTORE_NOT_FOUND). Never NULL. The string
   belongs to the library and stays valid until this thread's next call of
   any other kvstore_* function (kvstore_free excepted); copy it to keep it. */
const char *kvstore_last_error(void);    /* this thread's last error message, or "" */

/* Multi-version pages: the newest version with LSN <= lsn. */
/* Store version lsn of page page_id (1 to 64 bytes). Versions are
   immutable: a repeat with the same bytes is KVSTORE_OK and changes nothing
   (below the vacuum horizon too, while that version is kept), with
   different bytes KVSTORE_EINVAL; so is a new version below the vacuum
   horizon. Other errors as kvstore_put. */
int  kvstore_put_page(kvstore *kv, const void *page_id, size_t id_len, uint64_t lsn, const void *page, size_t page_len);

/* Read the newest version of page_id with LSN <= lsn: on KVSTORE_OK,
   *found_lsn is its LSN and *page a buffer of *page_len bytes, owned by the
   caller (free it with kvstore_free; never NULL on KVSTORE_OK). On any other
   code *found_lsn is 0, *page NULL and *page_len 0 (when not NULL).
   KVSTORE_NOT_FOUND: the page has no version at or below lsn.
   KVSTORE_EVACUUMED: lsn is below the vacuum horizon and no version at or
   below it is kept (the one it needed may have been removed). Errors as
   kvstore_get (found_lsn must not be NULL). */
int  kvstore_get_page(kvstore *kv, const void *page_id, size_t id_len, uint64_t lsn,
                      uint64_t *found_lsn, void **page, size_t *page_len);

/* Vacuum: on every page, remove the versions older than the newest at or
   below horizon; *removed is how many versions went. The horizon is stored
   durably first and never moves back (a lower horizon vacuums at the one
   already applied); one above the highest LSN ever put is applied as that
   LSN (the same versions go, and later puts above it are accepted); reads
   below it whose version went are then KVSTORE_EVACUUMED. This is the only vacuum: the library runs none in the
   background. Errors: KVSTORE_EINVAL (NULL kv or removed), KVSTORE_EIO,
   KVSTORE_ENOSPC, KVSTORE_ECORRUPT. */
int  kvstore_vacuum_pages(kvstore *kv, uint64_t horizon, uint64_t *removed);

#ifdef __cplusplus
}
#endif

#endif /* FOLIO_H */
