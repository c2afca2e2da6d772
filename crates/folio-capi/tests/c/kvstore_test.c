/*
 * kvstore_test.c: drives every function of folio.h from C.
 *
 *   kvstore_test DIR ENGINE OPS SEED
 *
 * DIR is an empty scratch directory, ENGINE a backend name, OPS the number
 * of random operations of the model test (the thread test does OPS / 2 per
 * thread), SEED the random seed. Exits 0 when every check passed; on the
 * first failed check prints it (with kvstore_last_error()) and exits 1.
 *
 * Parts: option and argument errors (every code path reachable from C),
 * limits, key-value basics, page versions and vacuum, random operations
 * checked against an in-program model with reopens, durability=sync
 * reopen, a relative path and small key limits with pages, a page store
 * open retried, a value damaged on disk, and four threads sharing one
 * handle.
 */
#define _POSIX_C_SOURCE 200809L

#include "folio.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- checks ----------------------------------------------------------- */

static void fail(int line, const char *what, long got, long want)
{
    fprintf(stderr, "kvstore_test.c:%d: %s: got %ld, want %ld; last error: \"%s\"\n",
            line, what, got, want, kvstore_last_error());
    exit(1);
}

/* A call must return the code `want`. */
#define EXPECT(call, want)                                   \
    do {                                                     \
        long got_ = (long)(call);                            \
        if (got_ != (long)(want)) fail(__LINE__, #call, got_, (long)(want)); \
    } while (0)

/* A condition must hold. */
#define CHECK(cond)                                          \
    do {                                                     \
        if (!(cond)) fail(__LINE__, #cond, 0, 1);            \
    } while (0)

/* This thread's last error must contain `needle`. */
#define MENTIONS(needle)                                     \
    do {                                                     \
        if (!strstr(kvstore_last_error(), (needle))) {       \
            fprintf(stderr, "kvstore_test.c:%d: last error \"%s\" does not mention \"%s\"\n", \
                    __LINE__, kvstore_last_error(), (needle)); \
            exit(1);                                         \
        }                                                    \
    } while (0)

#define NO_ERROR() CHECK(kvstore_last_error()[0] == '\0')

/* ---- randomness ------------------------------------------------------- */

typedef struct { uint64_t state; } rng;

static uint64_t next(rng *r)
{
    /* xorshift64* */
    r->state ^= r->state >> 12;
    r->state ^= r->state << 25;
    r->state ^= r->state >> 27;
    return r->state * 2685821657736338717ULL;
}

static rng seeded(uint64_t seed)
{
    rng r = { seed * 0x9E3779B97F4A7C15ULL + 1 };
    return r;
}

/* Random bytes, NUL-rich: a quarter of them are 0. */
static void fill(rng *r, unsigned char *out, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        uint64_t x = next(r);
        out[i] = (x & 3) == 0 ? 0 : (unsigned char)(x >> 8);
    }
}

static void *xmalloc(size_t len)
{
    void *p = malloc(len ? len : 1);
    if (!p) { perror("malloc"); exit(2); }
    return p;
}

/* ---- helpers ---------------------------------------------------------- */

static const char *g_dir;
static const char *g_engine;

/* DIR/name */
static char *path_of(const char *name)
{
    size_t len = strlen(g_dir) + strlen(name) + 2;
    char *path = xmalloc(len);
    snprintf(path, len, "%s/%s", g_dir, name);
    return path;
}

/* "engine=ENGINE;wal_file_bytes=262144;" + rest. The small WAL files keep
   reopens fast (a reopen reads its WAL files whole), under valgrind too. */
static char *options_of(const char *rest)
{
    size_t len = strlen(g_engine) + strlen(rest) + 64;
    char *options = xmalloc(len);
    snprintf(options, len, "engine=%s;wal_file_bytes=262144;%s", g_engine, rest);
    return options;
}

static kvstore *open_store(const char *path, const char *options)
{
    kvstore *kv = kvstore_init(path, options);
    if (!kv) {
        fprintf(stderr, "kvstore_init(%s, %s): %s\n", path, options, kvstore_last_error());
        exit(1);
    }
    NO_ERROR();
    return kv;
}

/* key must hold exactly want[0..want_len]. */
static void expect_value(kvstore *kv, const void *key, size_t key_len,
                         const void *want, size_t want_len, int line)
{
    void *val = NULL;
    size_t val_len = 0;
    int rc = kvstore_get(kv, key, key_len, &val, &val_len);
    if (rc != KVSTORE_OK) fail(line, "kvstore_get", rc, KVSTORE_OK);
    if (val == NULL) fail(line, "kvstore_get gave NULL", 0, 1);
    if (val_len != want_len) fail(line, "value length", (long)val_len, (long)want_len);
    if (memcmp(val, want, want_len) != 0) fail(line, "value bytes differ", 0, 1);
    kvstore_free(val);
}

static void expect_absent(kvstore *kv, const void *key, size_t key_len, int line)
{
    void *val = (void *)&key; /* must be reset to NULL */
    size_t val_len = 7;
    int rc = kvstore_get(kv, key, key_len, &val, &val_len);
    if (rc != KVSTORE_NOT_FOUND) fail(line, "kvstore_get of an absent key", rc, KVSTORE_NOT_FOUND);
    if (val != NULL || val_len != 0) fail(line, "outputs reset on NOT_FOUND", 0, 1);
    if (kvstore_last_error()[0] != '\0') fail(line, "NOT_FOUND leaves no error", 0, 1);
}

/* Deterministic page image of (page, lsn), so the model need not keep it. */
static size_t page_image(unsigned page, uint64_t lsn, unsigned char *out)
{
    rng r = seeded(((uint64_t)page << 40) ^ lsn);
    size_t len = 1 + (size_t)(next(&r) % 9000);
    fill(&r, out, len);
    return len;
}

/* ---- option and argument errors ---------------------------------------- */

static void expect_init_fails(const char *path, const char *options, const char *needle,
                              const char *needle2, int line)
{
    kvstore *kv = kvstore_init(path, options);
    if (kv != NULL) fail(line, "kvstore_init should fail", 1, 0);
    if (!strstr(kvstore_last_error(), needle) || !strstr(kvstore_last_error(), needle2)) {
        fprintf(stderr, "kvstore_test.c:%d: init(%s): \"%s\" should mention \"%s\" and \"%s\"\n",
                line, options ? options : "NULL", kvstore_last_error(), needle, needle2);
        exit(1);
    }
}

static void test_init_errors(void)
{
    char *path = path_of("errors");
    char *options = options_of("durability=none");
    expect_init_fails(NULL, NULL, "path is NULL", "", __LINE__);
    expect_init_fails("", NULL, "path is empty", "", __LINE__);
    expect_init_fails(path, "colour=blue", "\"colour\"", "known options", __LINE__);
    expect_init_fails(path, "durability=maybe", "durability=\"maybe\"", "sync, buffered, none", __LINE__);
    expect_init_fails(path, "cache_mib=lots", "cache_mib=\"lots\"", "non-negative integer", __LINE__);
    expect_init_fails(path, "page_size=5000", "page_bytes", "power of two", __LINE__);
    expect_init_fails(path, "engine=nosuch", "\"nosuch\"", "not one of", __LINE__);
    expect_init_fails(path, "durability", "no '='", "key=value", __LINE__);

    /* A second handle on a held path is refused. */
    kvstore *kv = open_store(path, options);
    expect_init_fails(path, options, "locked", "", __LINE__);
    kvstore_destroy(kv);
    NO_ERROR();
    kvstore_destroy(NULL); /* a no-op */
    NO_ERROR();
    kvstore_free(NULL);
    free(options);
    free(path);
}

static void test_null_arguments(kvstore *kv)
{
    void *val = NULL;
    size_t len = 0;
    uint64_t lsn = 0;

    EXPECT(kvstore_put(NULL, "k", 1, "v", 1), KVSTORE_EINVAL);
    MENTIONS("kv is NULL");
    EXPECT(kvstore_put(kv, NULL, 3, "v", 1), KVSTORE_EINVAL);
    MENTIONS("key is NULL");
    EXPECT(kvstore_put(kv, "k", 1, NULL, 5), KVSTORE_EINVAL);
    MENTIONS("val is NULL");
    EXPECT(kvstore_get(NULL, "k", 1, &val, &len), KVSTORE_EINVAL);
    EXPECT(kvstore_get(kv, NULL, 1, &val, &len), KVSTORE_EINVAL);
    val = &len;
    EXPECT(kvstore_get(kv, "k", 1, &val, NULL), KVSTORE_EINVAL);
    MENTIONS("val_len is NULL");
    CHECK(val == NULL); /* outputs are reset on failure */
    EXPECT(kvstore_get(kv, "k", 1, NULL, &len), KVSTORE_EINVAL);
    MENTIONS("val is NULL");
    EXPECT(kvstore_delete(NULL, "k", 1), KVSTORE_EINVAL);
    EXPECT(kvstore_delete(kv, NULL, 2), KVSTORE_EINVAL);

    EXPECT(kvstore_put_page(NULL, "p", 1, 1, "x", 1), KVSTORE_EINVAL);
    EXPECT(kvstore_put_page(kv, NULL, 4, 1, "x", 1), KVSTORE_EINVAL);
    MENTIONS("page_id is NULL");
    EXPECT(kvstore_put_page(kv, "p", 1, 1, NULL, 1), KVSTORE_EINVAL);
    MENTIONS("page is NULL");
    EXPECT(kvstore_put_page(kv, NULL, 0, 1, "x", 1), KVSTORE_EINVAL); /* empty page id */
    MENTIONS("1 to 64 bytes");
    EXPECT(kvstore_get_page(NULL, "p", 1, 1, &lsn, &val, &len), KVSTORE_EINVAL);
    EXPECT(kvstore_get_page(kv, "p", 1, 1, NULL, &val, &len), KVSTORE_EINVAL);
    MENTIONS("found_lsn is NULL");
    EXPECT(kvstore_get_page(kv, "p", 1, 1, &lsn, NULL, &len), KVSTORE_EINVAL);
    val = &len;
    lsn = 7;
    EXPECT(kvstore_get_page(kv, "p", 1, 1, &lsn, &val, NULL), KVSTORE_EINVAL);
    MENTIONS("page_len is NULL");
    CHECK(val == NULL && lsn == 0); /* outputs are reset on failure */
    EXPECT(kvstore_get_page(kv, NULL, 1, 1, &lsn, &val, &len), KVSTORE_EINVAL);
    EXPECT(kvstore_vacuum_pages(NULL, 1, &lsn), KVSTORE_EINVAL);
    EXPECT(kvstore_vacuum_pages(kv, 1, NULL), KVSTORE_EINVAL);
    MENTIONS("removed is NULL");

    /* NULL with a length of 0 is the empty key or value. */
    EXPECT(kvstore_put(kv, NULL, 0, NULL, 0), KVSTORE_OK);
    NO_ERROR();
    expect_value(kv, NULL, 0, "", 0, __LINE__);
    EXPECT(kvstore_put(kv, "", 0, "empty key", 9), KVSTORE_OK);
    expect_value(kv, NULL, 0, "empty key", 9, __LINE__);
    EXPECT(kvstore_delete(kv, NULL, 0), KVSTORE_OK);
    expect_absent(kv, "", 0, __LINE__);
}

static void test_limits(kvstore *kv)
{
    /* Defaults: max_key_bytes 4096; this store: max_value_bytes 65536. */
    unsigned char *big = xmalloc(65537);
    memset(big, 'x', 65537);
    EXPECT(kvstore_put(kv, big, 4097, "v", 1), KVSTORE_EINVAL);
    MENTIONS("4097 bytes");
    MENTIONS("4096");
    void *val = NULL;
    size_t val_len = 0;
    EXPECT(kvstore_get(kv, big, 4097, &val, &val_len), KVSTORE_EINVAL);
    EXPECT(kvstore_delete(kv, big, 4097), KVSTORE_EINVAL);
    MENTIONS("max_key_bytes");
    EXPECT(kvstore_put(kv, "k", 1, big, 65537), KVSTORE_EINVAL);
    MENTIONS("65536");
    MENTIONS("max_value_bytes");
    expect_absent(kv, "k", 1, __LINE__); /* a refused put changes nothing */
    EXPECT(kvstore_put(kv, big, 4096, big, 65536), KVSTORE_OK);
    expect_value(kv, big, 4096, big, 65536, __LINE__);
    EXPECT(kvstore_delete(kv, big, 4096), KVSTORE_OK);

    EXPECT(kvstore_put_page(kv, big, 65, 1000, "x", 1), KVSTORE_EINVAL);
    MENTIONS("65 bytes");
    EXPECT(kvstore_put_page(kv, "p", 1, 1000, big, 65537), KVSTORE_EINVAL);
    MENTIONS("65536");
    free(big);
}

static void test_basics(kvstore *kv)
{
    EXPECT(kvstore_put(kv, "alpha", 5, "one", 3), KVSTORE_OK);
    NO_ERROR();
    expect_value(kv, "alpha", 5, "one", 3, __LINE__);
    EXPECT(kvstore_put(kv, "alpha", 5, "two\0two", 7), KVSTORE_OK);
    expect_value(kv, "alpha", 5, "two\0two", 7, __LINE__);
    /* Keys differing after a NUL byte are different keys. */
    EXPECT(kvstore_put(kv, "a\0b", 3, "ab", 2), KVSTORE_OK);
    EXPECT(kvstore_put(kv, "a\0c", 3, "ac", 2), KVSTORE_OK);
    expect_value(kv, "a\0b", 3, "ab", 2, __LINE__);
    expect_value(kv, "a\0c", 3, "ac", 2, __LINE__);
    expect_absent(kv, "a", 1, __LINE__);
    EXPECT(kvstore_delete(kv, "alpha", 5), KVSTORE_OK);
    expect_absent(kv, "alpha", 5, __LINE__); /* get of a deleted key */
    EXPECT(kvstore_delete(kv, "alpha", 5), KVSTORE_NOT_FOUND);
    NO_ERROR();
    expect_absent(kv, "never written", 13, __LINE__);
    /* An empty value is a value, and *val is still a buffer. */
    EXPECT(kvstore_put(kv, "empty", 5, NULL, 0), KVSTORE_OK);
    expect_value(kv, "empty", 5, "", 0, __LINE__);
}

static void expect_page(kvstore *kv, const void *id, size_t id_len, uint64_t lsn,
                        uint64_t want_lsn, const void *want, size_t want_len, int line)
{
    uint64_t found = 0;
    void *page = NULL;
    size_t page_len = 0;
    int rc = kvstore_get_page(kv, id, id_len, lsn, &found, &page, &page_len);
    if (rc != KVSTORE_OK) fail(line, "kvstore_get_page", rc, KVSTORE_OK);
    if (found != want_lsn) fail(line, "found lsn", (long)found, (long)want_lsn);
    if (page == NULL || page_len != want_len) fail(line, "page length", (long)page_len, (long)want_len);
    if (memcmp(page, want, want_len) != 0) fail(line, "page bytes differ", 0, 1);
    kvstore_free(page);
}

static void expect_no_page(kvstore *kv, const void *id, size_t id_len, uint64_t lsn, int want, int line)
{
    uint64_t found = 9;
    void *page = &found;
    size_t page_len = 9;
    int rc = kvstore_get_page(kv, id, id_len, lsn, &found, &page, &page_len);
    if (rc != want) fail(line, "kvstore_get_page", rc, want);
    if (found != 0 || page != NULL || page_len != 0) fail(line, "outputs reset", 0, 1);
}

/* Pages "v:0".."v:2" at LSNs 100 and 150; vacuum at 150. */
static void test_pages(kvstore *kv)
{
    unsigned char a[8192], b[8192];
    uint64_t removed = 99;
    memset(a, 'a', sizeof a);
    memset(b, 'b', sizeof b);
    a[17] = 0;
    EXPECT(kvstore_put_page(kv, "v:\0", 3, 100, a, sizeof a), KVSTORE_OK);
    EXPECT(kvstore_put_page(kv, "v:\0", 3, 150, b, sizeof b), KVSTORE_OK);
    NO_ERROR();
    expect_page(kv, "v:\0", 3, 120, 100, a, sizeof a, __LINE__);
    expect_page(kv, "v:\0", 3, 150, 150, b, sizeof b, __LINE__);
    expect_page(kv, "v:\0", 3, UINT64_MAX, 150, b, sizeof b, __LINE__);
    expect_no_page(kv, "v:\0", 3, 99, KVSTORE_NOT_FOUND, __LINE__);
    NO_ERROR();
    expect_no_page(kv, "v:\1", 3, 120, KVSTORE_NOT_FOUND, __LINE__);
    /* Versions are immutable: the same bytes again are fine, others not. */
    EXPECT(kvstore_put_page(kv, "v:\0", 3, 100, a, sizeof a), KVSTORE_OK);
    EXPECT(kvstore_put_page(kv, "v:\0", 3, 100, b, sizeof b), KVSTORE_EINVAL);
    MENTIONS("immutable");
    /* Keys and pages are separate spaces. */
    expect_absent(kv, "v:\0", 3, __LINE__);

    EXPECT(kvstore_vacuum_pages(kv, 150, &removed), KVSTORE_OK);
    CHECK(removed == 1);
    expect_no_page(kv, "v:\0", 3, 120, KVSTORE_EVACUUMED, __LINE__);
    MENTIONS("vacuum");
    expect_page(kv, "v:\0", 3, 150, 150, b, sizeof b, __LINE__);
    EXPECT(kvstore_put_page(kv, "v:\2", 3, 120, a, sizeof a), KVSTORE_EINVAL);
    MENTIONS("horizon");
    EXPECT(kvstore_vacuum_pages(kv, 10, &removed), KVSTORE_OK); /* never moves back */
    CHECK(removed == 0);
    expect_no_page(kv, "v:\0", 3, 120, KVSTORE_EVACUUMED, __LINE__);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A store opened by a relative path stays where it was opened when the
   program changes directory; key limits too small for page keys (and
   refused page calls) do not reach the page store. */
static void test_relative_path_and_small_limits(void)
{
    char *cwd = getcwd(NULL, 0);
    CHECK(cwd != NULL);
    CHECK(chdir(g_dir) == 0);
    char *options = options_of("max_key_bytes=6;max_batch_bytes=8;max_value_bytes=8192");
    kvstore *kv = open_store("relative", options);
    unsigned char id[64], image[8192];
    memset(id, 'i', sizeof id);
    memset(image, 'm', sizeof image);
    /* One byte over each limit: a refused call's buffer still covers the
     * length it gives, as the header asks of every call. */
    unsigned char long_id[65], big_image[8193];
    memset(long_id, 'i', sizeof long_id);
    memset(big_image, 'm', sizeof big_image);
    /* Refused before the page store opens: no directory is made. */
    EXPECT(kvstore_put_page(kv, NULL, 0, 1, image, sizeof image), KVSTORE_EINVAL);
    EXPECT(kvstore_put_page(kv, long_id, sizeof long_id, 1, image, sizeof image), KVSTORE_EINVAL);
    EXPECT(kvstore_put_page(kv, id, 1, 1, big_image, sizeof big_image), KVSTORE_EINVAL);
    MENTIONS("8192");
    uint64_t found = 0;
    void *page = NULL;
    size_t page_len = 0;
    EXPECT(kvstore_get_page(kv, long_id, sizeof long_id, 1, &found, &page, &page_len),
           KVSTORE_EINVAL);
    CHECK(!is_dir("relative/pages"));

    CHECK(chdir("/") == 0);
    EXPECT(kvstore_put(kv, "seven b", 7, "v", 1), KVSTORE_EINVAL); /* keys keep the limit */
    MENTIONS("max_key_bytes");
    EXPECT(kvstore_put(kv, "six by", 6, "v", 1), KVSTORE_OK);
    EXPECT(kvstore_put_page(kv, id, sizeof id, 1, image, sizeof image), KVSTORE_OK);
    EXPECT(kvstore_put_page(kv, id, sizeof id, 2, image, sizeof image), KVSTORE_OK);
    uint64_t removed = 0;
    EXPECT(kvstore_vacuum_pages(kv, 2, &removed), KVSTORE_OK);
    CHECK(removed == 1);
    kvstore_destroy(kv);
    NO_ERROR();

    char *pages = path_of("relative/pages");
    CHECK(is_dir(pages));
    char *path = path_of("relative");
    kv = open_store(path, options);
    expect_value(kv, "six by", 6, "v", 1, __LINE__);
    expect_page(kv, id, sizeof id, 5, 2, image, sizeof image, __LINE__);
    expect_no_page(kv, id, sizeof id, 1, KVSTORE_EVACUUMED, __LINE__);
    kvstore_destroy(kv);
    NO_ERROR();
    CHECK(chdir(cwd) == 0);
    free(path);
    free(pages);
    free(options);
    free(cwd);
}

/* A page store that cannot open fails the page call that opened it, and
   the next page call tries again. */
static void test_page_store_open_is_retried(void)
{
    char *path = path_of("retry");
    char *options = options_of("");
    kvstore *kv = open_store(path, options);
    char *blocker = path_of("retry/pages");
    FILE *f = fopen(blocker, "w"); /* a file where its directory goes */
    CHECK(f != NULL);
    fclose(f);
    unsigned char image[64];
    memset(image, 'r', sizeof image);
    EXPECT(kvstore_put_page(kv, "p", 1, 1, image, sizeof image), KVSTORE_EIO);
    MENTIONS("cannot open the page store");
    CHECK(remove(blocker) == 0);
    EXPECT(kvstore_put_page(kv, "p", 1, 1, image, sizeof image), KVSTORE_OK);
    NO_ERROR();
    expect_page(kv, "p", 1, 1, 1, image, sizeof image, __LINE__);
    kvstore_destroy(kv);
    NO_ERROR();
    free(blocker);
    free(options);
    free(path);
}

/* ---- random operations against a model ---------------------------------- */

#define MODEL_KEYS 300
#define MODEL_PAGES 8
#define MODEL_VERSIONS 4096

typedef struct {
    unsigned char key[32];
    size_t key_len;
    unsigned char *val; /* NULL: absent */
    size_t val_len;
} model_entry;

typedef struct {
    model_entry keys[MODEL_KEYS];
    uint64_t lsns[MODEL_PAGES][MODEL_VERSIONS]; /* ascending */
    size_t versions[MODEL_PAGES];
} model;

static void page_id(unsigned page, unsigned char id[4])
{
    id[0] = 'p';
    id[1] = 0;
    id[2] = (unsigned char)page;
    id[3] = 0;
}

static void model_init(model *m, rng *r)
{
    memset(m, 0, sizeof *m);
    /* Key 0 is the empty key; the others start with their index (unique),
       then up to 30 NUL-rich random bytes. */
    for (unsigned i = 1; i < MODEL_KEYS; i++) {
        model_entry *e = &m->keys[i];
        e->key[0] = (unsigned char)(i >> 8);
        e->key[1] = (unsigned char)i;
        e->key_len = 2 + (size_t)(next(r) % 31);
        fill(r, e->key + 2, e->key_len - 2);
    }
}

static size_t random_value_len(rng *r)
{
    uint64_t x = next(r) % 100;
    if (x < 70) return (size_t)(next(r) % 200);
    if (x < 95) return 200 + (size_t)(next(r) % 9000);
    return (size_t)(next(r) % 40000);
}

static void model_verify(kvstore *kv, const model *m)
{
    for (unsigned i = 0; i < MODEL_KEYS; i++) {
        const model_entry *e = &m->keys[i];
        if (e->val) expect_value(kv, e->key, e->key_len, e->val, e->val_len, __LINE__);
        else expect_absent(kv, e->key, e->key_len, __LINE__);
    }
    unsigned char image[9000];
    for (unsigned p = 0; p < MODEL_PAGES; p++) {
        unsigned char id[4];
        page_id(p, id);
        for (size_t v = 0; v < m->versions[p]; v++) {
            size_t len = page_image(p, m->lsns[p][v], image);
            expect_page(kv, id, sizeof id, m->lsns[p][v], m->lsns[p][v], image, len, __LINE__);
        }
    }
}

static void model_step(kvstore *kv, model *m, rng *r)
{
    model_entry *e = &m->keys[next(r) % MODEL_KEYS];
    uint64_t op = next(r) % 100;
    if (op < 40) {
        size_t len = random_value_len(r);
        unsigned char *val = xmalloc(len);
        fill(r, val, len);
        EXPECT(kvstore_put(kv, e->key, e->key_len, val, len), KVSTORE_OK);
        free(e->val);
        e->val = val;
        e->val_len = len;
    } else if (op < 70) {
        if (e->val) expect_value(kv, e->key, e->key_len, e->val, e->val_len, __LINE__);
        else expect_absent(kv, e->key, e->key_len, __LINE__);
    } else if (op < 85) {
        EXPECT(kvstore_delete(kv, e->key, e->key_len), e->val ? KVSTORE_OK : KVSTORE_NOT_FOUND);
        free(e->val);
        e->val = NULL;
    } else if (op < 93) {
        unsigned p = (unsigned)(next(r) % MODEL_PAGES);
        size_t n = m->versions[p];
        if (n == MODEL_VERSIONS) return;
        /* LSNs from 1000 up, above the earlier vacuum horizon. */
        uint64_t lsn = (n ? m->lsns[p][n - 1] : 1000) + 1 + next(r) % 50;
        unsigned char id[4], image[9000];
        page_id(p, id);
        size_t len = page_image(p, lsn, image);
        EXPECT(kvstore_put_page(kv, id, sizeof id, lsn, image, len), KVSTORE_OK);
        m->lsns[p][n] = lsn;
        m->versions[p] = n + 1;
    } else {
        unsigned p = (unsigned)(next(r) % MODEL_PAGES);
        size_t n = m->versions[p];
        uint64_t lsn = 1000 + next(r) % (n ? m->lsns[p][n - 1] - 1000 + 100 : 100);
        unsigned char id[4], image[9000];
        page_id(p, id);
        size_t v = n;
        while (v > 0 && m->lsns[p][v - 1] > lsn) v--; /* the newest <= lsn */
        if (v == 0) {
            expect_no_page(kv, id, sizeof id, lsn, KVSTORE_NOT_FOUND, __LINE__);
        } else {
            size_t len = page_image(p, m->lsns[p][v - 1], image);
            expect_page(kv, id, sizeof id, lsn, m->lsns[p][v - 1], image, len, __LINE__);
        }
    }
}

/* ops random operations with a reopen every quarter; *kv is reopened. */
static void test_model(kvstore **kv, const char *path, const char *options, long ops, uint64_t seed)
{
    model *m = xmalloc(sizeof *m);
    rng r = seeded(seed);
    model_init(m, &r);
    for (long i = 1; i <= ops; i++) {
        model_step(*kv, m, &r);
        if (i % (ops / 4 + 1) == 0) {
            kvstore_destroy(*kv);
            NO_ERROR();
            *kv = open_store(path, options);
            model_verify(*kv, m);
        }
    }
    model_verify(*kv, m);
    kvstore_destroy(*kv);
    *kv = open_store(path, options); /* reopen: everything survives */
    model_verify(*kv, m);
    for (unsigned i = 0; i < MODEL_KEYS; i++) free(m->keys[i].val);
    free(m);
}

/* ---- durability=sync reopen ------------------------------------------- */

static void test_sync_reopen(void)
{
    char *path = path_of("sync");
    char *options = options_of("durability=sync;cache_mib=1");
    kvstore *kv = open_store(path, options);
    char key[32];
    for (int i = 0; i < 20; i++) {
        int len = snprintf(key, sizeof key, "sync-%d", i);
        EXPECT(kvstore_put(kv, key, (size_t)len, key, (size_t)len), KVSTORE_OK);
    }
    EXPECT(kvstore_put_page(kv, "page", 4, 7, "seven", 5), KVSTORE_OK);
    kvstore_destroy(kv);
    kv = open_store(path, options);
    for (int i = 0; i < 20; i++) {
        int len = snprintf(key, sizeof key, "sync-%d", i);
        expect_value(kv, key, (size_t)len, key, (size_t)len, __LINE__);
    }
    expect_page(kv, "page", 4, 9, 7, "seven", 5, __LINE__);
    kvstore_destroy(kv);
    free(options);
    free(path);
}

/* ---- a value damaged on disk ------------------------------------------ */

#define MARK 'Z'
#define MARK_RUN 4096

/* Flips one byte inside the first run of MARK_RUN marks in the file;
   whether it found one. */
static int damage_file(const char *file)
{
    FILE *f = fopen(file, "r+b");
    if (!f) return 0;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    unsigned char *data = xmalloc(size > 0 ? (size_t)size : 1);
    fseek(f, 0, SEEK_SET);
    int damaged = 0;
    if (size > 0 && fread(data, 1, (size_t)size, f) == (size_t)size) {
        long run = 0;
        for (long i = 0; i < size && !damaged; i++) {
            run = data[i] == MARK ? run + 1 : 0;
            if (run == MARK_RUN) {
                fseek(f, i - MARK_RUN / 2, SEEK_SET);
                damaged = fputc(MARK + 1, f) != EOF;
            }
        }
    }
    fclose(f);
    free(data);
    return damaged;
}

/* Damages every file of dir holding the marked value; how many. */
static int damage_dir(const char *dir)
{
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    int damaged = 0;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        if (entry->d_name[0] == '.') continue;
        size_t len = strlen(dir) + strlen(entry->d_name) + 2;
        char *file = xmalloc(len);
        snprintf(file, len, "%s/%s", dir, entry->d_name);
        damaged += damage_file(file);
        free(file);
    }
    closedir(d);
    return damaged;
}

/* A value whose bytes on disk were changed is KVSTORE_ECORRUPT, never
   other bytes; the rest of the store keeps working. */
static void test_corruption(void)
{
    char *path = path_of("corrupt");
    char *options = options_of("durability=none");
    kvstore *kv = open_store(path, options);
    unsigned char *value = xmalloc(20000);
    memset(value, MARK, 20000);
    EXPECT(kvstore_put(kv, "victim", 6, value, 20000), KVSTORE_OK);
    EXPECT(kvstore_put(kv, "bystander", 9, "fine", 4), KVSTORE_OK);
    kvstore_destroy(kv);
    NO_ERROR();
    if (damage_dir(path) == 0) {
        printf("kvstore_test: engine %s keeps no value bytes in files: ECORRUPT not checked\n",
               g_engine);
    } else if (strcmp(g_engine, "memory") == 0) {
        /* The memory engine reads every value at open: the damage is found
           there, and the store is refused rather than served without it. */
        CHECK(kvstore_init(path, options) == NULL);
        MENTIONS("corruption");
    } else {
        kv = open_store(path, options);
        void *val = NULL;
        size_t val_len = 0;
        EXPECT(kvstore_get(kv, "victim", 6, &val, &val_len), KVSTORE_ECORRUPT);
        MENTIONS("corruption");
        CHECK(val == NULL && val_len == 0);
        expect_value(kv, "bystander", 9, "fine", 4, __LINE__);
        kvstore_destroy(kv);
    }
    free(value);
    free(options);
    free(path);
}

/* ---- four threads, one handle ----------------------------------------- */

#define THREADS 4
#define SHARED_KEYS 64

typedef struct {
    kvstore *kv;
    int id;
    long ops;
    uint64_t seed;
    pthread_barrier_t *barrier;
} worker_args;

static size_t shared_key(int i, char *key) { return (size_t)sprintf(key, "shared-%d", i); }
static size_t shared_val(int i, char *val) { return (size_t)sprintf(val, "shared value %d", i * 7919); }

/* Thread t's key i, and its value: derived, so any thread can check it. */
static size_t own_key(int t, long i, unsigned char *key)
{
    int len = sprintf((char *)key, "t%d", t);
    key[len] = 0; /* a NUL inside the key */
    memcpy(key + len + 1, &i, sizeof i);
    return (size_t)len + 1 + sizeof i;
}

static size_t own_val(int t, long i, unsigned char *val)
{
    rng r = seeded(((uint64_t)t << 32) ^ (uint64_t)i);
    size_t len = (size_t)(next(&r) % 3000);
    fill(&r, val, len);
    return len;
}

static void check_shared_read(kvstore *kv, rng *r)
{
    char key[32], val[32];
    int i = (int)(next(r) % SHARED_KEYS);
    size_t key_len = shared_key(i, key);
    size_t val_len = shared_val(i, val);
    expect_value(kv, key, key_len, val, val_len, __LINE__);
}

static void check_own(kvstore *kv, int t, long i, int present)
{
    unsigned char key[32], val[3000];
    size_t key_len = own_key(t, i, key);
    if (!present) {
        expect_absent(kv, key, key_len, __LINE__);
        return;
    }
    size_t val_len = own_val(t, i, val);
    expect_value(kv, key, key_len, val, val_len, __LINE__);
}

static void *worker(void *raw)
{
    worker_args *a = raw;
    rng r = seeded(a->seed);
    unsigned char key[32], val[3000], page[16];
    char big[5000];

    /* The last error is per thread: each provokes its own, waits for the
       others to provoke theirs, then finds its own still there. */
    memset(big, 'k', sizeof big);
    EXPECT(kvstore_put(a->kv, big, 4100 + (size_t)a->id, "v", 1), KVSTORE_EINVAL);
    pthread_barrier_wait(a->barrier);
    char mine[32];
    sprintf(mine, "%d bytes", 4100 + a->id);
    MENTIONS(mine);

    /* All four make their first page call at once: the page store opens once. */
    int page_len = sprintf((char *)page, "thread %d", a->id);
    EXPECT(kvstore_put_page(a->kv, page, (size_t)page_len, 1, page, (size_t)page_len), KVSTORE_OK);

    for (long i = 0; i < a->ops; i++) {
        size_t key_len = own_key(a->id, i, key);
        size_t val_len = own_val(a->id, i, val);
        EXPECT(kvstore_put(a->kv, key, key_len, val, val_len), KVSTORE_OK);
        check_shared_read(a->kv, &r);
        if (i % 16 == 0) {
            EXPECT(kvstore_put_page(a->kv, page, (size_t)page_len, 2 + (uint64_t)i, val, val_len % 512),
                   KVSTORE_OK);
        }
    }
    for (long i = 0; i < a->ops; i++) check_own(a->kv, a->id, i, 1);
    for (long i = 1; i < a->ops; i += 2) {
        size_t key_len = own_key(a->id, i, key);
        EXPECT(kvstore_delete(a->kv, key, key_len), KVSTORE_OK);
        check_shared_read(a->kv, &r);
    }
    for (long i = 0; i < a->ops; i++) check_own(a->kv, a->id, i, i % 2 == 0);
    expect_page(a->kv, page, (size_t)page_len, 1, 1, page, (size_t)page_len, __LINE__);
    return NULL;
}

static void verify_threads(kvstore *kv, long ops)
{
    for (int t = 0; t < THREADS; t++)
        for (long i = 0; i < ops; i++) check_own(kv, t, i, i % 2 == 0);
}

static void test_threads(long ops, uint64_t seed)
{
    char *path = path_of("threads");
    char *options = options_of("durability=none;cache_mib=2");
    kvstore *kv = open_store(path, options);
    char key[32], val[32];
    for (int i = 0; i < SHARED_KEYS; i++) {
        size_t key_len = shared_key(i, key);
        size_t val_len = shared_val(i, val);
        EXPECT(kvstore_put(kv, key, key_len, val, val_len), KVSTORE_OK);
    }
    pthread_t threads[THREADS];
    worker_args args[THREADS];
    pthread_barrier_t barrier;
    CHECK(pthread_barrier_init(&barrier, NULL, THREADS) == 0);
    for (int t = 0; t < THREADS; t++) {
        args[t] = (worker_args){ kv, t, ops, seed + (uint64_t)t, &barrier };
        CHECK(pthread_create(&threads[t], NULL, worker, &args[t]) == 0);
    }
    for (int t = 0; t < THREADS; t++) CHECK(pthread_join(threads[t], NULL) == 0);
    pthread_barrier_destroy(&barrier);
    verify_threads(kv, ops);
    /* durability=none: what destroy's checkpoint wrote survives. */
    kvstore_destroy(kv);
    kv = open_store(path, options);
    verify_threads(kv, ops);
    kvstore_destroy(kv);
    free(options);
    free(path);
}

/* ---- main ------------------------------------------------------------- */

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s DIR ENGINE OPS SEED\n", argv[0]);
        return 2;
    }
    g_dir = argv[1];
    g_engine = argv[2];
    long ops = strtol(argv[3], NULL, 10);
    uint64_t seed = strtoull(argv[4], NULL, 10);
    printf("kvstore_test: engine %s, %ld ops, seed %llu\n", g_engine, ops,
           (unsigned long long)seed);
    CHECK(kvstore_last_error() != NULL);
    NO_ERROR();

    test_init_errors();

    char *path = path_of("main");
    char *options = options_of("durability=buffered;cache_mib=4;max_value_bytes=65536");
    kvstore *kv = open_store(path, options);
    test_null_arguments(kv);
    test_limits(kv);
    test_basics(kv);
    test_pages(kv);
    test_model(&kv, path, options, ops, seed);
    /* What the earlier parts wrote survived the reopens too. */
    unsigned char b[8192];
    memset(b, 'b', sizeof b);
    expect_value(kv, "a\0b", 3, "ab", 2, __LINE__);
    expect_page(kv, "v:\0", 3, 150, 150, b, sizeof b, __LINE__);
    expect_no_page(kv, "v:\0", 3, 120, KVSTORE_EVACUUMED, __LINE__);
    kvstore_destroy(kv);
    NO_ERROR();
    free(options);
    free(path);

    test_sync_reopen();
    test_relative_path_and_small_limits();
    test_page_store_open_is_retried();
    test_corruption();
    test_threads(ops / 2, seed);
    printf("kvstore_test: all checks passed\n");
    return 0;
}
