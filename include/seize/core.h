/*
 * seize/core.h — errors, allocation, containers, files, .npy arrays, JSON helpers, a thread
 * pool, cancellation and hashing.
 *
 * Every other module builds on these. Typical use:
 *
 *     seize_npy *a = NULL;
 *     if (seize_npy_load("feats.npy", &a) < 0) {
 *         fprintf(stderr, "error: %s\n", seize_errmsg());
 *         return 1;
 *     }
 *     float *x = seize_npy_f32(a);   // (a->shape[0], a->shape[1]), converted from <f2 if needed
 *     ...
 *     seize_npy_free(a);
 *
 * Conventions (see STYLE.md): fallible calls return 0 or a negative SEIZE_E* code and keep a
 * detail message per thread, worded like git's ("cannot open 'x.npy': No such file or
 * directory"). The library never prints to stdout and never exits.
 */
#ifndef SEIZE_CORE_H
#define SEIZE_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SEIZE_VERSION "0.1.0"

/* --- errors ------------------------------------------------------------------------------ */

enum {
    SEIZE_OK = 0,
    SEIZE_EIO = -1,       /* a file could not be opened, read or written */
    SEIZE_EFORMAT = -2,   /* input is malformed (bad header, bad JSON, corrupt image, ...) */
    SEIZE_ENOMEM = -3,    /* allocation failed or a size overflowed */
    SEIZE_EINVAL = -4,    /* invalid argument or unsupported option */
    SEIZE_ESHAPE = -5,    /* shapes disagree (tensor vs config, query dims vs index, ...) */
    SEIZE_ENET = -6,      /* network / server failure */
    SEIZE_ECANCEL = -7,   /* interrupted by the user */
    SEIZE_ENOTFOUND = -8, /* a named item does not exist */
    SEIZE_EBUSY = -9      /* another process holds the lock on a folder or file */
};

/* The detail message of the last failure on this thread. Never NULL; valid until the next
 * failing call on the same thread. */
const char *seize_errmsg(void);

/* Sets the detail message (printf-style) and returns `code`, so that callers can write
 * `return seize_error(SEIZE_EIO, "cannot open '%s': %s", path, strerror(errno));`. */
int seize_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prepends "prefix: " to the current detail message (adds context on the way up) and
 * returns `code`. */
int seize_error_prefix(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A short name for an error code ("I/O error", "bad format", ...). */
const char *seize_strerror(int code);

/* An assertion that stays on in release builds and reports file:line before aborting.
 * For invariants only: bad input must never reach one. */
#define SEIZE_ASSERT(cond)                                                                         \
    do {                                                                                           \
        if (!(cond)) seize_assert_fail(__FILE__, __LINE__, #cond);                                 \
    } while (0)
void seize_assert_fail(const char *file, int line, const char *expr) __attribute__((noreturn));

/* --- allocation -------------------------------------------------------------------------- */

/* malloc/calloc with overflow-checked n*size. Return NULL (and set the message) on failure.
 * seize_alloc_aligned returns 64-byte aligned memory; free it with free(). */
void *seize_malloc(size_t n, size_t size);
void *seize_calloc(size_t n, size_t size);
void *seize_realloc(void *p, size_t n, size_t size);
void *seize_alloc_aligned(size_t n, size_t size);
char *seize_strdup(const char *s);
/* A new heap string made by printf (never NULL for a good format: "" when empty); NULL with
 * SEIZE_ENOMEM (or SEIZE_EINVAL for a bad format) set. */
char *seize_str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Overflow-checked multiplication: 0 and *out set, or SEIZE_ENOMEM. */
int seize_mul_size(size_t a, size_t b, size_t *out);

/* --- containers: string map, string vector, byte buffer ---------------------------------- */

/* A string -> size_t hash map (open addressing, FNV-1a) with borrowed keys: the caller keeps the
 * strings alive and unchanged while they are in the map. Plain data owned by the caller
 * (`seize_strmap m = {0};` is an empty map that seize_strmap_get accepts); one writer at a time,
 * concurrent readers are fine. The fields are private. */
typedef struct seize_strmap {
    const char **keys;
    size_t *vals;
    size_t cap, n;
} seize_strmap;
/* Prepares an empty map sized for about `expect` keys. 0 or SEIZE_ENOMEM. */
int seize_strmap_init(seize_strmap *m, size_t expect);
/* Frees the map's arrays (not the keys) and zeroes it; accepts a zeroed map. */
void seize_strmap_free(seize_strmap *m);
/* Adds key -> val (the map grows as needed, also from a zeroed map). Returns 0 when added, 1 when
 * the key was already present (*old, when non-NULL, set to its value; the map unchanged), or
 * SEIZE_ENOMEM. */
int seize_strmap_put(seize_strmap *m, const char *key, size_t val, size_t *old);
/* 1 and *val (when non-NULL) when found, else 0. */
int seize_strmap_get(const seize_strmap *m, const char *key, size_t *val);
/* Number of keys. */
static inline size_t seize_strmap_count(const seize_strmap *m)
{
    return m->n;
}

/* A growable array of owned heap strings. `seize_strvec v = {0};` is empty; v.v[0..v.n) are
 * the strings. Every growth is overflow-checked and every allocation checked (SEIZE_ENOMEM with
 * the message set; the vector is unchanged on failure). */
typedef struct seize_strvec {
    char **v;
    size_t n, cap;
} seize_strvec;
/* Appends a copy of s. 0 or SEIZE_ENOMEM. */
int seize_strvec_push(seize_strvec *sv, const char *s);
/* Appends a copy of s[0..len) (NUL-terminated in the vector). 0 or SEIZE_ENOMEM. */
int seize_strvec_pushn(seize_strvec *sv, const char *s, size_t len);
/* Appends the heap string s and takes it over (freed also when the push fails). */
int seize_strvec_push_owned(seize_strvec *sv, char *s);
/* Hands the array over (*n gets the count; free it with seize_strv_free) and empties the vector.
 * An empty vector gives NULL. */
char **seize_strvec_release(seize_strvec *sv, size_t *n);
/* Frees the strings and the array, and zeroes the vector. */
void seize_strvec_free(seize_strvec *sv);
/* Frees n heap strings and the array holding them (accepts NULL). */
void seize_strv_free(char **v, size_t n);

/* A growable byte buffer, kept NUL-terminated once anything was added (data[len] == 0).
 * `seize_buf b = {0};` is empty (data NULL). Growth is overflow-checked; on failure the buffer
 * keeps its old contents and SEIZE_ENOMEM is returned. */
typedef struct seize_buf {
    char *data;
    size_t len, cap;
} seize_buf;
/* Makes room for `extra` more bytes (plus the NUL). 0 or SEIZE_ENOMEM. */
int seize_buf_reserve(seize_buf *b, size_t extra);
int seize_buf_append(seize_buf *b, const void *p, size_t n);
int seize_buf_puts(seize_buf *b, const char *s);
int seize_buf_printf(seize_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int seize_buf_vprintf(seize_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Hands the heap string over (never NULL after a successful add; NULL for an empty buffer)
 * and empties the buffer. */
char *seize_buf_release(seize_buf *b);
void seize_buf_free(seize_buf *b);

/* --- files ------------------------------------------------------------------------------- */

/* A read-only memory map of a whole file. An empty file maps to data == NULL, size == 0. */
typedef struct seize_map {
    const uint8_t *data;
    size_t size;
    char *path;
} seize_map;

int seize_map_open(const char *path, seize_map *out);
void seize_map_close(seize_map *m); /* accepts a zeroed map */

/* Reads a whole file into a NUL-terminated heap buffer (*out, caller frees); *len without NUL.
 * Only regular files are read (a FIFO, a device such as /dev/zero or a folder is refused
 * without blocking), and at most SEIZE_MAX_TEXT_FILE bytes (SEIZE_EFORMAT naming the file
 * and the limit otherwise). */
#define SEIZE_MAX_TEXT_FILE ((size_t)1 << 30)
int seize_read_file(const char *path, char **out, size_t *len);
/* The same with an explicit byte limit. */
int seize_read_file_max(const char *path, size_t max, char **out, size_t *len);

/* Opens `path` read-only (O_CLOEXEC) only if it is a regular file; never blocks on a FIFO.
 * Returns the descriptor, or a negative SEIZE_E* code with the message naming the file
 * ("cannot read 'x': not a regular file (a FIFO)"). *size gets the file size when non-NULL. */
int seize_open_regular(const char *path, size_t *size);

/* 1 if s[0..len) is well-formed UTF-8 (no overlongs, surrogates or code points past
 * U+10FFFF), else 0. */
int seize_utf8_valid(const char *s, size_t len);

/* Writes `len` bytes to `path` atomically: temp file in the same folder, fsync, rename. */
int seize_write_file_atomic(const char *path, const void *data, size_t len);

/* Streaming atomic write: open gives a FILE* on a temporary file beside `path`; commit flushes,
 * fsyncs, closes and renames it over `path`; abort closes and removes it. Open temporary files
 * are registered so that seize_tmp_unlink_all() can remove them from a signal handler. */
typedef struct seize_atomic {
    FILE *fp;
    char *path;
    char *tmp;
} seize_atomic;
int seize_atomic_open(const char *path, seize_atomic *out);
int seize_atomic_commit(seize_atomic *a);
void seize_atomic_abort(seize_atomic *a); /* accepts a zeroed or committed handle */

/* Removes every temporary file of an open seize_atomic (also those of npy writers) in this
 * process. Async-signal-safe: meant for SIGINT/SIGTERM handlers that then end the process.
 * Also usable for other temporary paths: register/unregister a heap path that stays valid
 * while registered (registration fails silently when the fixed table is full). */
void seize_tmp_unlink_all(void);
void seize_tmp_register(const char *path);
void seize_tmp_unregister(const char *path);

/* --- locks ------------------------------------------------------------------------------- */

/* An exclusive advisory lock (flock) on a lock file, taken without waiting. It is released by
 * seize_lock_release, or by the kernel when the process ends in any way (SIGKILL included), so
 * a stale lock never blocks a later run. The descriptor is close-on-exec: spawned children do
 * not hold it. The lock file keeps the holder's pid (for the message); seize_lock_release removes
 * it (a process that died leaves it behind, harmlessly: the next one locks it again). */
typedef struct seize_lock {
    int fd;
    char *path;
} seize_lock;
/* Locks `path` (created when missing). When another process holds it: SEIZE_EBUSY with the
 * message "<what> is in use by another seize process (pid N; lock 'path')". `what` names the
 * protected thing for the user, e.g. "index folder 'idx'". */
int seize_lock_file(const char *path, const char *what, seize_lock *out);
/* Locks the folder `dir` through `dir/.seize.lock` (the folder must exist). */
int seize_lock_dir(const char *dir, const char *what, seize_lock *out);
void seize_lock_release(seize_lock *l); /* accepts a zeroed lock and a released one */

/* mkdir -p. */
int seize_mkdirs(const char *path);
/* 1 if path exists (any type), 0 if not. */
int seize_path_exists(const char *path);
/* Joins a folder and a name with '/', heap string (NULL on allocation failure). */
char *seize_path_join(const char *dir, const char *name);

/* Reads a text file of lines (\n or \r\n; a last line without newline counts; no empty
 * trailing line). *lines is a heap array of heap strings; free with seize_lines_free. */
int seize_read_lines(const char *path, char ***lines, size_t *n_lines);
void seize_lines_free(char **lines, size_t n_lines);

/* --- .npy arrays ------------------------------------------------------------------------- */

/* Format: 6-byte magic "\x93NUMPY", major (1|2|3), minor, header length (u16 for v1, u32 for v2+),
 * ASCII dict {'descr': '<f4', 'fortran_order': False, 'shape': (a, b), } padded with spaces to a
 * multiple of 64 bytes and ended by '\n', then the C-order data. */
typedef enum { SEIZE_F32 = 0, SEIZE_F16 = 1, SEIZE_I32 = 2 } seize_dtype;

#define SEIZE_NPY_MAX_DIMS 8

typedef struct seize_npy {
    seize_dtype dtype;
    int ndim;
    size_t shape[SEIZE_NPY_MAX_DIMS];
    size_t count; /* product of shape */
    void *data;   /* count elements of dtype, heap owned */
} seize_npy;

/* Loads and validates a .npy file (<f4, <f2 or <i4; C order; size matches the shape). */
int seize_npy_load(const char *path, seize_npy **out);
/* Parses a .npy from memory (`name` is used in error messages). */
int seize_npy_parse(const void *buf, size_t len, const char *name, seize_npy **out);
/* Returns the data as float32: for F32 the array's own buffer; for F16 converts in place once
 * (the array becomes F32). NULL for I32. */
float *seize_npy_f32(seize_npy *a);
void seize_npy_free(seize_npy *a);

/* Writes an array atomically with a v1 header (v2 when the header needs it). */
int seize_npy_save(const char *path, seize_dtype dtype, int ndim, const size_t *shape,
                   const void *data);
/* Streaming writer for row-by-row output of a 2-D array whose row count is known up front. */
typedef struct seize_npy_writer seize_npy_writer;
int seize_npy_writer_open(const char *path, seize_dtype dtype, size_t rows, size_t cols,
                          seize_npy_writer **out);
int seize_npy_writer_rows(seize_npy_writer *w, const void *data, size_t n_rows);
int seize_npy_writer_close(seize_npy_writer *w); /* commits; error if fewer rows were written */
void seize_npy_writer_abort(seize_npy_writer *w);

/* IEEE half <-> float (round to nearest even), bfloat16 -> float. */
float seize_f16_to_f32(uint16_t h);
uint16_t seize_f32_to_f16(float f);
float seize_bf16_to_f32(uint16_t h);

/* --- JSON (jansson) ---------------------------------------------------------------------- */

/* Opaque jansson value; include <jansson.h> to use it. */
struct json_t;
/* Loads a JSON file; errors name the file, line and column. *out is a new reference. */
int seize_json_load(const char *path, struct json_t **out);
/* Parses a JSON text; `name` is used in error messages. */
int seize_json_parse(const char *text, size_t len, const char *name, struct json_t **out);
/* Reads a JSON Lines file (blank lines skipped) into a jansson array (*out, new reference);
 * errors name the file and line. */
int seize_jsonl_load(const char *path, struct json_t **out);
/* A name from a JSON string (copied) or integer (its decimal text) into the heap string *out.
 * 0, -1 when v is another type (no message set), or SEIZE_ENOMEM. */
int seize_json_name(const struct json_t *v, char **out);
/* A list of names from a JSON array whose elements are strings or integers: *out (free with
 * seize_strv_free) and *n. 0, -1 when v is not such an array, or SEIZE_ENOMEM. */
int seize_json_name_list(const struct json_t *v, char ***out, size_t *n);
/* Writes a JSON value atomically (see seize_write_file_atomic), followed by a newline.
 * `flags` are jansson's json_dumps flags (e.g. JSON_INDENT(2) | JSON_PRESERVE_ORDER). */
int seize_json_save(const char *path, const struct json_t *j, size_t flags);

/* --- threads: pool, BLAS -------------------------------------------------------------------- */

/* A fixed set of worker threads that run parallel-for loops. The calling thread takes part,
 * so a pool of n threads has n-1 workers. One loop at a time per pool; a pool is used by one
 * thread at a time (the one that owns it). This is the library's only thread pool: model
 * kernels, list encoders and search all run on one (each owner sizes its own). */
typedef struct seize_pool seize_pool;
typedef void (*seize_pool_fn)(void *ctx, size_t i, int thread);
int seize_pool_new(int n_threads, seize_pool **out);
/* Flags of seize_pool_new_ex. SEIZE_POOL_IDLE: the workers run at SCHED_IDLE priority (best
 * effort): background work (loading the next batch) that takes only cores left idle. */
#define SEIZE_POOL_IDLE 1
int seize_pool_new_ex(int n_threads, int flags, seize_pool **out);
/* Waits for a started loop (see seize_pool_start), stops the workers and frees; accepts NULL. */
void seize_pool_free(seize_pool *p);
int seize_pool_threads(const seize_pool *p);
/* Runs fn(ctx, i, thread) for i in [0, n); returns when all are done. thread in [0, threads). */
void seize_pool_for(seize_pool *p, size_t n, seize_pool_fn fn, void *ctx);
/* The same loop in two halves, for work that overlaps the caller's: start hands [0, n) to the
 * workers and returns at once; wait makes the caller take part (as thread 0) and returns when
 * every item is done. fn and ctx must stay valid until wait returns. A pool of one thread runs
 * the whole loop in wait. Every start needs its wait before the next start or for. */
void seize_pool_start(seize_pool *p, size_t n, seize_pool_fn fn, void *ctx);
void seize_pool_wait(seize_pool *p); /* no-op when nothing was started */

/* The BLAS thread policy, set once by the application (the library never changes it):
 * n = the threads one BLAS call may use. The CLIP backend calls BLAS from each thread of its own
 * pool when this is 1 (the fastest plan: set 1 before running a model, as the CLI does), and
 * makes one BLAS call per product, letting BLAS use its threads, when it is more. A search over
 * a large gallery is one big product: n = the cores suits it. n < 1 means the number of cores.
 * Not thread-safe against concurrent BLAS calls: set it before starting work. */
void seize_blas_threads_set(int n);
/* The threads one BLAS call may use now (OpenBLAS's own default until set: $OPENBLAS_NUM_THREADS
 * or the cores). */
int seize_blas_threads(void);
/* Number of online cores. */
int seize_cpu_count(void);

/* --- cancellation ------------------------------------------------------------------------- */

/* A cancellation token shared by whoever asks work to stop (often a signal handler) and the
 * long-running calls that honour it (seize_llm_batch_run, seize_clip_encode_image_list, ...).
 * Two levels: 1 = start nothing new and finish what is in flight (keeping its results); 2 = also
 * abandon the work in flight. `seize_cancel c = {0};` is a token with nothing requested; it is
 * plain data owned by the caller and must outlive the calls it is given to. The fields are
 * private: use the functions (lock-free atomics, visible across threads at once). */
typedef struct seize_cancel {
    int level, signal;
} seize_cancel;
/* Raises the level by one (at most 2) and records `sig` when it is the first request (0: not a
 * signal). Async-signal-safe and thread-safe: call it from a SIGINT/SIGTERM handler, so that a
 * first Ctrl-C stops gently and a second abandons. Returns the new level. */
int seize_cancel_request(seize_cancel *c, int sig);
/* Level 2 at once (abandon in-flight work). Async-signal-safe. */
void seize_cancel_abort(seize_cancel *c, int sig);
/* The level now: 0, 1 or 2 (0 for a NULL token). Async-signal-safe. */
int seize_cancel_level(const seize_cancel *c);
/* The signal given with the first request (0 when none, or not from a signal). */
int seize_cancel_signal(const seize_cancel *c);
/* 0, or SEIZE_ECANCEL with the message "interrupted" once a stop was requested: the check for
 * library loops (not async-signal-safe: it sets the message). NULL never cancels. */
int seize_cancel_check(const seize_cancel *c);
/* Back to nothing requested (for a token reused across runs; not while calls are using it). */
void seize_cancel_reset(seize_cancel *c);

/* --- numbers ----------------------------------------------------------------------------- */

/* Strict number parsing: the whole string (not empty, no trailing text) must be an integer in
 * [min, max], or a finite number. 0, or -1 (nothing written, no error message). */
int seize_parse_long(const char *s, long min, long max, long *out);
int seize_parse_double(const char *s, double *out);

/* --- time -------------------------------------------------------------------------------- */

/* Monotonic seconds. */
double seize_now(void);

/* --- hashing ---------------------------------------------------------------------------- */

/* SHA-256 (FIPS 180-4). Streaming use:
 *     seize_sha256 s; seize_sha256_init(&s); seize_sha256_update(&s, p, n); ...
 *     uint8_t d[32]; seize_sha256_final(&s, d);
 * A context is plain data owned by the caller; one thread per context. */
typedef struct seize_sha256 {
    uint32_t h[8];
    uint64_t n_bytes;
    uint8_t buf[64];
    size_t n_buf;
} seize_sha256;
void seize_sha256_init(seize_sha256 *s);
void seize_sha256_update(seize_sha256 *s, const void *data, size_t len);
/* Writes the 32-byte digest; the context must be re-initialised before reuse. */
void seize_sha256_final(seize_sha256 *s, uint8_t digest[32]);
/* Digest of one buffer. */
void seize_sha256_buffer(const void *data, size_t len, uint8_t digest[32]);
/* Digest of a whole file, read in 64 KiB pieces. SEIZE_EIO naming the file on failure. */
int seize_sha256_file(const char *path, uint8_t digest[32]);
/* Lower-case hex of a digest into hex[65] (NUL-terminated). */
void seize_sha256_hex(const uint8_t digest[32], char hex[65]);

#ifdef __cplusplus
}
#endif
#endif
